"""Reads of the request desk: the agents' queue, a request's timeline, the compliance dashboard.

Every reader runs a fixed number of queries whatever the number of requests (asserted in the tests).
"""

from __future__ import annotations

import datetime
import statistics
from dataclasses import dataclass

from django.db import connection
from django.db.models import Count, DurationField, ExpressionWrapper, F, Func, Prefetch, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone

from accounts.models import StaffUser
from accounts.staff import roles
from requests_desk.choices import PackageStatus, RequestType
from requests_desk.models import AccessPackage, IdentityCheck, Message, Request, Transition
from requests_desk.states import OPEN_STATES

#: "Due soon" on the queue and the dashboard: due within this many days.
DUE_SOON_DAYS = 2
DASHBOARD_WEEKS = 12
OLDEST_OPEN = 10


def open_requests() -> QuerySet[Request]:
    return Request.objects.filter(status__in=list(OPEN_STATES))


# --- The queue -----------------------------------------------------------------------------------------
def queue(
    *,
    user,
    scope: str = "all",
    due_within: int | None = None,
    overdue: bool = False,
    type: str = "",
    now: datetime.datetime | None = None,
) -> QuerySet[Request]:
    """Open requests for the agents' queue, most urgent first.

    ``scope``: ``mine`` (assigned to ``user``), ``unassigned`` or ``all``. ``due_within``: due within
    that many days from now (overdue ones included); ``overdue``: due date passed.
    """
    now = now or timezone.now()
    queryset = open_requests().select_related("assignee", "member")
    if scope == "mine":
        queryset = queryset.filter(assignee=user)
    elif scope == "unassigned":
        queryset = queryset.filter(assignee__isnull=True)
    if due_within is not None:
        queryset = queryset.filter(due_at__lte=now + datetime.timedelta(days=due_within))
    if overdue:
        queryset = queryset.filter(due_at__lte=now)
    if type:
        queryset = queryset.filter(type=type)
    return queryset.order_by("due_at", "-priority", "pk")


def due_state(due_at: datetime.datetime, now: datetime.datetime | None = None) -> str:
    """``overdue``, ``soon`` (due within ``DUE_SOON_DAYS``) or ``later``: the queue's colouring."""
    now = now or timezone.now()
    if due_at <= now:
        return "overdue"
    if due_at <= now + datetime.timedelta(days=DUE_SOON_DAYS):
        return "soon"
    return "later"


# --- A request's page ----------------------------------------------------------------------------------
def request_for_page(reference: str) -> Request:
    """One request by its public reference, with what its page shows (raises ``Request.DoesNotExist``)."""
    return (
        Request.objects.select_related("assignee", "member", "concerns", "prepared_by", "approved_by")
        .prefetch_related("refusal_grounds")
        .get(reference=reference)
    )


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime.datetime
    kind: str  # "message", "transition", "identity_check"
    item: object


def timeline(request: Request) -> list[TimelineEntry]:
    """Messages (with attachments), transitions and identity checks of ``request`` in time order.

    Four queries whatever the request's length (messages, their attachments, transitions, checks).
    """
    messages = (
        Message.objects.filter(request=request).select_related("sender")
        .prefetch_related(Prefetch("attachments")).order_by("at", "pk")
    )
    transitions = Transition.objects.filter(request=request).select_related("actor").order_by("at", "pk")
    checks = IdentityCheck.objects.filter(request=request).select_related("verified_by").order_by("verified_at", "pk")
    entries = [TimelineEntry(m.at, "message", m) for m in messages]
    entries += [TimelineEntry(t.at, "transition", t) for t in transitions]
    entries += [TimelineEntry(c.verified_at, "identity_check", c) for c in checks]
    order = {"message": 0, "identity_check": 1, "transition": 2}
    return sorted(entries, key=lambda entry: (entry.at, order[entry.kind]))


# --- The compliance dashboard (requirement 9) ----------------------------------------------------------
class PercentileCont(Func):
    """PostgreSQL's ``PERCENTILE_CONT(f) WITHIN GROUP (ORDER BY expr)`` (an ordered-set aggregate)."""

    contains_aggregate = True
    window_compatible = False
    output_field = DurationField()

    def __init__(self, expression, fraction: float, **extra):
        self.fraction = fraction
        super().__init__(expression, **extra)

    def as_sql(self, compiler, connection, **extra_context):
        inner, params = compiler.compile(self.source_expressions[0])
        return f"PERCENTILE_CONT({float(self.fraction)}) WITHIN GROUP (ORDER BY {inner})", params


@dataclass(frozen=True)
class WeekCounts:
    week: datetime.date
    by_type: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_type.values())


