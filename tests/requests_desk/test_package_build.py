"""Issue 15 requirement 4: the approval commits, the Celery worker builds the access package (PP-29).

The approval creates the package ``building`` and enqueues ``requests_desk.build_access_package``
after commit; the task claims it, writes it streamed with progress, marks it ready and sends the
requester's letter once; a crashed build is rerun and finishes; a failure is shown with a retry.
"""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.privacy.storage import protected_storage
from config.celery import app
from requests_desk import access_package, lifecycle, package_build, workflow
from requests_desk.choices import IntakeChannel, PackageStatus, RequesterKind, RequestType
from requests_desk.fulfilment.dispatcher import request_fulfil
from requests_desk.models import AccessPackage, IdentityCheck, Request
from requests_desk.states import Status
from tests.config.test_broker_down import _use_broker
from tests.factories import MemberFactory, TransactionRecordFactory
from tests.retention.test_kill_worker import _end_backends
from tests.retention.test_redis_restart import PrivateRedis, _start_worker, _wait

pytestmark = pytest.mark.django_db

ADDRESS = "requester@mail.example"


def awaiting_approval(agent, transactions: int = 3) -> Request:
    member = MemberFactory()
    TransactionRecordFactory.create_batch(transactions, member=member)
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL, member=member, requester_name="Han Meimei",
                                       requester_email=ADDRESS)
    workflow.transition(request=request, name="start", user=agent)
    IdentityCheck.objects.create(request=request, method="document_match", evidence="passport matched",
                                 verified_by=agent)
    workflow.transition(request=request, name="submit_for_approval", user=agent)
    return Request.objects.get(pk=request.pk)


def letters():
    return [m for m in mail.outbox if "has been completed" in m.subject]


def approve(request, user, capture, *, execute: bool):
    with capture(execute=execute) as callbacks:
        done = request_fulfil(request=request, user=user, note="Here is your copy.")
    return done, callbacks


def test_pp29_approval_returns_before_the_build_and_the_package_is_building(
        agent, compliance_officer, django_capture_on_commit_callbacks):
    """The approving request only records the decision and a ``building`` row; the build (and the
    letter) happen in the task sent after commit."""
    request = awaiting_approval(agent)
    done, callbacks = approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    assert done.status == Status.FULFILLED
    package = AccessPackage.objects.get(request=request)
    assert package.status == PackageStatus.BUILDING
    assert not package.file and package.token_hash is None and not letters()
    assert callbacks  # the outbox sends the build task after commit
    for callback in callbacks:
        callback()
    package.refresh_from_db()
    assert package.status == PackageStatus.READY and package.file and package.token_hash
    assert package.rows_done == package.rows_total > 0
    [letter] = letters()
    assert "/packages/" in letter.body and "Here is your copy." in letter.body


def test_pp29_the_task_makes_it_ready_and_sends_the_letter_once(agent, compliance_officer,
                                                                django_capture_on_commit_callbacks):
    """A second delivery of the task (acks_late redelivery, a manual rerun) finds it ready and does nothing."""
    request = awaiting_approval(agent)
    approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=True)
    package = AccessPackage.objects.get(request=request)
    assert package.status == PackageStatus.READY
    assert package_build.access_package_run(package.pk).outcome == "done"
    assert len(letters()) == 1
    link = next(line for line in letters()[0].body.splitlines() if "/packages/" in line).strip()
    assert access_package.package_for_token(link.rstrip("/").rsplit("/", 1)[-1]).pk == package.pk


def test_pp29_a_build_that_crashed_mid_way_is_rerun_and_finishes(agent, compliance_officer, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    """A worker killed mid-build leaves the row ``building`` with a heartbeat: a rerun while the
    heartbeat is fresh leaves it (another worker may hold it); once stale, a rerun rebuilds it."""
    request = awaiting_approval(agent, transactions=5)
    approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    package = AccessPackage.objects.get(request=request)
    real_write = access_package.package_write
    monkeypatch.setattr(access_package.records, "CHUNK_SIZE", 2)

    def killed(**kwargs):
        kwargs["on_rows"](2)
        raise KeyboardInterrupt  # as a SIGTERM'd / killed worker: not an error the build handles

    monkeypatch.setattr(access_package, "package_write", killed)
    started = timezone.now()
    with pytest.raises(KeyboardInterrupt):
        package_build.access_package_run(package.pk, now=started)
    package.refresh_from_db()
    assert package.status == PackageStatus.BUILDING and package.rows_done == 2 and not letters()
    monkeypatch.setattr(access_package, "package_write", real_write)
    assert package_build.access_package_run(package.pk, now=timezone.now()).outcome == "busy"
    later = timezone.now() + package_build.STALE + datetime.timedelta(seconds=1)
    assert package_build.access_package_run(package.pk, now=later).outcome == "ready"
    package.refresh_from_db()
    assert package.status == PackageStatus.READY and package.attempts == 2
    assert len(letters()) == 1


def test_pp29_a_failed_build_is_shown_on_the_page_with_the_step_and_retry_builds_it(
        agent, compliance_officer, client, monkeypatch, django_capture_on_commit_callbacks):
    """The error names the step and the exception's class, never its text (which may quote values)."""
    request = awaiting_approval(agent)
    real_write = access_package.package_write

    def broken(**kwargs):
        raise RuntimeError("value 13800000001 does not fit")

    monkeypatch.setattr(access_package, "package_write", broken)
    approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=True)
    package = AccessPackage.objects.get(request=request)
    assert package.status == PackageStatus.FAILED
    assert "writing the package failed (RuntimeError)" in package.error and "13800000001" not in package.error
    assert not letters()
    client.force_login(compliance_officer)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference])).content.decode()
    assert "Failed." in page and "writing the package failed (RuntimeError)" in page and "13800000001" not in page
    retry = reverse("requests_desk:package_retry", args=[request.reference, package.pk])
    assert retry in page
    monkeypatch.setattr(access_package, "package_write", real_write)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(retry)
    assert response.status_code == 302
    package.refresh_from_db()
    assert package.status == PackageStatus.READY and package.error == ""
    assert len(letters()) == 1


