"""Issue 4, requirement 3: the re-consent campaign of a major version (PP-39).

Chunked sending through Celery, exactly once per member even when a chunk task runs twice, and
progress counts computed without a query per member.
"""

import datetime
import logging
import threading
import time

import pytest
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from accounts.members.choices import MemberStatus
from consents import campaigns, tasks
from consents.campaigns import (
    campaign_progress,
    campaigns_resume,
    policy_version_publish,
    reconsent_chunk_send,
    reconsent_notice_accept,
    reconsent_notice_seen,
    with_campaign_counts,
)
from consents.choices import ChangeKind
from consents.models import PolicyVersion, ReconsentNotice
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


class FailingAfterTwoBackend(LocmemBackend):
    """Delivers two messages, then the mail server goes away."""

    def send_messages(self, messages):
        if len(mail.outbox) >= 2:
            raise ConnectionError("mail server went away")
        return super().send_messages(messages)


@pytest.fixture
def chunk_calls(monkeypatch):
    """Run the campaign's tasks inline (as the embedded default does) and record the chunks queued."""
    calls = []
    send_inline = tasks.send_reconsent_chunk.apply_async

    def apply_async(args=None, kwargs=None, **options):
        calls.append(tuple(args))
        return send_inline(args=args, kwargs=kwargs, **options)

    monkeypatch.setattr(tasks.send_reconsent_chunk, "apply_async", apply_async)
    return calls


def major_version(version="2025.2", kinds=(ChangeKind.RIGHTS,)) -> PolicyVersion:
    return PolicyVersion.objects.create(
        version=version, text="Revised policy.", summary="Your rights are exercised differently.",
        change_kinds=list(kinds),
    )


def publish(version, user, capture):
    with capture(execute=True):
        return policy_version_publish(version=version, user=user)


def test_pp39_notices_are_sent_in_chunks_of_the_configured_size(
    settings, compliance_officer, chunk_calls, django_capture_on_commit_callbacks
):
    settings.RECONSENT_CHUNK_SIZE = 3
    members = MemberFactory.create_batch(7)
    version = major_version()

    publish(version, compliance_officer, django_capture_on_commit_callbacks)

    assert len(chunk_calls) == 3  # 3 + 3 + 1
    assert all(call[0] == version.pk for call in chunk_calls)
    assert sorted(address for message in mail.outbox for address in message.to) == sorted(m.email for m in members)
    assert "2025.2" in mail.outbox[0].subject
    assert not ReconsentNotice.objects.filter(policy_version=version, notified_at__isnull=True).exists()


def test_pp39_a_chunk_task_run_twice_sends_each_notice_once(
    settings, compliance_officer, chunk_calls, django_capture_on_commit_callbacks
):
    settings.RECONSENT_CHUNK_SIZE = 4
    MemberFactory.create_batch(6)
    version = major_version()
    publish(version, compliance_officer, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 6
    notified = dict(ReconsentNotice.objects.values_list("pk", "notified_at"))

    # The broker delivers every chunk again (a re-delivery after a lost acknowledgement).
    for args in list(chunk_calls):
        result = tasks.send_reconsent_chunk.run(*args)
        assert result["sent"] == 0

    assert len(mail.outbox) == 6
    assert dict(ReconsentNotice.objects.values_list("pk", "notified_at")) == notified


def test_pp39_a_failed_chunk_keeps_what_it_sent_and_a_rerun_sends_only_the_rest(
    settings, compliance_officer, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(5)
    version = major_version()
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))

    settings.EMAIL_BACKEND = f"{__name__}.FailingAfterTwoBackend"
    with pytest.raises(ConnectionError):
        reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1])
    assert len(mail.outbox) == 2
    assert ReconsentNotice.objects.filter(notified_at__isnull=False).count() == 2

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    result = reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1])
    assert result.sent == 3
    assert len(mail.outbox) == 5
    assert len({m.to[0] for m in mail.outbox}) == 5  # nobody twice


def test_pp39_members_who_already_accepted_or_have_no_email_are_not_mailed(
    compliance_officer, django_capture_on_commit_callbacks
):
    accepted, plain = MemberFactory(), MemberFactory()
    MemberFactory(email="")
    version = major_version()
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer, notify=False)
    reconsent_notice_accept(version=version, member=accepted)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))

    result = reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1])

    assert (result.selected, result.sent, result.without_email) == (2, 1, 1)
    assert [m.to for m in mail.outbox] == [[plain.email]]


def test_pp39_email_addresses_are_never_logged(
    caplog, compliance_officer, chunk_calls, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.DEBUG)
    members = MemberFactory.create_batch(3)
    publish(major_version(), compliance_officer, django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 3
    for member in members:
        assert member.email not in caplog.text
        assert member.email.split("@")[0] not in caplog.text


def test_pp39_the_message_names_the_member_by_number_only(
    compliance_officer, chunk_calls, django_capture_on_commit_callbacks
):
    member = MemberFactory(legal_name="Zqxjk Canary")
    publish(major_version(), compliance_officer, django_capture_on_commit_callbacks)
    (message,) = mail.outbox
    assert member.member_number in message.body
    assert "Zqxjk" not in message.body
    assert "accept" in message.body


def test_pp39_publishing_queues_notices_in_constant_queries(compliance_officer, django_capture_on_commit_callbacks,
                                                           django_assert_max_num_queries):
    """Notices are inserted by the database: 5 or 60 members, same number of queries."""
    for count, version in ((5, "2025.3"), (60, "2025.4")):
        ReconsentNotice.objects.all().delete()
        MemberFactory.create_batch(count)
        draft = major_version(version)
        with django_assert_max_num_queries(12), django_capture_on_commit_callbacks(execute=False):
            result = policy_version_publish(version=draft, user=compliance_officer)
        assert result.notices_queued == campaigns.Member.objects.filter(status=MemberStatus.ACTIVE).count()


def test_pp39_a_chunk_is_sent_in_constant_queries(compliance_officer, django_capture_on_commit_callbacks,
                                                 django_assert_max_num_queries):
    MemberFactory.create_batch(40)
    version = major_version()
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))
    with django_assert_max_num_queries(6):
        result = reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1])
    assert result.sent == 40


