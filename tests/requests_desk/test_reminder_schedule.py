"""The reminder job's steady state (issue 15, requirement 3; PP-34): a run reads only the open requests
whose ``reminder_due_at`` has come, every write path keeps that column right, and what the schedule
cannot know (a staff change) makes the run look at every open request."""

import datetime

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.staff import roles
from requests_desk import lifecycle, queue, reminders, workflow
from requests_desk.choices import IntakeChannel, ReminderKind, RequesterKind, RequestType
from requests_desk.models import REMINDER_RECHECK, ReminderLog, Request
from tests.clock import frozen
from tests.factories import StaffUserFactory

#: Ten in the morning, local time, on a fixed day: the calendar-day stages do not depend on the suite's day.
MORNING = datetime.datetime(2026, 3, 10, 10, 0)


def at(day_offset: float, base: datetime.datetime) -> datetime.datetime:
    return base + datetime.timedelta(days=day_offset)


def request_due(due_at: datetime.datetime, *, assignee=None) -> Request:
    """An open request due at ``due_at`` (received 15 days before, or now with a longer deadline)."""
    received = min(due_at - datetime.timedelta(days=15), timezone.now())
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, received_at=received)
    if request.due_at != due_at:
        Request.objects.filter(pk=request.pk).update(due_at=due_at)
        request.refresh_from_db()
    if assignee is not None:
        request = lifecycle.request_assign(request=request, assignee=assignee, user=assignee)
    return request


def schedule_of(request: Request) -> datetime.datetime | None:
    return Request.objects.values_list("reminder_due_at", flat=True).get(pk=request.pk)


def expected_next(due_at: datetime.datetime, now: datetime.datetime, *, assigned: bool) -> datetime.datetime | None:
    """The next reminder stage by brute force: the earliest stage start after ``now`` (PP-34)."""
    if due_at <= now:
        return None
    if not assigned:
        return due_at
    due_day = timezone.localdate(due_at)
    starts = [timezone.make_aware(datetime.datetime.combine(due_day - datetime.timedelta(days=d), datetime.time.min))
              for d in reminders.reminder_days()]
    later = [start for start in starts if start > now]
    return min(later) if later else due_at


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["UTC", "Europe/Madrid"])
def test_pp34_each_request_is_scheduled_for_its_next_stage_in_local_days(agent, supervisor, settings, zone):
    """After a run, every open request is due again exactly when its next stage starts: the local
    midnight ``d`` days before its due day (also across a daylight-saving change), its due time for
    the last stage and for unassigned requests, never once escalated."""
    settings.TIME_ZONE = zone
    settings.REQUEST_REMINDER_DAYS = [5, 2, 0]
    timezone.deactivate()
    # 22 March 2026 to 2 April: Madrid moves its clocks on 29 March.
    now = timezone.make_aware(datetime.datetime(2026, 3, 22, 10, 0))
    with frozen(now):
        offsets = [-1, 0.2, 0.6, 1, 1.5, 2.5, 4, 5.5, 6, 7.1, 9, 11.6, 14, 20]
        assigned = [request_due(at(days, now), assignee=agent) for days in offsets]
        unassigned = [request_due(at(days, now)) for days in (-0.5, 3, 12)]
        assert {schedule_of(r) for r in assigned + unassigned} == {REMINDER_RECHECK}
        result = reminders.send_request_reminders(now=now)
    assert result.details["requests looked at"] == len(assigned) + len(unassigned)
    for request in assigned:
        assert schedule_of(request) == expected_next(request.due_at, now, assigned=True), request.due_at
    for request in unassigned:
        assert schedule_of(request) == expected_next(request.due_at, now, assigned=False)
    # Beyond the horizon a request is looked at again early (then rescheduled), never late.
    far = request_due(at(40, now), assignee=agent)
    with frozen(now):
        reminders.send_request_reminders(now=now)
    assert now < schedule_of(far) <= expected_next(far.due_at, now, assigned=True)


@pytest.mark.django_db
def test_pp34_a_rerun_reads_only_the_due_requests_and_never_the_log_per_request(agent, supervisor,
                                                                                 django_assert_max_num_queries):
    """The rerun that finds nothing: its claim statements select the requests by ``reminder_due_at``
    (schedule) and by the run's stamp (claims), with no subquery into the reminder log; it looks at no
    request, and its query count is the same as the run that sent."""
    now = timezone.make_aware(MORNING)
    with frozen(now):
        for days in (-2, -1, 0.3, 1, 3, 4, 8):
            request_due(at(days, now), assignee=agent)
        with CaptureQueriesContext(connection) as first:
            sent = reminders.send_request_reminders(now=now)
        with django_assert_max_num_queries(len(first)), CaptureQueriesContext(connection) as rerun:
            again = reminders.send_request_reminders(now=now)
    assert sent.sent == 6 and sent.details["every open request looked at"] is True
    assert (again.claimed, again.sent, again.details["requests looked at"]) == (
        {"before_due": 0, "overdue": 0}, 0, 0)
    assert again.details["every open request looked at"] is False
    request_sql = [q["sql"] for q in rerun.captured_queries if '"requests_desk_request"' in q["sql"]]
    [schedule] = [sql for sql in request_sql if sql.startswith('UPDATE "requests_desk_request"')]
    assert '"reminder_due_at" <=' in schedule and "requests_desk_reminderlog" not in schedule
    claims = [sql for sql in request_sql if "INSERT" in sql and "requests_desk_reminderlog" in sql]
    assert len(claims) == len(reminders.reminder_buckets(now)) + 1
    for sql in claims:
        select = sql.split("SELECT", 1)[1]
        assert '"reminder_run" =' in select
        assert "requests_desk_reminderlog" not in select  # no NOT EXISTS per request


