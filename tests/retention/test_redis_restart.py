"""Issue 12, requirement 3: the broker restarts while an erasure run, a re-consent campaign and the
reminder job are queued or running, and nothing is lost or done twice.

A private Redis (``redis-server`` on a free port, append-only file on, as ``docs/operations.md`` asks
of a broker) carries the tasks to a real worker process on the test database. The tasks are decided
through the services (so they pass the task outbox); once the erasure run has committed its first
chunks, Redis is shut down and started again on the same port and files. The worker reconnects and
every unit of work is found done exactly once: one erasure record per member, every re-consent
notice sent once, the reminder job's slot run once.

Runs in CI's PostgreSQL + Redis run (``celery_worker``; needs ``redis-server``, which the machine's
Redis provides).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django_celery_beat.models import PeriodicTask

from accounts.dispatch.models import OutboxTask, ScheduledRun
from config.celery import app
from consents.campaigns import policy_version_publish
from consents.models import PolicyVersion, ReconsentNotice
from retention.choices import RunStatus
from retention.erasure.records import subject_hash
from retention.models import ErasureRecord, ErasureRun
from retention.schedule import schedule_sync
from retention.services import erasure_run_approve, erasure_run_prepare
from tests.config.test_broker_down import _use_broker
from tests.factories import MemberFactory
from tests.retention.test_kill_worker import _database_url, _end_backends, _seed

MEMBERS = 150
BASE_DIR = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    def __init__(self, directory: Path):
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the restart test"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", "always", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the private redis-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            subprocess.run([shutil.which("redis-cli") or "redis-cli", "-p", str(self.port), "shutdown"],
                           capture_output=True, timeout=20, check=False)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _start_worker(redis_url: str, application_name: str, log: Path) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    env = {**os.environ, "DATABASE_URL": _database_url(application_name), "REDIS_URL": redis_url,
           "MEDIA_ROOT": str(settings.MEDIA_ROOT), "ERASURE_CHUNK_SIZE": "3", "RECONSENT_CHUNK_SIZE": "5",
           "EMAIL_URL": "dummymail://"}
    return subprocess.Popen(
        [str(celery), "-A", "config", "worker", "--pool=solo", "-n", f"{application_name}@%h",
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        cwd=BASE_DIR, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )


def _wait(condition, what: str, worker: subprocess.Popen, log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            pytest.fail(f"the worker exited while waiting for {what}:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_pp02_pp39_pp34_a_redis_restart_mid_run_loses_no_task_and_does_none_twice(
    tmp_path, supervisor, compliance_officer, django_capture_on_commit_callbacks
):
    assert connection.vendor == "postgresql", "the worker process shares the test database"
    redis = PrivateRedis(tmp_path)
    redis.start()
    original = app.conf.broker_url
    _use_broker(redis.url)
    application_name = f"restart-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    worker = None
    try:
        seeded = _seed(MEMBERS)
        MemberFactory.create_batch(12)  # active members: they get the re-consent notice
        run = erasure_run_prepare(member_ids=list(seeded), prepared_by=compliance_officer)
        version = PolicyVersion.objects.create(version="2031.1", text="Revised.", summary="Rights changed.",
                                               change_kinds=["rights"])
        schedule_sync()
        reminders = PeriodicTask.objects.get(task="requests_desk.send_request_reminders")
        # Queued before any worker listens: the approval, the publication and the reminder job.
        erasure_run_approve(run=run, approved_by=supervisor)
        policy_version_publish(version=version, user=compliance_officer)
        app.send_task(reminders.task, headers={"periodic_task_name": reminders.name})
        assert OutboxTask.objects.filter(sent_at__isnull=True).count() == 0  # all reached the broker
        notices = ReconsentNotice.objects.filter(policy_version=version).count()
        assert notices > 0

        worker = _start_worker(redis.url, application_name, log)
        _wait(lambda: ErasureRecord.objects.count() >= 3, "the first erasure chunk", worker, log)
        redis.stop()  # mid-run: the worker loses its broker
        erased_while_down = ErasureRecord.objects.count()
        time.sleep(1)
        redis.start()
        _use_broker(redis.url)

        _wait(lambda: ErasureRun.objects.get(pk=run.pk).status in (RunStatus.FINISHED,
                                                                  RunStatus.FINISHED_WITH_FAILURES),
              "the end of the erasure run", worker, log)
        _wait(lambda: not ReconsentNotice.objects.filter(policy_version=version, notified_at__isnull=True).exists(),
              "every re-consent notice", worker, log)
        _wait(lambda: ScheduledRun.objects.filter(job=reminders.task, outcome="finished").exists(),
              "the reminder job", worker, log)
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        _end_backends(application_name)
        redis.stop()
        _use_broker(original)

    assert 3 <= erased_while_down <= MEMBERS
    reconnected = "Connection to broker lost" in log.read_text() or "Trying to re-establish" in log.read_text()
    print(f"redis restart: {erased_while_down}/{MEMBERS} members erased when Redis stopped; worker log "
          f"{'shows' if reconnected else 'does not show'} a broker reconnect")
    assert reconnected, "the restart did not reach the worker: nothing was tested"
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED, run.status
    hashes = list(ErasureRecord.objects.values_list("subject_hash", flat=True))
    assert len(hashes) == len(set(hashes)) == MEMBERS  # each member erased once: 0 lost, 0 twice
    assert set(hashes) == {subject_hash(number) for number in seeded.values()}
    sent = ReconsentNotice.objects.filter(policy_version=version, notified_at__isnull=False).count()
    assert sent == notices
    assert ScheduledRun.objects.filter(job=reminders.task).exclude(outcome="duplicate").count() == 1
