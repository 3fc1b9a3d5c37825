"""Deadline reminders and escalations (PP-34): one digest e-mail per staff user per run, each reminder once.

``send_request_reminders`` is the plain function; ``requests_desk.tasks`` (beat) and the command
``send_request_reminders`` (``--dry-run``, progress bar) call it.

Who is told what:

- the assignee of an open request, ``d`` days before its due date for each ``d`` in
  ``REQUEST_REMINDER_DAYS`` (e.g. 5, 2, 0). Days are counted in local calendar days; a request is in
  the bucket of the smallest ``d`` that is at least its days left, so a run that was skipped, or a
  request that arrives with two days left, sends one reminder, not a burst of all the earlier ones;
- every active supervisor, once per due date, about each overdue open request (escalation).

Which requests a run reads (issue 15, requirement 3): only those whose ``Request.reminder_due_at``
has come, a range scan of the partial index ``desk_request_reminder_due``. That column says when the
request next enters a stage (a local midnight, or its due time for the escalation; NULL once
escalated); a new request and every change of assignee, due date or status set it to
``REMINDER_RECHECK`` (``Request.reminders_recheck``), so the next run looks at it. A run that finds
nothing due reads no request and no reminder row. What the schedule cannot know — a supervisor who
joined, an assignee back from leave — is seen by comparing the staff with the last run's
(``JobRun.counts["staff"]``): then that one run looks at every open request, skipping what the log
has already.

Exactly once, even when the job runs twice, concurrently, or after a crash:

0. **Schedule.** In one transaction with the claims, one UPDATE stamps the due requests with the
   run's stamp and writes when each is due next (``next_look``), locking them (``FOR UPDATE SKIP
   LOCKED``: a concurrent run skips them; a concurrent change waits, then sets ``REMINDER_RECHECK``
   again). The claims then select the stamped rows. A crash rolls back both.
1. **Claim.** Each reminder is a ``ReminderLog`` row under the unique constraint
   ``(request, staff_user, kind, days_before, due_at)``. A run inserts the rows it is due with
   ``INSERT … SELECT … ON CONFLICT DO NOTHING`` — what ``bulk_create(ignore_conflicts=True)`` emits,
   without carrying the rows through Python: one statement per bucket, whatever the number of
   requests. A row that exists already (sent by an earlier run, or being inserted by a concurrent
   one) is not inserted again. An extension moves ``due_at``, so it opens new reminders.
2. **Send.** In one transaction the run marks every unsent row it can lock with its own
   ``sent_at`` stamp (``UPDATE … WHERE id IN (SELECT … WHERE sent_at IS NULL FOR UPDATE SKIP
   LOCKED)``): rows a concurrent run holds are skipped, not waited for, so two runs never send the
   same row. It reads back the rows with its stamp, sends one digest per staff user, and commits.
   If the mail server fails, the transaction rolls back and the rows are unsent again; rows claimed
   by a run that crashed before sending are picked up by the next run.

Queries per run are constant (asserted by the tests and ``bench/reminders.py``).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    Case,
    CharField,
    Count,
    DateTimeField,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
    Window,
)
from django.db.models.constants import OnConflict
from django.db.models.functions import RowNumber
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffUser
from accounts.staff import roles
from requests_desk.choices import ReminderKind, RequestType
from requests_desk.models import OPEN_STATUS_VALUES, ReminderLog, Request
from retention import reminders as digest
from retention.models import JobRun

logger = logging.getLogger(__name__)

JOB_NAME = "send_request_reminders"
DIGEST_TEMPLATE = "requests_desk/email/reminder_digest.txt"
#: Per language (issue 16): each staff user's digest is in their language.
DIGEST_SUBJECT = {"en": "Request desk: deadlines needing your attention", "zh-hans": "请求处理台：需要您关注的处理期限"}
_PATH_PLACEHOLDER = "DSR-PLACEHOLD"
#: A digest lists this many requests of each kind at most and counts the rest (the queue lists them all).
DIGEST_MAX_ITEMS = 200
#: A request due more than this many days after the largest reminder stage is looked at again then.
HORIZON_DAYS = 21


@dataclass(frozen=True)
class ReminderResult:
    #: Reminder rows this run claimed (inserted), per kind.
    claimed: dict[str, int]
    #: Reminders delivered in this run's digests (including rows left unsent by an earlier run).
    sent: int
    #: Digest e-mails sent (one per staff user at most).
    emails: int
    dry_run: bool
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"claimed": dict(self.claimed), "sent": self.sent, "e-mails": self.emails, "dry_run": self.dry_run,
                **self.details}


def reminder_days() -> list[int]:
    return sorted({int(d) for d in settings.REQUEST_REMINDER_DAYS if int(d) >= 0})


def _start_of_day(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def reminder_buckets(now: datetime.datetime) -> list[tuple[int, datetime.datetime, datetime.datetime]]:
    """``(days_before, from, until)``: open requests due in ``[from, until)`` get reminder ``days_before``.

    The first bucket starts at ``now`` (exclusive: what is due by now is overdue), each later one
    where the previous ends, at local midnights.
    """
    today = timezone.localdate(now)
    buckets = []
    lower = now
    for days in reminder_days():
        upper = _start_of_day(today + datetime.timedelta(days=days + 1))
        if upper > lower:
            buckets.append((days, lower, upper))
        lower = max(lower, upper)
    return buckets


def open_requests() -> QuerySet[Request]:
    return Request.objects.filter(status__in=OPEN_STATUS_VALUES).order_by()


def before_due_candidates(requests: QuerySet[Request], now: datetime.datetime, lower, upper) -> QuerySet[Request]:
    """The assigned requests of ``requests`` in one bucket."""
    queryset = requests.filter(assignee__isnull=False, assignee__is_active=True, due_at__lt=upper)
    # The first bucket excludes what is due by now (overdue); later ones start at their midnight.
    queryset = queryset.filter(due_at__gt=lower) if lower == now else queryset.filter(due_at__gte=lower)
    return queryset


def overdue_requests(requests: QuerySet[Request], now: datetime.datetime) -> QuerySet[Request]:
    return requests.filter(due_at__lte=now)


def staff_snapshot() -> dict[str, list[int]]:
    """In one query: the active supervisors with an e-mail address (told about every overdue request)
    and the inactive staff users (whose reminders are held back)."""
    recipient = Q(is_active=True, groups__name=roles.SUPERVISOR) & ~Q(email="")
    rows = StaffUser.objects.filter(recipient | Q(is_active=False)).order_by("pk").values_list("pk", "is_active")
    users = dict(rows.distinct())
    return {"supervisors": [pk for pk, active in users.items() if active],
            "inactive": [pk for pk, active in users.items() if not active]}


def escalation_recipients() -> list[int]:
    """Active supervisors with an e-mail address: they are told about every overdue request."""
    return staff_snapshot()["supervisors"]


# --- The schedule: which requests a run looks at -----------------------------------------------------
def next_look(now: datetime.datetime) -> Case:
    """When the job must look at a request again after looking at it at ``now``, as an SQL ``CASE``.

    The next reminder stage of a request due on local day ``X`` (``left`` days from today) starts at
    the local midnight of ``X - d`` for the largest ``d`` of ``reminder_days()`` below ``left``; with
    none below, the request is next overdue at ``due_at``; once overdue (escalated) there is nothing
    left until it changes (NULL). An unassigned request has only the escalation ahead: its assignment
    is a change. The midnights are computed here, in the local time zone, one ``WHEN`` per local day
    up to ``HORIZON_DAYS`` past the largest stage; a request due later is looked at again then (early,
    never late: it is simply rescheduled).
    """
    today = timezone.localdate(now)
    days = reminder_days()
    whens = [When(due_at__lte=now, then=Value(None, output_field=DateTimeField())),
             When(assignee__isnull=True, then=F("due_at"))]
    if not days:
        return Case(*whens, default=F("due_at"), output_field=DateTimeField())
    horizon = days[-1] + HORIZON_DAYS
    for left in range(horizon + 1):  # due on local day today + left
        below = [d for d in days if d < left]
        then = Value(_start_of_day(today + datetime.timedelta(days=left - below[-1]))) if below else F("due_at")
        whens.append(When(due_at__lt=_start_of_day(today + datetime.timedelta(days=left + 1)), then=then))
    later = _start_of_day(today + datetime.timedelta(days=horizon + 1 - days[-1]))
    return Case(*whens, default=Value(later), output_field=DateTimeField())


def due_requests(now: datetime.datetime) -> QuerySet[Request]:
    """The open requests the job must look at ``now`` (``desk_request_reminder_due``: a range scan)."""
    return open_requests().filter(reminder_due_at__lte=now)


def _schedule(now: datetime.datetime, stamp: datetime.datetime) -> int:
    """Stamp the due requests with ``stamp`` and set when each is due next, in one UPDATE.

    The rows are locked (``FOR UPDATE SKIP LOCKED``) until the run's claims commit with them: a
    concurrent run skips them, a concurrent assignment or extension waits and then sets
    ``REMINDER_RECHECK`` again, so its change is looked at by the next run. The next due time is
    written before the claims, in the same transaction: a crash rolls both back.
    """
    locked = due_requests(now).select_for_update(skip_locked=True).values("pk")
    return Request.objects.filter(pk__in=Subquery(locked)).update(reminder_due_at=next_look(now), reminder_run=stamp)


# --- Staff changes: when a run must look at every open request ---------------------------------------
def last_staff_snapshot() -> dict | None:
    """The staff snapshot of the last recorded run (``retention_jobrun_job_started``), None before any."""
    counts = (JobRun.objects.filter(job=JOB_NAME, dry_run=False).order_by("-started_at", "-pk")
              .values_list("counts", flat=True).first())
    return (counts or {}).get("staff")


def staff_changed(previous: dict | None, current: dict[str, list[int]]) -> bool:
    """A new supervisor is owed every open escalation, a reactivated assignee the reminders of the
    current stages: the schedule does not know them, so the run looks at every open request."""
    if previous is None:
        return True
    return bool(set(current["supervisors"]) - set(previous.get("supervisors", []))
                or set(previous.get("inactive", [])) - set(current["inactive"]))


# --- The claim ---------------------------------------------------------------------------------------
def _claim_rows(queryset: QuerySet, *, staff_user, kind: str, days: int, now: datetime.datetime) -> QuerySet:
    """The ``ReminderLog`` columns for each request of ``queryset``, as a SELECT (nothing fetched)."""
    staff = staff_user if staff_user is not None else "assignee_id"
    columns = {
        "_kind": Value(kind, output_field=CharField()),
        "_days": Value(days, output_field=IntegerField()),
        "_created": Value(now, output_field=DateTimeField()),
    }
    if staff_user is not None:
        columns["_staff"] = Value(staff_user, output_field=IntegerField())
        staff = "_staff"
    return queryset.annotate(**columns).values_list("pk", staff, "_kind", "_days", "due_at", "_created")


_CLAIM_COLUMNS = ("request_id", "staff_user_id", "kind", "days_before", "due_at", "created_at")


def _insert_claims(select: QuerySet) -> int:
    """``INSERT … SELECT`` the rows of ``select`` into ``ReminderLog``, skipping existing ones.

    The conflict clause is the one ``bulk_create(ignore_conflicts=True)`` uses on this database
    (``ON CONFLICT DO NOTHING`` on PostgreSQL, ``INSERT OR IGNORE`` on SQLite), against the
    ``requests_desk_reminderlog_unique_reminder`` constraint. Returns the rows inserted.
    """
    select_sql, params = select.query.sql_with_params()
    ops = connection.ops
    fields = [ReminderLog._meta.get_field(name.removesuffix("_id")) for name in _CLAIM_COLUMNS]
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    head = ops.insert_statement(on_conflict=OnConflict.IGNORE)
    tail = ops.on_conflict_suffix_sql(fields, OnConflict.IGNORE, None, None)
    sql = f"{head} {ops.quote_name(ReminderLog._meta.db_table)} ({columns}) {select_sql} {tail}"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _not_yet_claimed(queryset: QuerySet[Request], *, staff, kind: str, days: int) -> QuerySet[Request]:
    """The requests whose reminder has no row yet: for dry runs and for a run that looks at every
    open request (a staff change), not for the scheduled ones (the conflict clause settles those)."""
    logged = ReminderLog.objects.filter(request=OuterRef("pk"), staff_user=staff, kind=kind, days_before=days,
                                        due_at=OuterRef("due_at"))
    return queryset.exclude(Exists(logged))


def _claim(requests: QuerySet[Request], now: datetime.datetime, supervisors: list[int], *, dry_run: bool,
           every: bool, step) -> dict[str, int]:
    """Claim the reminders due at ``now`` for ``requests`` (``every``: all open requests, skipping what
    the log has already)."""
    claimed = {ReminderKind.BEFORE_DUE.value: 0, ReminderKind.OVERDUE.value: 0}

    def pending(queryset: QuerySet[Request], *, staff, kind: str, days: int) -> QuerySet[Request]:
        return _not_yet_claimed(queryset, staff=staff, kind=kind, days=days) if every or dry_run else queryset

    for days, lower, upper in reminder_buckets(now):
        candidates = pending(before_due_candidates(requests, now, lower, upper), staff=OuterRef("assignee"),
                             kind=ReminderKind.BEFORE_DUE, days=days)
        if dry_run:
            claimed[ReminderKind.BEFORE_DUE] += candidates.count()
        else:
            claimed[ReminderKind.BEFORE_DUE] += _insert_claims(
                _claim_rows(candidates, staff_user=None, kind=ReminderKind.BEFORE_DUE, days=days, now=now))
        step(f"{days}-day reminders")
    if supervisors:
        overdue = {s: pending(overdue_requests(requests, now), staff=s, kind=ReminderKind.OVERDUE, days=0)
                   for s in supervisors}
        if dry_run:
            claimed[ReminderKind.OVERDUE] += sum(queryset.count() for queryset in overdue.values())
        else:
            # One statement for all supervisors: the union of one SELECT per supervisor.
            selects = [_claim_rows(queryset, staff_user=s, kind=ReminderKind.OVERDUE, days=0, now=now)
                       for s, queryset in overdue.items()]
            union = selects[0].union(*selects[1:], all=True) if len(selects) > 1 else selects[0]
            claimed[ReminderKind.OVERDUE] += _insert_claims(union)
    step("escalations")
    return claimed


def _days_label(due: datetime.date, today: datetime.date) -> str:
    left = (due - today).days
    if left < 0:
        return f"{-left} day{'s' if left != -1 else ''} overdue"
    if left == 0:
        return "due today"
    return f"due in {left} day{'s' if left != 1 else ''}"


def _overflow_item(kind_overdue: bool, more: int, last_due: datetime.date, queue_path: str) -> digest.DigestItem:
    what = "overdue requests" if kind_overdue else "requests due soon"
    query = "?overdue=on" if kind_overdue else "?scope=mine&due_within=" + str(max(reminder_days() or [0]))
    return digest.DigestItem(label=f"… and {more:,} more {what}: see the queue", due=last_due,
                             path=queue_path + query, overdue=kind_overdue, more=more)


def _send(now: datetime.datetime, *, step) -> tuple[int, int]:
    """Mark, read back and send every unsent reminder this run can lock. Returns (reminders, e-mails).

    A digest lists at most ``DIGEST_MAX_ITEMS`` requests of each kind, most urgent first, and says
    how many more there are (the queue lists them all); every marked reminder is counted as sent.
    """
    today = timezone.localdate(now)
    type_labels = {value: RequestType(value).label for value in RequestType.values}  # lazy: per recipient
    path_template = reverse("requests_desk:request_detail", args=[_PATH_PLACEHOLDER])
    queue_path = reverse("requests_desk:queue")
    with transaction.atomic():
        # This run's stamp: the rows it locked and marked are exactly the rows carrying it.
        stamp = timezone.now()
        unsent = (ReminderLog.objects.filter(sent_at__isnull=True).order_by()
                  .select_for_update(skip_locked=True).values("pk"))
        marked = ReminderLog.objects.filter(pk__in=Subquery(unsent)).update(sent_at=stamp)
        if not marked:
            step("sent")
            return 0, 0
        mine = ReminderLog.objects.filter(sent_at=stamp)
        # How many each staff user has of each kind (and the latest due date), in the database.
        totals = {
            (row["staff_user_id"], row["kind"] == ReminderKind.OVERDUE): (row["n"], row["last_due"])
            for row in mine.order_by().values("staff_user_id", "kind").annotate(n=Count("pk"), last_due=Max("due_at"))
        }
        # The digest lines: the most urgent DIGEST_MAX_ITEMS of each kind per staff user, ranked in
        # the database, so Python handles at most users x 2 x DIGEST_MAX_ITEMS rows at any size.
        rank = Window(RowNumber(), partition_by=[F("staff_user_id"), F("kind")],
                      order_by=[F("due_at").asc(), F("request_id").asc()])
        rows = (
            mine.annotate(rank=rank).filter(rank__lte=DIGEST_MAX_ITEMS)
            .order_by("staff_user_id", "-kind", "due_at", "request_id")  # overdue sorts after before_due
            .values_list("staff_user_id", "kind", "due_at", "request__reference", "request__type",
                         "request__assignee_id")
        )
        items: dict[int, list[digest.DigestItem]] = defaultdict(list)
        for staff_user_id, kind, due_at, reference, type_, assignee_id in rows:
            overdue = kind == ReminderKind.OVERDUE
            due = timezone.localdate(due_at)
            label = f"{reference} · {type_labels.get(type_, type_)} · {_days_label(due, today)}"
            if overdue and assignee_id is None:
                label += " · unassigned"
            items[staff_user_id].append(digest.DigestItem(
                label=label, due=due, path=path_template.replace(_PATH_PLACEHOLDER, reference), overdue=overdue,
                reference=reference, type_label=type_labels.get(type_, type_), days_left=(due - today).days,
                unassigned=overdue and assignee_id is None,
            ))
        count = 0
        for (staff_user_id, overdue), (total, last_due) in totals.items():
            count += total
            more = total - DIGEST_MAX_ITEMS
            if more > 0:
                user_items = items[staff_user_id]
                position = sum(1 for item in user_items if item.overdue) if overdue else len(user_items)
                user_items.insert(position, _overflow_item(overdue, more, timezone.localdate(last_due), queue_path))
        users = StaffUser.objects.in_bulk(list(items))
        by_user = {users[pk]: user_items for pk, user_items in items.items() if pk in users}
        # Raises if the mail server fails: the marks roll back and the next run sends these again.
        emails = digest.send_digests(
            by_user, subject=DIGEST_SUBJECT, template=DIGEST_TEMPLATE,
            context={"today": today, "due_days": settings.REQUEST_DUE_DAYS},
        )
    step("sent")
    return count, emails


def _record_run(started: datetime.datetime, result: ReminderResult, staff: dict[str, list[int]]) -> None:
    JobRun.objects.create(job=JOB_NAME, started_at=started, finished_at=timezone.now(),
                          counts={**result.as_dict(), "staff": staff})


#: The key of the PostgreSQL advisory lock that queues concurrent runs (two beats, a manual run).
RUN_LOCK = 0x5245_4D31  # "REM1"


def _one_run_at_a_time() -> None:
    """Two runs claiming at once (a run that looks at every open request overlaps any other) would
    insert the same log rows in different orders and deadlock on the unique index: on PostgreSQL a
    run waits for the one in progress (a transaction-level advisory lock, released at commit).
    SQLite writes one transaction at a time anyway."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_LOCK])


