"""The compliance dashboard (issue 6, requirement 9): counts, weekly received/closed by type, median
time to close, the oldest open requests — in a bounded number of queries."""

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_desk import lifecycle, selectors, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType
from requests_desk.models import Request
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("requests_desk:dashboard")


def received(days_ago: float, type_=RequestType.ACCESS) -> Request:
    return received_at(timezone.now() - datetime.timedelta(days=days_ago), type_)


def received_at(when: datetime.datetime, type_=RequestType.ACCESS) -> Request:
    return lifecycle.request_create(type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
                                    received_at=when)


def closed(days_ago: float, took_days: float, user, type_=RequestType.ACCESS) -> Request:
    now = timezone.now()
    return closed_at(now - datetime.timedelta(days=days_ago + took_days), now - datetime.timedelta(days=days_ago),
                     user, type_)


def closed_at(received: datetime.datetime, when: datetime.datetime, user, type_=RequestType.ACCESS) -> Request:
    request = received_at(received, type_)
    workflow.transition(request=request, name="close_duplicate", user=user, note="duplicate")
    # Test set-up only: move the closing time into the past (the workflow stamps "now").
    Request.objects.filter(pk=request.pk).update(closed_at=when)
    return request


def week_start(now: datetime.datetime) -> datetime.datetime:
    """Monday 00:00 of ``now``'s week in the site's time zone."""
    today = timezone.localdate(now)
    return timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=today.weekday()),
                                                         datetime.time.min))


def test_open_due_soon_and_overdue_counts(agent):
    received(0)  # due in 15 days
    received(14)  # due within 2 days
    received(20)  # overdue
    closed(1, 2, agent)
    figures = selectors.dashboard()
    assert (figures.open, figures.due_soon, figures.overdue) == (3, 1, 1)


#: Instants where "half a day ago" or "a minute ago" is in another week, month or year (UTC site).
BOUNDARIES = [
    "2026-12-07T00:05:00Z",  # Monday just after midnight: half a day ago was last week
    "2026-12-06T23:59:00Z",  # Sunday's last minute
    "2026-12-09T12:00:00Z",  # a Wednesday noon
    "2027-04-30T23:55:00Z",  # a month's last minutes
    "2027-12-31T23:58:00Z",  # a year's last minutes (a Friday)
    "2029-01-01T00:05:00Z",  # New Year's Day on a Monday
    "2028-02-29T12:00:00Z",  # 29 February
]


@pytest.mark.parametrize("instant", BOUNDARIES)
def test_received_and_closed_per_week_by_type(agent, instant):
    with time_machine.travel(instant, tick=False):
        now = timezone.now()
        # Half a day ago, or this week's first instant when that was last week (a Monday morning).
        earlier_this_week = max(now - datetime.timedelta(hours=12), week_start(now))
        received(0, RequestType.ACCESS)
        received(0, RequestType.DELETION)
        received(0, RequestType.DELETION)
        received(7 * 20)  # outside the 12 weeks
        closed_at(earlier_this_week, now, agent, RequestType.ENQUIRY)
        figures = selectors.dashboard(now=now)
    assert len(figures.received) == len(figures.closed) == 12
    this_week = figures.received[-1]
    assert this_week.week == timezone.localdate(now) - datetime.timedelta(days=timezone.localdate(now).weekday())
    assert this_week.by_type == {RequestType.ACCESS: 1, RequestType.DELETION: 2, RequestType.ENQUIRY: 1}
    assert figures.closed[-1].by_type == {RequestType.ENQUIRY: 1}
    assert sum(week.total for week in figures.received) == 4


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/New_York"])
@pytest.mark.parametrize("local", ["2026-12-07T00:05:00", "2026-12-06T23:59:00", "2027-12-31T23:58:00",
                                   "2028-02-29T12:00:00", "2029-01-01T00:00:00"])
