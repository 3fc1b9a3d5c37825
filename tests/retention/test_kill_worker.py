"""The kill test (issue 5, requirement 5; design decision 5).

A real Celery worker (a separate process, on the Redis broker, against the test database) erases
300 members in chunks of 3. As soon as the first chunks have committed, the worker is killed with
SIGKILL. Every member must then be either untouched (all personal fields as seeded, all related rows
and files present) or fully erased (tombstone, no related rows, erasure record) - never anything in
between. A rerun finishes the job and leaves every member fully erased.

Runs in CI's PostgreSQL + Redis run (``celery_worker`` marker; deselected without ``REDIS_URL``).
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import DeviceRecord, IdentityDocument, Member, TransactionRecord
from accounts.privacy.storage import protected_storage
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure.records import subject_hash
from retention.erasure.tasks import erase_run, erase_run_now
from retention.erasure.tombstones import is_tombstone_number
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem
from tests.retention.erasure_seed import consent_refs, consents_model

MEMBERS = 300
CHUNK = 3
DEVICES = 3
TRANSACTIONS = 3
HEX_TOKEN = re.compile(r"^[0-9a-f]{32}$")
BASE_DIR = Path(settings.BASE_DIR)


def _seed(total: int) -> dict[int, str]:
    """Members with devices, transactions, a document with a file and a consent event; bulk inserts."""
    now = timezone.now()
    members = Member.objects.bulk_create(
        Member(member_number=f"K{i:09d}", status=MemberStatus.CANCELLED, cancelled_at=now - datetime.timedelta(days=40),
               nationality="CN", legal_name=f"Kill Name {i}", local_name=f"Kill Local {i}",
               date_of_birth=datetime.date(1980, 1, 1 + i % 28), birth_year=1980, email=f"kill{i}@mail.example",
               phone=f"+86 139 {i:08d}")
        for i in range(total)
    )
    members = list(Member.objects.filter(member_number__startswith="K").order_by("pk"))
    DeviceRecord.objects.bulk_create(
        DeviceRecord(member=m, device_id=f"kill-dev-{m.pk}-{d}", browser="Firefox", region="Shanghai",
                     location="31.2,121.4") for m in members for d in range(DEVICES)
    )
    TransactionRecord.objects.bulk_create(
        TransactionRecord(member=m, order_number=f"KORD-{m.pk}-{t}", order_time=now, counterparty_nickname=f"kp-{m.pk}",
                          asset_type="BTC", quantity=Decimal("1"), amount=Decimal("10")) for m in members
        for t in range(TRANSACTIONS)
    )
    docs = []
    for m in members:
        name = protected_storage.save(f"documents/kill-{uuid.uuid4().hex}.bin", ContentFile(b"kill test image"))
        docs.append(IdentityDocument(member=m, kind="passport", issuing_country="CN", number=f"E{m.pk:08d}", file=name))
    IdentityDocument.objects.bulk_create(docs)
    purpose, version = consent_refs()
    consents_model("ConsentEvent").objects.bulk_create(
        consents_model("ConsentEvent")(member=m, purpose=purpose, action="grant", policy_version=version,
                                       channel="web", evidence=f"kill evidence {m.pk}", actor_kind="member")
        for m in members
    )
    return {m.pk: m.member_number for m in members}


def _states(seeded: dict[int, str]) -> Counter:
    """Classify every seeded member as 'untouched', 'erased' or 'partial' with a few bulk queries."""
    def per_member(queryset) -> Counter:
        return Counter(queryset.values_list("member_id", flat=True))

    devices = per_member(DeviceRecord.objects.all())
    docs = {d.member_id: d.file.name for d in IdentityDocument.objects.all()}
    events = per_member(consents_model("ConsentEvent").objects.all())
    txns = TransactionRecord.objects.all()
    plain_txns = Counter(t.member_id for t in txns if t.counterparty_nickname.startswith("kp-"))
    all_txns = per_member(TransactionRecord.objects.all())
    records = set(ErasureRecord.objects.values_list("subject_hash", flat=True))
    states: Counter = Counter()
    partial = []
    for member in Member.objects.filter(pk__in=list(seeded)):
        number = seeded[member.pk]
        untouched = (
            member.member_number == number and member.email == f"kill{number[1:].lstrip('0') or '0'}@mail.example"
            and member.legal_name.startswith("Kill Name") and member.date_of_birth is not None
            and devices[member.pk] == DEVICES and plain_txns[member.pk] == TRANSACTIONS and events[member.pk] == 1
            and member.pk in docs and protected_storage.exists(docs[member.pk])
            and subject_hash(number) not in records
        )
        erased = (
            is_tombstone_number(member.member_number) and member.status == MemberStatus.CLOSED
            and HEX_TOKEN.match(member.legal_name) and member.email == "" and member.date_of_birth is None
            and devices[member.pk] == 0 and plain_txns[member.pk] == 0 and all_txns[member.pk] == TRANSACTIONS
            and events[member.pk] == 0 and member.pk not in docs
            and subject_hash(number) in records
        )
        if untouched:
            states["untouched"] += 1
        elif erased:
            states["erased"] += 1
        else:
            states["partial"] += 1
            partial.append(number)
    assert partial == [], f"partially erased members: {partial[:10]}"
    return states


def _database_url(application_name: str) -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"])
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{db['NAME']}?application_name={application_name}"


def _start_worker(queue: str, application_name: str, log: Path) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(application_name),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    handle = log.open("wb")
    return subprocess.Popen(
        [str(celery), "-A", "config", "worker", "--pool=solo", "-Q", queue, "-I", "retention.erasure.tasks",
         "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "warning"],
        cwd=BASE_DIR, env=env, stdout=handle, stderr=subprocess.STDOUT,
    )


def _end_backends(application_name: str, timeout: float = 20) -> None:
    """The killed worker's database sessions go (its open chunk rolls back, its row locks are freed)."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                [application_name],
            )
            if not cursor.fetchall():
                return
            time.sleep(0.2)
    raise AssertionError("the killed worker's database session did not end")


