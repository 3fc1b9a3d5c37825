"""Deadline reminders and escalations (issue 6, requirement 6; PP-34): one digest per staff user per run,
each reminder exactly once — doubled runs, concurrent runs, a crash between claiming and sending."""

import datetime
import threading
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.staff import roles
from config.schedule import SCHEDULE
from requests_desk import lifecycle, reminders
from requests_desk.choices import IntakeChannel, ReminderKind, RequesterKind, RequestType
from requests_desk.models import ReminderLog, Request
from requests_desk.tasks import send_request_reminders as reminder_task
from retention.models import JobRun
from tests.factories import StaffUserFactory


def due_in(days: float, *, assignee=None, type_=RequestType.ACCESS) -> Request:
    """An open request due ``days`` from now (negative: overdue)."""
    received = timezone.now() - datetime.timedelta(days=15 - days)
    request = lifecycle.request_create(type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
                                       received_at=received, requester_name="Private Person",
                                       requester_email="private.person@mail.example")
    if assignee is not None:
        request = lifecycle.request_assign(request=request, assignee=assignee, user=assignee)
    return request


def digests_to(user) -> list[str]:
    return [m.body for m in mail.outbox if m.to == [user.email]]


def staff(role: str, email: str, **kwargs):
    user = StaffUserFactory(email=email, **kwargs)
    user.groups.add(Group.objects.get(name=role))
    return user


@pytest.mark.django_db
def test_pp34_assignee_gets_one_digest_of_requests_due_soon(agent, settings):
    settings.REQUEST_REMINDER_DAYS = [5, 2, 0]
    tomorrow = due_in(1, assignee=agent)
    in_four = due_in(4, assignee=agent)
    far = due_in(10, assignee=agent)
    unassigned = due_in(1)
    result = reminders.send_request_reminders()
    assert (result.claimed[ReminderKind.BEFORE_DUE], result.sent, result.emails) == (2, 2, 1)
    [body] = digests_to(agent)
    assert tomorrow.reference in body and in_four.reference in body
    assert far.reference not in body and unassigned.reference not in body
    assert f"/desk/r/{tomorrow.reference}/" in body
    assert set(ReminderLog.objects.values_list("request", "days_before")) == {(tomorrow.pk, 2), (in_four.pk, 5)}
    assert not ReminderLog.objects.filter(sent_at__isnull=True).exists()
    # No personal data in the digest: references and types only.
    assert "Private Person" not in body and "private.person" not in body


@pytest.mark.django_db
def test_pp34_a_doubled_run_sends_each_reminder_once(agent, supervisor):
    due_in(1, assignee=agent)
    due_in(-1, assignee=agent)
    first = reminders.send_request_reminders()
    second = reminders.send_request_reminders()
    assert (first.sent, first.emails) == (2, 2)
    assert (second.claimed, second.sent, second.emails) == ({"before_due": 0, "overdue": 0}, 0, 0)
    assert len(mail.outbox) == 2
    assert ReminderLog.objects.count() == 2


@pytest.mark.django_db
def test_pp34_each_threshold_is_reminded_once_as_the_due_date_approaches(agent, supervisor, settings):
    settings.REQUEST_REMINDER_DAYS = [5, 2, 0]
    # Fixed local times, so the calendar-day buckets do not depend on when the suite runs.
    now = timezone.make_aware(datetime.datetime.combine(timezone.localdate(), datetime.time(10)))
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, received_at=now - datetime.timedelta(days=10.5))
    request = lifecycle.request_assign(request=request, assignee=agent, user=agent)  # due on day 4 at 22:00
    reminders.send_request_reminders(now=now)  # 5-day reminder
    reminders.send_request_reminders(now=now + datetime.timedelta(days=1))  # still the 5-day bucket: nothing
    reminders.send_request_reminders(now=now + datetime.timedelta(days=3))  # 2-day reminder
    reminders.send_request_reminders(now=now + datetime.timedelta(days=4, hours=1))  # due today: 0-day reminder
    reminders.send_request_reminders(now=now + datetime.timedelta(days=5))  # overdue: escalated
    reminders.send_request_reminders(now=now + datetime.timedelta(days=6))  # escalated once only
    kinds = list(ReminderLog.objects.order_by("created_at").values_list("staff_user", "kind", "days_before"))
    assert kinds == [(agent.pk, "before_due", 5), (agent.pk, "before_due", 2), (agent.pk, "before_due", 0),
                     (supervisor.pk, "overdue", 0)]
    assert len(digests_to(agent)) == 3 and len(digests_to(supervisor)) == 1
    assert request.reference in digests_to(supervisor)[0] and "OVERDUE" in digests_to(supervisor)[0]