def send_request_reminders(
    *, now: datetime.datetime | None = None, dry_run: bool = False, step: Callable[[str], None] | None = None
) -> ReminderResult:
    """Claim the reminders due at ``now`` and send every unsent one as one digest per staff user (PP-34).

    ``dry_run`` counts what would be claimed and how many unsent reminders wait, and changes
    nothing. ``step`` is called after each phase (the command's progress bar).
    """
    started = timezone.now()
    now = now or started
    step = step or (lambda phase: None)
    staff = staff_snapshot()
    supervisors = staff["supervisors"]
    every = staff_changed(last_staff_snapshot(), staff)
    details = {"supervisors": len(supervisors), "every open request looked at": every}
    if dry_run:
        requests = open_requests() if every else due_requests(now)
        claimed = _claim(requests, now, supervisors, dry_run=True, every=every, step=step)
        waiting = ReminderLog.objects.filter(sent_at__isnull=True).count()
        step("sent")
        return ReminderResult(claimed=claimed, sent=0, emails=0, dry_run=True,
                              details={"unsent before this run": waiting, **details})
    with transaction.atomic():
        _one_run_at_a_time()
        stamp = timezone.now()
        scheduled = _schedule(now, stamp)
        requests = open_requests() if every else open_requests().filter(reminder_run=stamp)
        claimed = _claim(requests, now, supervisors, dry_run=False, every=every, step=step)
    sent, emails = _send(now, step=step)
    result = ReminderResult(claimed=claimed, sent=sent, emails=emails, dry_run=False,
                            details={"requests looked at": scheduled, **details})
    _record_run(started, result, staff)
    logger.info("send_request_reminders: claimed %s, sent %s in %s e-mails", claimed, sent, emails)
    return result


#: Phases reported through ``step`` (for a progress bar's total).
def phase_count() -> int:
    return len(reminder_buckets(timezone.now())) + 2