def _forget_queue(queue: str) -> None:
    """Drop the broker's copy of the unacknowledged task (it would be re-delivered to nobody)."""
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(queue, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")
    for tag, payload in client.hgetall("unacked").items():
        if queue.encode() in payload:
            client.hdel("unacked", tag)
            client.zrem("unacked_index", tag)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_pp02_killed_worker_leaves_members_untouched_or_fully_erased_and_a_rerun_finishes(tmp_path):
    assert connection.vendor == "postgresql", "the kill test shares its database with a worker process"
    assert settings.REDIS_URL, "the kill test needs the Redis broker"
    seeded = _seed(MEMBERS)
    run = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.APPROVED)
    ErasureRunItem.objects.bulk_create(
        ErasureRunItem(run=run, member_id=pk, member_number=number) for pk, number in seeded.items()
    )
    queue = f"killtest-{uuid.uuid4().hex[:10]}"
    application_name = queue
    log = tmp_path / "worker.log"
    worker = _start_worker(queue, application_name, log)
    try:
        erase_run.apply_async(args=[run.pk], kwargs={"chunk_size": CHUNK}, queue=queue)
        deadline = time.monotonic() + 120
        while ErasureRecord.objects.count() == 0:
            if worker.poll() is not None:
                pytest.fail(f"the worker exited early:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"no chunk committed within 120 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=30)
        _end_backends(application_name)
        _forget_queue(queue)

    states = _states(seeded)
    assert states["partial"] == 0
    assert 0 < states["erased"] < MEMBERS, f"the kill did not land mid-run: {dict(states)}"
    assert states["erased"] + states["untouched"] == MEMBERS

    # The rerun (here inline; a re-delivered task would do the same) finishes exactly the rest.
    outcome = erase_run_now(run.pk, chunk_size=50)
    assert outcome["erased"] == states["untouched"] and outcome["failed"] == 0
    assert _states(seeded) == Counter({"erased": MEMBERS})
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    assert set(ErasureRunItem.objects.filter(run=run).values_list("status", flat=True)) == {ItemStatus.ERASED}
    assert ErasureRecord.objects.count() == MEMBERS