@pytest.mark.django_db
def test_pp34_overdue_requests_are_escalated_to_every_active_supervisor(agent, supervisor):
    other = staff(roles.SUPERVISOR, "supervisor2@test.example")
    staff(roles.SUPERVISOR, "gone@test.example", is_active=False)
    late = [due_in(-2, assignee=agent), due_in(-1)]
    result = reminders.send_request_reminders()
    assert result.claimed[ReminderKind.OVERDUE] == 4
    for user in (supervisor, other):
        [body] = digests_to(user)
        assert all(r.reference in body for r in late)
        assert "unassigned" in body
    assert len(mail.outbox) == 2  # the inactive supervisor gets nothing; the assignee no overdue mail
    assert digests_to(agent) == []


@pytest.mark.django_db
def test_a_supervisor_with_own_requests_gets_one_combined_digest(supervisor):
    due_in(1, assignee=supervisor)
    due_in(-1)
    result = reminders.send_request_reminders()
    assert result.emails == 1
    [body] = digests_to(supervisor)
    assert "OVERDUE" in body and "Due soon" in body


@pytest.mark.django_db
def test_a_long_digest_lists_the_most_urgent_and_counts_the_rest(supervisor, agent, monkeypatch):
    monkeypatch.setattr(reminders, "DIGEST_MAX_ITEMS", 2)
    late = [due_in(-3), due_in(-2), due_in(-1)]
    due_in(1, assignee=supervisor)
    result = reminders.send_request_reminders()
    assert result.sent == 4
    [body] = digests_to(supervisor)
    assert late[0].reference in body and late[1].reference in body and late[2].reference not in body
    assert "… and 1 more overdue requests: see the queue" in body and "/desk/?overdue=on" in body
    assert body.index("more overdue") < body.index("Due soon")
    assert not ReminderLog.objects.filter(sent_at__isnull=True).exists()


@pytest.mark.django_db
def test_pp34_a_crash_between_claim_and_send_is_sent_by_the_next_run(agent, monkeypatch):
    request = due_in(1, assignee=agent)

    def crash(now, *, step):
        raise SystemExit("worker killed")

    monkeypatch.setattr(reminders, "_send", crash)
    with pytest.raises(SystemExit):
        reminders.send_request_reminders()
    assert ReminderLog.objects.filter(request=request, sent_at__isnull=True).count() == 1
    assert mail.outbox == []
    monkeypatch.undo()
    result = reminders.send_request_reminders()
    assert (result.claimed[ReminderKind.BEFORE_DUE], result.sent) == (0, 1)
    assert len(digests_to(agent)) == 1
    assert reminders.send_request_reminders().sent == 0


@pytest.mark.django_db
def test_pp34_a_mail_failure_leaves_the_reminders_unsent_for_the_next_run(agent, monkeypatch):
    due_in(1, assignee=agent)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("retention.reminders.send_digests", down)
    with pytest.raises(ConnectionRefusedError):
        reminders.send_request_reminders()
    assert ReminderLog.objects.get().sent_at is None
    monkeypatch.undo()
    assert reminders.send_request_reminders().sent == 1
    assert ReminderLog.objects.get().sent_at is not None


@pytest.mark.django_db
def test_pp34_an_extension_or_a_new_assignee_opens_new_reminders(agent, compliance_officer):
    request = due_in(1, assignee=agent)
    reminders.send_request_reminders()
    lifecycle.request_extend(request=request, user=compliance_officer, due_at=request.due_at + datetime.timedelta(
        hours=1), reason="archive search", notify=False)
    lifecycle.request_assign(request=request, assignee=compliance_officer, user=compliance_officer)
    reminders.send_request_reminders()
    assert len(digests_to(agent)) == 1
    assert len(digests_to(compliance_officer)) == 1


