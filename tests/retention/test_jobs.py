"""The scheduled jobs (issue 5, requirement 4): anonymise_cancelled (PP-33), expire_security_data
(PP-11), shutdown_service (PP-19); their tasks, commands, dry runs and query bounds."""

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import DeviceRecord, Member, ProductLine, TransactionRecord
from config.schedule import SCHEDULE
from retention import services, tasks
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import runner
from retention.erasure.records import was_erased
from retention.jobs.cancelled import anonymise_cancelled
from retention.jobs.legal_retention import expire_legal_retention
from retention.jobs.security_data import expire_security_data
from retention.jobs.shutdown import shutdown_service
from retention.models import ErasureRecord, ErasureRun, JobRun
from tests.clock import frozen
from tests.factories import DeviceRecordFactory, MemberFactory, TransactionRecordFactory
from tests.retention.snapshots import assert_unchanged, snapshot

pytestmark = pytest.mark.django_db



@pytest.fixture(autouse=True)
def clock():
    """The ages of rows ("cancelled 31 days ago") are counted from the instant the jobs read, not from
    when this module was imported: the clock stands at the test's start (tests/clock.py)."""
    with frozen() as traveller:
        yield traveller


def ago(days: int) -> datetime.datetime:
    return timezone.now() - datetime.timedelta(days=days)


def cancelled(days_ago: int, **kwargs) -> Member:
    member = MemberFactory(status=MemberStatus.CANCELLED, cancelled_at=ago(days_ago), **kwargs)
    DeviceRecordFactory(member=member)
    TransactionRecordFactory(member=member)
    return member


def intact(member: Member) -> bool:
    fresh = Member.objects.get(pk=member.pk)
    return (fresh.member_number, fresh.legal_name, fresh.email) == (member.member_number, member.legal_name,
                                                                    member.email)


@pytest.fixture
def grace(settings):
    settings.CANCELLATION_GRACE_DAYS = 30
    settings.SECURITY_DATA_RETENTION_DAYS = 180


# --- anonymise_cancelled (PP-33) ---------------------------------------------------------------------
def test_pp33_members_past_the_grace_period_are_erased_and_no_one_else(grace, compliance_officer):
    due = cancelled(31)
    recent = cancelled(29)
    held = cancelled(90)
    services.legal_hold_place(member=held, reason="Regulator inquiry 2026-17", owner=compliance_officer)
    active = MemberFactory()
    requested = MemberFactory(status=MemberStatus.CANCELLATION_REQUESTED, cancelled_at=ago(60))

    result = anonymise_cancelled()

    assert (result.selected, result.changed) == (2, 1)
    assert result.details["held"] == 1
    gone = Member.objects.get(pk=due.pk)
    assert gone.status == MemberStatus.CLOSED
    assert gone.member_number != due.member_number and gone.legal_name != due.legal_name and not gone.email
    assert was_erased(due.member_number)
    assert not DeviceRecord.objects.filter(member=due).exists()
    for untouched in (recent, held, active, requested):
        assert intact(untouched)
        assert not was_erased(untouched.member_number)
    record = ErasureRecord.objects.get()
    assert record.trigger == ErasureTrigger.CANCELLATION
    run = ErasureRun.objects.get()
    assert (run.trigger, run.status, run.prepared_by) == (ErasureTrigger.CANCELLATION, RunStatus.FINISHED, None)
    assert set(run.items.values_list("status", flat=True)) == {ItemStatus.ERASED, ItemStatus.HELD}
    job = JobRun.objects.get(job="anonymise_cancelled")
    assert (job.counts["erased"], job.counts["held"], job.counts["selected"]) == (1, 1, 2)
    assert job.finished_at is not None and job.error == ""


def test_pp33_a_rerun_erases_nothing_more_and_a_released_hold_lets_erasure_resume(grace, compliance_officer):
    held = cancelled(90)
    hold = services.legal_hold_place(member=held, reason="Regulator inquiry 2026-17", owner=compliance_officer)
    cancelled(45)
    assert anonymise_cancelled().changed == 1
    again = anonymise_cancelled()
    assert (again.selected, again.changed, again.details["held"]) == (1, 0, 1)
    assert ErasureRecord.objects.count() == 1

    services.legal_hold_release(hold=hold, released_by=compliance_officer, reason="Inquiry closed, no action")
    resumed = anonymise_cancelled()
    assert resumed.changed == 1
    assert was_erased(held.member_number)