def test_pp29_the_request_page_shows_building_n_of_m_rows(agent, compliance_officer, client,
                                                          django_capture_on_commit_callbacks):
    """While the worker builds, the page says how far it got (the task updates the counters per chunk)."""
    request = awaiting_approval(agent)
    approve(request, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    AccessPackage.objects.filter(request=request).update(rows_done=2000, rows_total=10000)
    client.force_login(agent)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference])).content.decode()
    assert "Building: 2000 of 10000 rows (20%)" in page
    assert "package_retry" not in page and "Retry</button>" not in page  # nothing to retry, and agents may not


def test_pp29_progress_is_written_every_chunk_and_queries_do_not_grow_with_rows_between_chunks(
        agent, compliance_officer, monkeypatch, django_capture_on_commit_callbacks, django_assert_max_num_queries):
    """Progress lands in the row every ``CHUNK_SIZE`` rows (its own statement); the rest of the build's
    queries depend on the data map, not on the member's rows."""
    monkeypatch.setattr(access_package.records, "CHUNK_SIZE", 10)
    seen = []
    real_progress = package_build._progress

    def recording(pk):
        update = real_progress(pk)
        return lambda done: (seen.append(done), update(done))

    monkeypatch.setattr(package_build, "_progress", recording)
    small = awaiting_approval(agent, transactions=5)
    approve(small, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    big = awaiting_approval(agent, transactions=45)
    approve(big, compliance_officer, django_capture_on_commit_callbacks, execute=False)
    small_pk = AccessPackage.objects.get(request=small).pk
    big_pk = AccessPackage.objects.get(request=big).pk
    with django_assert_max_num_queries(200) as small_queries:
        package_build.access_package_run(small_pk)
    seen.clear()
    with django_assert_max_num_queries(200) as big_queries:
        package_build.access_package_run(big_pk)
    assert seen[:4] == [10, 20, 30, 40]
    chunks = len(seen)
    assert len(big_queries) - len(small_queries) <= chunks + 5  # one progress update per chunk (+ iterator fetches)
    assert protected_storage.exists(AccessPackage.objects.get(pk=big_pk).file.name)


@pytest.mark.celery_worker
@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_pp29_through_a_real_worker_the_approval_commits_and_the_worker_makes_the_package_ready(
        tmp_path, agent, compliance_officer):
    """The supervisor's approval returns with the package ``building``; a real Celery worker (its own
    process, on a private Redis) builds it, marks it ready and keeps the letter on the request."""
    assert connection.vendor == "postgresql", "the worker process shares the test database"
    redis = PrivateRedis(tmp_path)
    redis.start()
    original = app.conf.broker_url
    _use_broker(redis.url)
    application_name = "package-build-worker"
    log = tmp_path / "worker.log"
    worker = None
    try:
        request = awaiting_approval(agent, transactions=50)
        request_fulfil(request=request, user=compliance_officer, note="Here is your copy.")
        package = AccessPackage.objects.get(request=request)
        assert package.status == PackageStatus.BUILDING  # the approval did not wait for the build
        worker = _start_worker(redis.url, application_name, log)
        _wait(lambda: AccessPackage.objects.get(pk=package.pk).status != PackageStatus.BUILDING,
              "the package build", worker, log)
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            worker.wait(timeout=30)
        _end_backends(application_name)
        redis.stop()
        _use_broker(original)
    package.refresh_from_db()
    assert package.status == PackageStatus.READY, package.error
    assert package.rows_done == package.rows_total >= 50
    assert request.messages.filter(template="access_package").count() == 1