@pytest.mark.django_db
def test_closed_requests_are_not_reminded(agent, supervisor):
    from requests_desk import workflow

    request = due_in(-1, assignee=agent)
    workflow.transition(request=request, name="close_duplicate", user=agent, note="duplicate")
    assert reminders.send_request_reminders().sent == 0


@pytest.mark.django_db
def test_dry_run_counts_and_changes_nothing(agent, supervisor):
    due_in(1, assignee=agent)
    due_in(-1)
    result = reminders.send_request_reminders(dry_run=True)
    assert result.claimed == {"before_due": 1, "overdue": 1}
    assert not ReminderLog.objects.exists() and mail.outbox == [] and not JobRun.objects.exists()
    out = StringIO()
    call_command("send_request_reminders", "--dry-run", "--no-progress", stdout=out)
    assert "DRY RUN" in out.getvalue() and "before_due: 1, overdue: 1" in out.getvalue()
    assert not ReminderLog.objects.exists()


@pytest.mark.django_db
def test_command_and_task_send_and_record_a_job_run(agent):
    due_in(1, assignee=agent)
    out = StringIO()
    call_command("send_request_reminders", "--no-progress", stdout=out)
    assert "sent: 1" in out.getvalue()
    assert JobRun.objects.get(job="send_request_reminders").counts["sent"] == 1
    due_in(2, assignee=agent)
    assert reminder_task.apply().get()["sent"] == 1


def test_the_job_is_on_the_beat_schedule():
    assert any(job.task == "requests_desk.send_request_reminders" for job in SCHEDULE)


def _run_queries(count: int, agent) -> int:
    for index in range(count):
        due_in(1 + index % 4, assignee=agent if index % 3 else None)
        due_in(-1 - index % 3)
    with CaptureQueriesContext(connection) as queries:
        result = reminders.send_request_reminders()
    assert result.sent > 0
    return len(queries)


@pytest.mark.django_db
def test_pp34_queries_are_constant_for_10_and_100_requests(agent, supervisor):
    staff(roles.SUPERVISOR, "supervisor2@test.example")
    small = _run_queries(10, agent)
    Request.objects.all().delete()
    mail.outbox.clear()
    large = _run_queries(100, agent)
    assert small == large
    # Staff, last run's staff, the schedule UPDATE, 3 buckets + 1 escalation INSERT, the send step's 4,
    # the job run, and the savepoints of the two transactions (inside the test's own); on PostgreSQL
    # also the advisory lock that queues concurrent runs.
    assert large <= (17 if connection.vendor == "postgresql" else 16)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pp34_concurrent_runs_send_each_reminder_once(settings):
    """On PostgreSQL: four runs at once, each in its own thread and connection. On SQLite (one writer
    at a time) the same four runs go one after another."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    assignees = [staff(roles.CUSTOMER_SERVICE_AGENT, f"agent{n}@test.example") for n in range(3)]
    staff(roles.SUPERVISOR, "boss@test.example")
    pool = [due_in(1 + n % 4, assignee=assignees[n % 3]) for n in range(30)] + [due_in(-1) for _ in range(5)]
    results = []
    if connection.vendor == "postgresql":
        barrier = threading.Barrier(4)
        errors = []

        def run():
            try:
                barrier.wait(timeout=30)
                results.append(reminders.send_request_reminders())
            except BaseException as exc:
                errors.append(exc)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
    else:
        results = [reminders.send_request_reminders() for _ in range(4)]
    assert sum(r.sent for r in results) == 35
    assert sum(sum(r.claimed.values()) for r in results) == 35
    listed = [line for m in mail.outbox for line in m.body.splitlines() if line.startswith("- DSR-")]
    assert len(listed) == len(set(listed)) == 35
    assert {r.reference for r in pool} == {line[2:14] for line in listed}
    assert ReminderLog.objects.filter(sent_at__isnull=True).count() == 0