def test_pp33_a_member_reinstated_after_selection_is_not_erased(grace, monkeypatch):
    member = cancelled(40)
    original = runner.erase_members

    def reinstate_then_erase(**kwargs):
        # Between the job's selection and the engine's lock, customer service reinstates the account.
        Member.objects.filter(pk=member.pk).update(status=MemberStatus.ACTIVE, cancelled_at=None)
        return original(**kwargs)

    monkeypatch.setattr(runner, "erase_members", reinstate_then_erase)
    result = anonymise_cancelled()
    assert (result.selected, result.changed, result.details["skipped"]) == (1, 0, 1)
    assert intact(member)


def test_pp33_dry_run_reports_and_changes_nothing(grace, compliance_officer):
    cancelled(31)
    services.legal_hold_place(member=cancelled(60), reason="Regulator inquiry 2026-17", owner=compliance_officer)
    before = snapshot()
    out = StringIO()
    call_command("anonymise_cancelled", "--dry-run", "--no-progress", stdout=out)
    assert_unchanged(before, snapshot())
    report = out.getvalue()
    assert "DRY RUN" in report
    assert "selected: 2" in report and "erased: 1" in report and "held: 1" in report
    assert "accounts.DeviceRecord" in report  # rows per model the engine would change


def test_pp33_command_erases_and_prints_counts(grace):
    cancelled(31)
    out = StringIO()
    call_command("anonymise_cancelled", "--no-progress", stdout=out)
    assert "erased: 1" in out.getvalue()
    assert ErasureRecord.objects.count() == 1


@pytest.mark.parametrize("count", [5, 50])
def test_pp33_job_queries_do_not_grow_with_members(grace, count, django_assert_max_num_queries):
    for _ in range(count):
        cancelled(40)
    # One chunk for both sizes: the engine's own per-chunk bound is asserted by its tests.
    with django_assert_max_num_queries(70):
        result = anonymise_cancelled(chunk_size=100)
    assert result.changed == count


def test_pp33_selection_and_bookkeeping_queries_are_constant(grace, monkeypatch):
    """Outside the engine the job costs the same few queries for 5 or 50 members."""
    calls = []

    def fake_engine(**kwargs):
        calls.append(len(kwargs["member_ids"]))
        return runner.EngineResult(erased=[], held=[], skipped=[], failed={}, counts={})

    monkeypatch.setattr(runner, "erase_members", fake_engine)
    for _ in range(5):
        cancelled(40)
    with CaptureQueriesContext(connection) as small:
        anonymise_cancelled()
    for _ in range(45):
        cancelled(40)
    with CaptureQueriesContext(connection) as large:
        anonymise_cancelled()
    assert calls == [5, 50]
    assert len(small.captured_queries) == len(large.captured_queries) <= 6


# --- expire_security_data (PP-11) --------------------------------------------------------------------
def test_pp11_old_device_records_are_deleted_in_chunks_except_under_hold(grace, compliance_officer):
    member, held = MemberFactory(), MemberFactory()
    old = [DeviceRecordFactory(member=member, seen_at=ago(181 + i)) for i in range(5)]
    recent = DeviceRecordFactory(member=member, seen_at=ago(179))
    held_old = DeviceRecordFactory(member=held, seen_at=ago(400))
    services.legal_hold_place(member=held, reason="Fraud investigation 2026-3", owner=compliance_officer)

    result = expire_security_data(chunk_size=2)

    assert result.changed == 5
    remaining = set(DeviceRecord.objects.values_list("pk", flat=True))
    assert remaining == {recent.pk, held_old.pk}
    assert not remaining & {d.pk for d in old}
    assert JobRun.objects.get(job="expire_security_data").counts["changed"] == 5
    assert expire_security_data().changed == 0  # idempotent
    assert intact(member)


def test_pp11_dry_run_changes_nothing(grace):
    DeviceRecordFactory(seen_at=ago(200))
    before = snapshot()
    out = StringIO()
    call_command("expire_security_data", "--dry-run", "--no-progress", stdout=out)
    assert_unchanged(before, snapshot())
    assert "selected: 1" in out.getvalue()


@pytest.mark.parametrize("count", [5, 50])
def test_pp11_expiry_queries_do_not_grow_with_rows(grace, count, django_assert_max_num_queries):
    member = MemberFactory()
    DeviceRecord.objects.bulk_create(
        DeviceRecord(member=member, device_id=f"d{i}", seen_at=ago(200)) for i in range(count)
    )
    # 6 for the device records, 8 for the three sign-in record tables (an id SELECT each, in a savepoint).
    with django_assert_max_num_queries(14):
        assert expire_security_data().changed == count


