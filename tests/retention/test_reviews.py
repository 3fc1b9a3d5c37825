"""Processing reviews and impact assessments (PP-27) and their reminder digests."""

import datetime
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from accounts.staff import roles
from retention import reminders, services
from retention.choices import ReviewOutcome, RiskLevel
from retention.jobs.reviews import REVIEW_DIGEST_TEMPLATE, send_review_reminders
from retention.models import ImpactAssessment, JobRun, ProcessingReview
from tests.clock import frozen
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)


def days(n: int) -> datetime.date:
    return TODAY + datetime.timedelta(days=n)


def review(processing: str, *, next_due: datetime.date, reviewer, reviewed_on: datetime.date | None = None):
    return services.processing_review_record(
        processing=processing, reviewer=reviewer, reviewed_on=reviewed_on or days(-300),
        outcome=ReviewOutcome.COMPLIANT, next_due=next_due,
    )


def assessment(scope: str, *, next_due, assessor, assessed_on=None):
    return services.impact_assessment_record(
        scope=scope, risk_level=RiskLevel.MEDIUM, assessed_on=assessed_on or days(-300), assessor=assessor,
        next_due=next_due,
    )


@pytest.fixture
def staff(compliance_officer, supervisor, agent):
    second = StaffUserFactory(email="officer2@test.example")
    second.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    # In both compliance roles: still one digest.
    supervisor.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    StaffUserFactory(email="gone@test.example", is_active=False).groups.add(
        Group.objects.get(name=roles.COMPLIANCE_OFFICER)
    )
    return {"officer": compliance_officer, "officer2": second, "supervisor": supervisor, "agent": agent}


def test_pp27_a_review_records_who_reviewed_what_when_and_the_outcome(compliance_officer):
    done = review("Marketing SMS", next_due=days(300), reviewer=compliance_officer, reviewed_on=TODAY)
    assert (done.processing, done.reviewer, done.reviewed_on, done.next_due) == (
        "Marketing SMS", compliance_officer, TODAY, days(300))
    assert done.history.count() == 1


def test_pp27_the_next_review_must_fall_after_the_review(compliance_officer):
    with pytest.raises(ValidationError):
        review("Marketing SMS", next_due=TODAY, reviewer=compliance_officer, reviewed_on=TODAY)
    assert not ProcessingReview.objects.exists()


def test_pp27_an_assessment_registers_scope_risk_and_dates(compliance_officer):
    done = assessment("Card data flows", next_due=days(365), assessor=compliance_officer, assessed_on=TODAY)
    assert done.risk_level == RiskLevel.MEDIUM
    with pytest.raises(ValidationError):
        assessment("Card data flows", next_due=TODAY, assessor=compliance_officer, assessed_on=TODAY)


def test_pp27_each_compliance_user_gets_one_digest_of_what_falls_due(staff):
    officer = staff["officer"]
    review("Marketing SMS", next_due=days(7), reviewer=officer)
    review("Face verification", next_due=days(60), reviewer=officer)  # not yet
    review("Cookies", next_due=days(-3), reviewer=officer)  # overdue
    assessment("Trading platform", next_due=days(10), assessor=officer)
    assessment("Archive", next_due=None, assessor=officer)

    result = send_review_reminders(today=TODAY)

    recipients = sorted(message.to[0] for message in mail.outbox)
    assert recipients == ["officer2@test.example", "officer@test.example", "supervisor@test.example"]
    body = mail.outbox[0].body
    assert "Marketing SMS" in body and "Trading platform" in body and "Cookies" in body
    assert "(OVERDUE)" in body
    assert "Face verification" not in body and "Archive" not in body
    assert (result.selected, result.changed) == (3, 3)
    assert set(ProcessingReview.objects.filter(reminded_on=TODAY).values_list("processing", flat=True)) == {
        "Marketing SMS", "Cookies"}
    assert ImpactAssessment.objects.get(scope="Trading platform").reminded_on == TODAY
    assert JobRun.objects.get(job="send_review_reminders").counts["e-mails"] == 3


def test_pp27_a_rerun_the_same_day_sends_nothing_and_the_next_day_reminds_again(staff):
    review("Marketing SMS", next_due=days(7), reviewer=staff["officer"])
    send_review_reminders(today=TODAY)
    assert len(mail.outbox) == 3
    again = send_review_reminders(today=TODAY)
    assert again.changed == 0
    assert len(mail.outbox) == 3
    send_review_reminders(today=days(1))
    assert len(mail.outbox) == 6


def test_pp27_a_later_review_supersedes_the_one_falling_due(staff):
    officer = staff["officer"]
    review("Marketing SMS", next_due=days(5), reviewer=officer, reviewed_on=days(-360))
    review("Marketing SMS", next_due=days(360), reviewer=officer, reviewed_on=days(-1))
    assert send_review_reminders(today=TODAY).selected == 0
    assert mail.outbox == []


def test_pp27_a_failed_send_keeps_the_items_for_the_next_run(staff, monkeypatch):
    item = review("Marketing SMS", next_due=days(5), reviewer=staff["officer"])

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr(reminders, "send_digests", broken)
    with pytest.raises(ConnectionRefusedError):
        send_review_reminders(today=TODAY)
    item.refresh_from_db()
    assert item.reminded_on is None
    assert JobRun.objects.get(job="send_review_reminders").error.startswith("ConnectionRefusedError")
    monkeypatch.undo()
    assert send_review_reminders(today=TODAY).changed == 3


def test_pp27_changing_the_due_date_reminds_afresh(staff):
    item = review("Marketing SMS", next_due=days(5), reviewer=staff["officer"])
    send_review_reminders(today=TODAY)
    item.refresh_from_db()
    item.next_due = days(3)
    services.processing_review_save(review=item)
    assert item.reminded_on is None


def test_pp27_dry_run_sends_nothing_and_marks_nothing(staff):
    with frozen():  # the command reads today itself: the same day as the test's
        today = timezone.localdate()
        review("Marketing SMS", next_due=today + datetime.timedelta(days=5), reviewer=staff["officer"],
               reviewed_on=today - datetime.timedelta(days=300))
        out = StringIO()
        call_command("send_review_reminders", "--dry-run", stdout=out)
    assert mail.outbox == []
    assert not ProcessingReview.objects.filter(reminded_on__isnull=False).exists()
    assert not JobRun.objects.exists()
    assert "DRY RUN" in out.getvalue() and "selected: 1" in out.getvalue()


@pytest.mark.parametrize("count", [5, 50])
def test_pp27_reminders_run_a_constant_number_of_queries(staff, count, django_assert_max_num_queries):
    officer = staff["officer"]
    for i in range(count):
        review(f"Processing {i}", next_due=days(i % 10), reviewer=officer)
        assessment(f"Scope {i}", next_due=days(i % 10), assessor=officer)
    with django_assert_max_num_queries(9):
        result = send_review_reminders(today=TODAY)
    assert result.selected == 2 * count
    assert len(mail.outbox) == 3


def test_send_digests_skips_users_without_items_or_address(staff):
    item = reminders.DigestItem(label="Review #1: X", due=TODAY, path="/admin/x/", overdue=False)
    sent = reminders.send_digests(
        {staff["officer"]: [item], staff["officer2"]: []}, subject="Due", template=REVIEW_DIGEST_TEMPLATE,
        context={"today": TODAY, "days": 14},
    )
    assert sent == 1
    assert mail.outbox[0].to == ["officer@test.example"]