@pytest.mark.django_db
def test_pp34_the_due_requests_are_a_range_of_the_partial_index(agent):
    """The schedule's lookup can be served by ``desk_request_reminder_due`` (the open requests by
    ``reminder_due_at``): the plan names the index when a table scan is not an option."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite cannot match a partial index's condition against bound parameters")
    request_due(timezone.now() + datetime.timedelta(days=3), assignee=agent)
    sql, params = reminders.due_requests(timezone.now()).values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = " ".join(str(row) for row in cursor.fetchall())
    assert "desk_request_reminder_due" in plan, plan


@pytest.mark.django_db
def test_pp34_every_write_path_keeps_the_schedule_right(agent, supervisor, compliance_officer):
    """A new request is looked at by the next run; after the run it waits for its next stage; an
    assignment, a take from the queue, an extension and any transition make the next run look again;
    an escalated overdue request waits for nothing; a closed request is never read again."""
    now = timezone.make_aware(MORNING)
    with frozen(now):
        request = request_due(at(4.5, now))
        taken = request_due(at(3, now))
        late = request_due(at(-1, now), assignee=agent)
        assert schedule_of(request) == schedule_of(taken) == REMINDER_RECHECK
        reminders.send_request_reminders(now=now)
        assert schedule_of(request) == request.due_at  # unassigned: only the escalation is ahead
        assert schedule_of(late) is None  # escalated: nothing left
        request = lifecycle.request_assign(request=request, assignee=agent, user=agent)
        assert schedule_of(request) == REMINDER_RECHECK
        reminders.send_request_reminders(now=now)
        assert schedule_of(request) == expected_next(request.due_at, now, assigned=True)
        assert set(ReminderLog.objects.filter(request=request).values_list("staff_user", "days_before")) == {
            (agent.pk, 5)}
        assert queue.take_next(user=compliance_officer) == taken
        assert schedule_of(taken) == REMINDER_RECHECK
        lifecycle.request_extend(request=request, user=compliance_officer, due_at=at(12, now), reason="archive",
                                 notify=False)
        assert schedule_of(request) == REMINDER_RECHECK
        result = reminders.send_request_reminders(now=now)
        assert result.details["requests looked at"] == 2  # the extended and the taken one, nothing else
        assert schedule_of(request) == expected_next(at(12, now), now, assigned=True)
        workflow.transition(request=late, name="close_duplicate", user=agent, note="duplicate")
        assert schedule_of(late) == REMINDER_RECHECK
        assert reminders.send_request_reminders(now=now).details["requests looked at"] == 0  # closed: not open


@pytest.mark.django_db
def test_pp34_a_change_made_while_a_run_claims_is_looked_at_by_the_next_run(agent, compliance_officer, monkeypatch):
    """A reassignment that lands after the run scheduled the request keeps its ``REMINDER_RECHECK``:
    the run's rescheduling is written before its claims, never over a later change."""
    now = timezone.make_aware(MORNING)
    with frozen(now):
        request = request_due(at(1, now), assignee=agent)
        claim = reminders._claim

        def claim_then_reassign(*args, **kwargs):
            claimed = claim(*args, **kwargs)
            lifecycle.request_assign(request=request, assignee=compliance_officer, user=compliance_officer)
            return claimed

        monkeypatch.setattr(reminders, "_claim", claim_then_reassign)
        reminders.send_request_reminders(now=now)
        monkeypatch.undo()
        assert schedule_of(request) == REMINDER_RECHECK
        reminders.send_request_reminders(now=now)
    assert set(ReminderLog.objects.values_list("staff_user", "days_before")) == {
        (agent.pk, 2), (compliance_officer.pk, 2)}


@pytest.mark.django_db
def test_pp34_a_new_supervisor_or_a_reactivated_assignee_is_owed_what_the_schedule_passed(agent, supervisor):
    """A supervisor who joins gets the open escalations, an assignee back from leave the reminders of
    the current stages: a run that sees a staff change looks at every open request (and only then)."""
    now = timezone.make_aware(MORNING)
    with frozen(now):
        late = request_due(at(-1, now))
        soon = request_due(at(1, now), assignee=agent)
        agent.is_active = False
        agent.save(update_fields=["is_active"])
        first = reminders.send_request_reminders(now=now)
        assert first.claimed == {"before_due": 0, "overdue": 1}
        assert reminders.send_request_reminders(now=now).details["every open request looked at"] is False
        newcomer = StaffUserFactory(email="newcomer@test.example")
        newcomer.groups.add(Group.objects.get(name=roles.SUPERVISOR))
        agent.is_active = True
        agent.save(update_fields=["is_active"])
        mail.outbox.clear()
        again = reminders.send_request_reminders(now=now)
    assert again.details["every open request looked at"] is True
    assert again.claimed == {"before_due": 1, "overdue": 1}
    assert set(ReminderLog.objects.values_list("request", "staff_user", "kind")) == {
        (late.pk, supervisor.pk, ReminderKind.OVERDUE), (late.pk, newcomer.pk, ReminderKind.OVERDUE),
        (soon.pk, agent.pk, ReminderKind.BEFORE_DUE)}