def test_pp11_staff_sign_in_records_expire_with_the_security_data(grace):
    """django-axes keeps each sign-in's e-mail, IP address and browser: deleted after the same retention."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    def sign_in(model, days_ago, **extra):
        row = model.objects.create(username="someone@staff.example", ip_address="203.0.113.9", user_agent="Firefox",
                                   http_accept="*/*", path_info="/admin/login/", **extra)
        model.objects.filter(pk=row.pk).update(attempt_time=ago(days_ago))  # attempt_time is auto_now_add
        return row

    old = [sign_in(AccessLog, 200), sign_in(AccessFailureLog, 181),
           sign_in(AccessAttempt, 365, get_data="", post_data="", failures_since_start=3)]
    recent = [sign_in(AccessLog, 10), sign_in(AccessFailureLog, 179)]

    assert expire_security_data(dry_run=True).details["sign_in_records"] == 3
    assert AccessLog.objects.count() + AccessFailureLog.objects.count() + AccessAttempt.objects.count() == 5

    result = expire_security_data(chunk_size=1)

    assert result.details["sign_in_records"] == 3
    left = {*AccessLog.objects.values_list("pk", flat=True), *AccessFailureLog.objects.values_list("pk", flat=True)}
    assert left == {r.pk for r in recent} and not AccessAttempt.objects.exists()
    assert all(not type(r).objects.filter(pk=r.pk).exists() for r in old)
    assert expire_security_data().details["sign_in_records"] == 0


# --- shutdown_service (PP-19) ------------------------------------------------------------------------
@pytest.fixture
def lines():
    legacy = ProductLine.objects.create(code="legacy", name="Legacy options")
    spot = ProductLine.objects.create(code="spot", name="Spot")
    only = MemberFactory()
    only.product_lines.set([legacy])
    TransactionRecordFactory(member=only)
    both = MemberFactory()
    both.product_lines.set([legacy, spot])
    other = MemberFactory()
    other.product_lines.set([spot])
    return {"legacy": legacy, "spot": spot, "only": only, "both": both, "other": other}


def test_pp19_shutdown_erases_members_of_that_line_only_and_unlinks_the_others(lines):
    result = shutdown_service(product_line="legacy")

    assert (result.selected, result.changed, result.details["members_unlinked"]) == (1, 1, 1)
    assert was_erased(lines["only"].member_number)
    both = Member.objects.get(pk=lines["both"].pk)
    assert intact(lines["both"]) and intact(lines["other"])
    assert list(both.product_lines.values_list("code", flat=True)) == ["spot"]
    assert ProductLine.objects.get(code="legacy").closed_on == timezone.localdate()
    record = ErasureRecord.objects.get()
    assert record.trigger == ErasureTrigger.SERVICE_SHUTDOWN
    run = ErasureRun.objects.get()
    assert (run.product_line, run.trigger) == ("legacy", ErasureTrigger.SERVICE_SHUTDOWN)
    assert JobRun.objects.get(job="shutdown_service").counts["product_line"] == "legacy"
    # Transaction records kept for legal retention, detached from the person.
    assert TransactionRecord.objects.filter(member_id=lines["only"].pk).exists()


def test_pp19_dry_run_reports_members_and_rows_per_model_and_changes_nothing(lines):
    before = snapshot()
    out = StringIO()
    call_command("shutdown_service", "legacy", "--dry-run", "--no-progress", stdout=out)
    assert_unchanged(before, snapshot())
    report = out.getvalue()
    assert "DRY RUN" in report
    assert "selected: 1" in report and "members_unlinked: 1" in report and "erased: 1" in report
    assert "accounts.Member:" in report


def test_pp19_the_command_shows_the_dry_run_first_and_needs_confirmation(lines, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "nope")
    before = snapshot()
    out = StringIO()
    with pytest.raises(CommandError, match="Not confirmed"):
        call_command("shutdown_service", "legacy", "--no-progress", stdout=out)
    assert "DRY RUN" in out.getvalue()
    assert_unchanged(before, snapshot())

    monkeypatch.setattr("builtins.input", lambda prompt: "legacy")
    out = StringIO()
    call_command("shutdown_service", "legacy", "--no-progress", stdout=out)
    assert out.getvalue().index("DRY RUN") < out.getvalue().index("erased: 1\n", out.getvalue().index("DRY RUN") + 1)
    assert was_erased(lines["only"].member_number)


def test_pp19_members_of_the_closed_line_are_told_once_before_their_data_goes(lines, mailoutbox):
    only_email, both_email = lines["only"].email, lines["both"].email
    assert shutdown_service(product_line="legacy", dry_run=True).details["members_notified"] == 2
    assert mailoutbox == []  # the dry run tells nobody

    result = shutdown_service(product_line="legacy")

    assert result.details["members_notified"] == 2
    by_recipient = {message.to[0]: message for message in mailoutbox}
    assert set(by_recipient) == {only_email, both_email}  # not the member of the other line only
    assert "Legacy options is closed" in by_recipient[only_email].subject
    assert "personal data is now deleted or anonymised" in by_recipient[only_email].body
    assert "your account stays open" in by_recipient[both_email].body
    assert lines["only"].legal_name not in by_recipient[only_email].body
    line = ProductLine.objects.get(code="legacy")
    assert line.closed_on is not None and line.members_notified_at is not None

    # A rerun (e.g. after a crash) tells nobody twice.
    assert shutdown_service(product_line="legacy").details["members_notified"] == 0
    assert len(mailoutbox) == 2


def test_pp19_unknown_product_line_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No product line"):
        call_command("shutdown_service", "nope", "--no-input")


# --- Tasks and schedule ------------------------------------------------------------------------------
def test_tasks_run_their_job_and_return_its_counts(grace):
    cancelled(40)
    DeviceRecordFactory(seen_at=ago(365))
    assert tasks.anonymise_cancelled.apply().get()["erased"] == 1
    assert tasks.expire_security_data.apply().get()["changed"] == 1
    assert tasks.purge_under_14.apply().get()["selected"] == 0
    assert tasks.send_review_reminders.apply().get()["changed"] == 0
    assert tasks.export_deidentified.apply().get()["dry_run"] is False
    assert set(JobRun.objects.values_list("job", flat=True)) == {
        "anonymise_cancelled", "expire_security_data", "purge_under_14", "send_review_reminders",
        "export_deidentified"}


def test_the_retention_jobs_are_on_the_beat_schedule():
    scheduled = {job.task for job in SCHEDULE}
    assert {"retention.anonymise_cancelled", "retention.purge_under_14", "retention.expire_security_data",
            "retention.send_review_reminders", "retention.expire_legal_retention"} <= scheduled


# --- expire_legal_retention (PP-13) ------------------------------------------------------------------
def test_pp13_retained_transactions_are_anonymised_by_the_job_once_retention_has_passed(grace):
    member = cancelled(40)
    anonymise_cancelled()
    kept = TransactionRecord.objects.filter(member=member)
    assert kept.count() == 1  # pseudonymised, kept for the legal retention period
    order_number = kept.get().order_number

    # Within retention: the job (and its dry run) select nobody; nothing changes.
    assert expire_legal_retention().selected == 0
    later = timezone.now() + datetime.timedelta(days=5 * 365 + 1)
    dry = expire_legal_retention(dry_run=True, now=later)
    assert (dry.selected, dry.changed) == (1, 0)
    assert TransactionRecord.objects.get(member=member).order_number == order_number

    result = expire_legal_retention(now=later)
    assert result.selected == 1 and result.changed >= 1
    assert result.details["rows"]["accounts.TransactionRecord"] == 1
    assert order_number not in [t.order_number for t in TransactionRecord.objects.filter(member=member)]
    # Idempotent: a rerun finds nothing more to do.
    assert expire_legal_retention(now=later).selected == 0
    assert JobRun.objects.filter(job="expire_legal_retention").count() == 3


def test_pp13_expire_legal_retention_command_reports_and_its_task_is_registered():
    out = StringIO()
    call_command("expire_legal_retention", "--dry-run", "--no-progress", stdout=out)
    assert "DRY RUN" in out.getvalue() and "selected: 0" in out.getvalue()
    assert tasks.expire_legal_retention.apply().get()["selected"] == 0
    from config.celery import app

    assert {"retention.erase_run", "retention.expire_legal_retention"} <= set(app.tasks)


def test_a_failing_job_records_its_error(grace, monkeypatch):
    cancelled(40)

    def broken(**kwargs):
        raise RuntimeError("engine unavailable")

    monkeypatch.setattr(runner, "erase_members", broken)
    with pytest.raises(RuntimeError):
        anonymise_cancelled()
    assert JobRun.objects.get().error == "RuntimeError: engine unavailable"