@dataclass(frozen=True)
class Dashboard:
    open: int
    due_soon: int
    overdue: int
    received: list[WeekCounts]
    closed: list[WeekCounts]
    median_time_to_close: datetime.timedelta | None
    closed_in_window: int
    oldest_open: list[Request]
    weeks: int
    since: datetime.date


def _week_start(day: datetime.date) -> datetime.date:
    return day - datetime.timedelta(days=day.weekday())


def _per_week(queryset: QuerySet[Request], field: str, weeks: list[datetime.date]) -> list[WeekCounts]:
    rows = (
        queryset.annotate(week=TruncWeek(field)).order_by().values("week", "type").annotate(n=Count("pk"))
    )
    table: dict[datetime.date, dict[str, int]] = {week: {} for week in weeks}
    for row in rows:
        week = row["week"]
        week = timezone.localdate(week) if isinstance(week, datetime.datetime) else week
        if week in table:
            table[week][row["type"]] = row["n"]
    return [WeekCounts(week, table[week]) for week in weeks]


def median_time_to_close(queryset: QuerySet[Request]) -> tuple[datetime.timedelta | None, int]:
    """Median of ``closed_at - received_at`` over ``queryset`` and how many it covers; one query.

    PostgreSQL computes it (``PERCENTILE_CONT``); elsewhere the durations are read and the median
    taken in Python — the embedded SQLite site, whose window holds a few thousand requests at most.
    """
    duration = ExpressionWrapper(F("closed_at") - F("received_at"), output_field=DurationField())
    queryset = queryset.filter(closed_at__isnull=False).order_by()
    if connection.vendor == "postgresql":
        result = queryset.aggregate(median=PercentileCont(duration, 0.5), n=Count("pk"))
        return result["median"], result["n"]
    durations = list(queryset.annotate(duration=duration).values_list("duration", flat=True))
    if not durations:
        return None, 0
    seconds = statistics.median(d.total_seconds() for d in durations)
    return datetime.timedelta(seconds=seconds), len(durations)


def dashboard(*, now: datetime.datetime | None = None, weeks: int = DASHBOARD_WEEKS) -> Dashboard:
    """Figures of the compliance dashboard in six queries, whatever the number of requests."""
    now = now or timezone.now()
    this_week = _week_start(timezone.localdate(now))
    week_starts = [this_week - datetime.timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]
    since = timezone.make_aware(datetime.datetime.combine(week_starts[0], datetime.time.min))

    counts = open_requests().aggregate(
        open=Count("pk"),
        due_soon=Count("pk", filter=Q(due_at__gt=now, due_at__lte=now + datetime.timedelta(days=DUE_SOON_DAYS))),
        overdue=Count("pk", filter=Q(due_at__lte=now)),
    )
    received = _per_week(Request.objects.filter(received_at__gte=since), "received_at", week_starts)
    closed = _per_week(Request.objects.filter(closed_at__gte=since), "closed_at", week_starts)
    median, closed_count = median_time_to_close(Request.objects.filter(closed_at__gte=since))
    oldest = list(open_requests().select_related("assignee").order_by("received_at", "pk")[:OLDEST_OPEN])
    return Dashboard(
        open=counts["open"], due_soon=counts["due_soon"], overdue=counts["overdue"], received=received,
        closed=closed, median_time_to_close=median, closed_in_window=closed_count, oldest_open=oldest,
        weeks=weeks, since=week_starts[0],
    )


def type_order() -> list[str]:
    return list(RequestType.values)


def compliance_officer_least_loaded() -> StaffUser | None:
    """The active compliance officer with the fewest open requests (PP-28: security reports go to
    compliance). One aggregate query; ties go to the longest-standing account (lowest id)."""
    return (
        StaffUser.objects.filter(is_active=True, groups__name=roles.COMPLIANCE_OFFICER)
        .annotate(load=Count("assigned_requests", filter=Q(assigned_requests__status__in=list(OPEN_STATES))))
        .order_by("load", "pk")
        .first()
    )


@dataclass(frozen=True)
class PackageProgress:
    """An access package's build as the request page shows it (PP-29): status, rows, the failure."""

    pk: int
    status: str
    status_label: str
    rows_done: int
    rows_total: int
    error: str
    created_at: datetime.datetime
    ready_at: datetime.datetime | None
    expires_at: datetime.datetime | None

    @property
    def percent(self) -> int:
        return min(100, (100 * self.rows_done) // self.rows_total) if self.rows_total else 0


def package_progress(request: Request) -> list[PackageProgress]:
    """The request's access packages, newest first, in one query (no file, no token)."""
    rows = (AccessPackage.objects.filter(request=request).order_by("-created_at", "-pk")
            .values("pk", "status", "rows_done", "rows_total", "error", "created_at", "ready_at", "expires_at"))
    labels = dict(PackageStatus.choices)
    return [PackageProgress(status_label=str(labels.get(row["status"], row["status"])), **row) for row in rows]