def test_weeks_start_on_monday_at_midnight_in_the_site_time_zone(agent, settings, zone, local):
    """Regression: on a Monday morning "half a day ago" is last week; the bar of a week counts what
    happened from Monday 00:00 to Sunday 24:00 in TIME_ZONE, whatever the instant and the zone."""
    settings.TIME_ZONE = zone
    now = timezone.make_aware(datetime.datetime.fromisoformat(local))
    with time_machine.travel(now, tick=False):
        monday = week_start(now)
        second = datetime.timedelta(seconds=1)
        received_at(monday, RequestType.ACCESS)  # this week's first instant
        received_at(now, RequestType.DELETION)
        received_at(monday - second, RequestType.CORRECTION)  # last week's last second
        received_at(now - datetime.timedelta(hours=12), RequestType.ENQUIRY)  # either, by the clock
        closed_at(monday - datetime.timedelta(days=3), monday, agent, RequestType.ACCESS)
        closed_at(monday - datetime.timedelta(days=3), monday - second, agent, RequestType.DELETION)
        figures = selectors.dashboard(now=now)
    half_a_day_ago_this_week = now - datetime.timedelta(hours=12) >= monday
    this_week, last_week = figures.received[-1], figures.received[-2]
    assert this_week.week == timezone.localdate(now) - datetime.timedelta(days=timezone.localdate(now).weekday())
    assert last_week.week == this_week.week - datetime.timedelta(weeks=1)
    assert this_week.week.weekday() == 0
    assert this_week.by_type == {RequestType.ACCESS: 1, RequestType.DELETION: 1,
                                 **({RequestType.ENQUIRY: 1} if half_a_day_ago_this_week else {})}
    assert last_week.by_type == {RequestType.CORRECTION: 1, RequestType.ACCESS: 1, RequestType.DELETION: 1,
                                 **({} if half_a_day_ago_this_week else {RequestType.ENQUIRY: 1})}
    assert figures.closed[-1].by_type == {RequestType.ACCESS: 1}
    assert figures.closed[-2].by_type == {RequestType.DELETION: 1}
    assert figures.since == this_week.week - datetime.timedelta(weeks=figures.weeks - 1)


def test_median_time_to_close(agent):
    assert selectors.dashboard().median_time_to_close is None
    for took in (1, 3, 10):
        closed(2, took, agent)
    figures = selectors.dashboard()
    assert figures.closed_in_window == 3
    assert abs(figures.median_time_to_close - datetime.timedelta(days=3)) < datetime.timedelta(seconds=1)
    closed(2, 5, agent)
    assert abs(selectors.dashboard().median_time_to_close - datetime.timedelta(days=4)) < datetime.timedelta(
        seconds=1)


def test_the_ten_oldest_open_requests(agent):
    requests = [received(days) for days in range(12, 0, -1)]
    closed(30, 1, agent)
    oldest = selectors.dashboard().oldest_open
    assert oldest == requests[:10]


def _dashboard_queries(count: int, user) -> int:
    types = [RequestType.ACCESS, RequestType.DELETION, RequestType.CORRECTION, RequestType.ENQUIRY]
    for index in range(count):
        received(index % 30, types[index % len(types)])
    for index in range(count // 3):
        closed(index % 40, 1 + index % 7, user)
    with CaptureQueriesContext(connection) as queries:
        selectors.dashboard()
    return len(queries)


def test_dashboard_queries_are_bounded(agent):
    small = _dashboard_queries(6, agent)
    large = _dashboard_queries(60, agent)
    assert small == large == 5


def test_dashboard_page_renders_a_chart_without_scripts(client, compliance_officer, auditor,
                                                        django_assert_max_num_queries):
    received(3, RequestType.DELETION)
    overdue = received(20)
    client.force_login(compliance_officer)
    client.get(DASHBOARD)
    with django_assert_max_num_queries(10):
        response = client.get(DASHBOARD)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in html and "<rect" in html and "<script" not in html
    assert "Deletion: 1" in html  # a bar segment's tooltip
    assert overdue.reference in html
    client.force_login(auditor)
    assert client.get(DASHBOARD).status_code == 200


def test_dashboard_needs_the_view_permission(client):
    client.force_login(StaffUserFactory(email="nobody@test.example"))
    assert client.get(DASHBOARD).status_code == 403
