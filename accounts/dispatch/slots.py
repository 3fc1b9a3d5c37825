"""Each scheduled job does its work once per slot, however many beats fire it (issue 12, requirement 4).

A *slot* is the schedule's fire time that a delivery belongs to: for a crontab entry, the latest
minute at or before the task's start that the crontab matches; for an interval entry, the start of
the interval. The first delivery of a slot inserts a ``ScheduledRun`` (a partial unique constraint on
job + slot) and does the work; a second one (two beat processes, a beat restarted mid-minute) hits
the constraint, logs that the slot was already taken and by which task, records a *duplicate* row
and returns without touching anything.

Only deliveries from the schedule carry a slot: django-celery-beat puts the schedule entry's name in
the ``periodic_task_name`` header. A command run or the admin's *run now* has no such header and
always runs. A redelivery of the same message (same task id, after a worker was killed) takes its
own slot again and finishes the work: the jobs are idempotent.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from dataclasses import dataclass

from celery import Task
from celery.schedules import crontab
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from accounts.dispatch.models import ScheduledRun

logger = logging.getLogger(__name__)

#: How far back a crontab slot is looked for (a yearly entry is the longest django-celery-beat offers).
LOOKBACK_MINUTES = 366 * 24 * 60


def crontab_slot(entry: crontab, now: datetime.datetime, tz: datetime.tzinfo) -> datetime.datetime:
    """The latest minute at or before ``now`` (in ``tz``) that ``entry`` fires at, as an aware UTC time."""
    local = now.astimezone(tz).replace(second=0, microsecond=0)
    candidate = local
    for _ in range(LOOKBACK_MINUTES):
        # celery's day_of_week counts from Sunday = 0; Python's weekday() from Monday = 0.
        if (candidate.minute in entry.minute and candidate.hour in entry.hour
                and (candidate.weekday() + 1) % 7 in entry.day_of_week
                and candidate.day in entry.day_of_month and candidate.month in entry.month_of_year):
            return candidate.astimezone(datetime.UTC)
        candidate = (candidate - datetime.timedelta(minutes=1)).astimezone(tz)
        # Re-normalise across daylight-saving changes: arithmetic on aware times is wall-clock arithmetic.
        candidate = candidate.astimezone(datetime.UTC).astimezone(tz)
    return local.astimezone(datetime.UTC)


def interval_slot(every: datetime.timedelta, now: datetime.datetime) -> datetime.datetime:
    seconds = max(int(every.total_seconds()), 1)
    epoch = int(now.timestamp()) // seconds * seconds
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)


def slot_of(periodic_task_name: str, now: datetime.datetime) -> datetime.datetime:
    """The slot of a delivery of the schedule entry ``periodic_task_name`` that starts at ``now``."""
    entry = (PeriodicTask.objects.select_related("crontab", "interval")
             .filter(name=periodic_task_name).first())
    if entry is not None and entry.crontab is not None:
        cron = entry.crontab
        schedule = crontab(minute=cron.minute, hour=cron.hour, day_of_week=cron.day_of_week,
                           day_of_month=cron.day_of_month, month_of_year=cron.month_of_year)
        tz = cron.timezone if isinstance(cron.timezone, datetime.tzinfo) else zoneinfo.ZoneInfo(str(cron.timezone))
        return crontab_slot(schedule, now, tz)
    if entry is not None and entry.interval is not None:
        return interval_slot(entry.interval.schedule.run_every, now)
    return now.replace(second=0, microsecond=0)  # clocked or solar entries: one run per minute


@dataclass
class SlotClaim:
    run: ScheduledRun | None
    duplicate_of: ScheduledRun | None = None

    @property
    def taken(self) -> bool:
        return self.duplicate_of is not None


def slot_claim(*, job: str, periodic_task_name: str, task_id: str,
               now: datetime.datetime | None = None) -> SlotClaim:
    """Take the slot of this delivery, or record that another delivery took it."""
    now = now or timezone.now()
    slot = slot_of(periodic_task_name, now)
    mine = ScheduledRun.objects.filter(job=job, slot=slot, task_id=task_id).exclude(
        outcome=ScheduledRun.Outcome.DUPLICATE).first()
    if mine is not None:  # the same message delivered again: finish the work
        ScheduledRun.objects.filter(pk=mine.pk).update(outcome=ScheduledRun.Outcome.RUNNING, finished_at=None)
        return SlotClaim(run=mine)
    try:
        with transaction.atomic():
            run = ScheduledRun.objects.create(job=job, periodic_task=periodic_task_name, slot=slot, task_id=task_id,
                                              started_at=now)
        return SlotClaim(run=run)
    except IntegrityError:
        first = (ScheduledRun.objects.filter(job=job, slot=slot).exclude(outcome=ScheduledRun.Outcome.DUPLICATE)
                 .first())
        note = (f"slot {slot:%Y-%m-%d %H:%M} UTC already taken by task {first.task_id} at "
                f"{first.started_at:%H:%M:%S}" if first else f"slot {slot:%Y-%m-%d %H:%M} UTC already taken")
        duplicate = ScheduledRun.objects.create(
            job=job, periodic_task=periodic_task_name, slot=slot, task_id=task_id, started_at=now,
            finished_at=timezone.now(), outcome=ScheduledRun.Outcome.DUPLICATE, note=note[:300],
        )
        logger.warning("%s: second delivery of one schedule slot, not run: %s", job, note)
        return SlotClaim(run=duplicate, duplicate_of=first)


def _periodic_task_name(request) -> str:
    name = getattr(request, "periodic_task_name", None)
    if not name:
        name = (getattr(request, "headers", None) or {}).get("periodic_task_name")
    return name or ""


class OncePerSlot(Task):
    """Celery task base for scheduled jobs: a delivery from the schedule runs once per slot.

    ``@shared_task(name=…, base=OncePerSlot)``. The job function stays the plain function a
    command calls; this base only decides whether a beat delivery may run it.
    """

    abstract = True

    def __call__(self, *args, **kwargs):
        entry = _periodic_task_name(self.request)
        if not entry:
            return super().__call__(*args, **kwargs)
        claim = slot_claim(job=self.name, periodic_task_name=entry, task_id=self.request.id or "")
        if claim.taken:
            return {"duplicate": True, "note": claim.run.note}
        try:
            result = super().__call__(*args, **kwargs)
        except Exception as exc:
            ScheduledRun.objects.filter(pk=claim.run.pk).update(
                outcome=ScheduledRun.Outcome.FAILED, finished_at=timezone.now(), note=type(exc).__name__)
            raise
        ScheduledRun.objects.filter(pk=claim.run.pk).update(outcome=ScheduledRun.Outcome.FINISHED,
                                                            finished_at=timezone.now())
        return result