def test_pp39_progress_counts_and_percentages(compliance_officer, django_capture_on_commit_callbacks,
                                             django_assert_num_queries):
    members = MemberFactory.create_batch(8)
    version = major_version()
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))
    reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[3])  # 4 notified
    for member in members[:3]:
        reconsent_notice_seen(version=version, member=member)
    reconsent_notice_accept(version=version, member=members[0])

    with django_assert_num_queries(1):
        progress = campaign_progress(version)
    assert (progress.queued, progress.notified, progress.seen, progress.accepted) == (8, 4, 3, 1)
    assert (progress.notified_percent, progress.seen_percent, progress.accepted_percent) == (50.0, 37.5, 12.5)

    with django_assert_num_queries(1):
        annotated = {v.pk: campaigns.CampaignProgress.of_annotated(v)
                     for v in with_campaign_counts(PolicyVersion.objects.all())}
    assert annotated[version.pk] == progress
    assert annotated[PolicyVersion.objects.get(version="2024.1").pk].queued == 0


def test_pp39_the_sweep_sends_campaigns_whose_sending_was_never_queued(
    compliance_officer, chunk_calls, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(3)
    version = major_version()
    policy_version_publish(version=version, user=compliance_officer, notify=False)
    assert mail.outbox == []

    soon = campaigns_resume(now=timezone.now())  # queued less than an hour ago: left alone
    assert soon.pending == 0 and chunk_calls == []

    later = timezone.now() + datetime.timedelta(hours=2)
    dry = campaigns_resume(now=later, dry_run=True)
    assert (dry.versions, dry.pending, dry.chunks) == (1, 3, 0)
    assert mail.outbox == []

    with django_capture_on_commit_callbacks(execute=True):  # chunk tasks leave the outbox after commit
        done = campaigns_resume(now=later)
    assert (done.versions, done.pending, done.chunks) == (1, 3, 1)
    assert len(mail.outbox) == 3
    assert campaigns_resume(now=later).pending == 0


def test_resume_command_reports_counts_and_honours_dry_run(compliance_officer):
    from io import StringIO

    MemberFactory.create_batch(2)
    version = major_version()
    policy_version_publish(version=version, user=compliance_officer, notify=False)
    ReconsentNotice.objects.update(queued_at=timezone.now() - datetime.timedelta(hours=3))
    out = StringIO()
    call_command("resume_reconsent_campaigns", "--dry-run", "--no-progress", stdout=out)
    assert "pending: 2" in out.getvalue() and "dry_run: True" in out.getvalue()
    assert mail.outbox == []


class SlowLocmemBackend(LocmemBackend):
    """A slow mail server: the first worker is still sending when the duplicate starts."""

    def send_messages(self, messages):
        time.sleep(0.05)
        return super().send_messages(messages)


@pytest.mark.postgresql  # SQLite has neither the trigger nor row locks; CI's PostgreSQL run executes it
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pp39_two_workers_running_the_same_chunk_at_once_send_each_notice_once(settings, compliance_officer):
    """A duplicated delivery running concurrently skips the rows the first worker has locked."""
    settings.EMAIL_BACKEND = f"{__name__}.SlowLocmemBackend"
    MemberFactory.create_batch(6)
    version = major_version()
    policy_version_publish(version=version, user=compliance_officer, notify=False)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))
    results, errors = [], []

    def worker():
        try:
            results.append(reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1]).sent)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == [0, 6]
    assert len(mail.outbox) == 6
    assert len({m.to[0] for m in mail.outbox}) == 6


def test_pp39_the_sweep_is_on_the_beat_schedule_and_its_tasks_are_registered():
    from config.celery import app
    from config.schedule import SCHEDULE

    app.loader.import_default_modules()
    jobs = {job.task for job in SCHEDULE}
    assert "consents.resume_reconsent_campaigns" in jobs
    for name in ("consents.resume_reconsent_campaigns", "consents.start_reconsent_campaign",
                 "consents.send_reconsent_chunk"):
        assert name in app.tasks, name


def test_pp39_issue16_each_member_gets_the_notice_in_their_language(
    compliance_officer, django_capture_on_commit_callbacks
):
    chinese, english = MemberFactory(preferred_language="zh-hans"), MemberFactory()
    version = major_version()
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer, notify=False)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))

    reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[-1])

    by_address = {m.to[0]: m for m in mail.outbox}
    assert by_address[chinese.email].subject == f"我们的隐私政策即将变更（版本 {version.version}）"
    assert f"尊敬的会员 {chinese.member_number}" in by_address[chinese.email].body
    assert by_address[english.email].subject == f"Our privacy policy is changing (version {version.version})"
