"""Issue 12, requirement 4: two beats at once, and each scheduled job still works once per slot.

A simulated day: every entry of the schedule is delivered twice at each of its fire times, as two
beat processes would send it (with django-celery-beat's ``periodic_task_name`` header). The first
delivery of a slot runs the job; the second does nothing, says so in the log and leaves a
*duplicate* run record.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections import Counter

import pytest
import time_machine
from celery.schedules import crontab
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from accounts.dispatch.models import ScheduledRun
from accounts.dispatch.slots import OncePerSlot, crontab_slot
from config.celery import app
from retention.models import JobRun

pytestmark = pytest.mark.django_db

DAY = datetime.datetime(2027, 3, 10, tzinfo=datetime.UTC)  # a Wednesday


def _fire_times(entry: PeriodicTask, day: datetime.datetime) -> list[datetime.datetime]:
    cron = entry.crontab
    schedule = crontab(minute=cron.minute, hour=cron.hour, day_of_week=cron.day_of_week)
    minutes = (day + datetime.timedelta(minutes=m) for m in range(24 * 60))
    return [t for t in minutes if crontab_slot(schedule, t, datetime.UTC) == t]


def _deliver(entry: PeriodicTask, *, task_id: str | None = None):
    task = app.tasks[entry.task]
    return task.apply(headers={"periodic_task_name": entry.name}, task_id=task_id or uuid.uuid4().hex).get()


def test_every_scheduled_job_runs_once_per_slot_when_two_beats_fire_a_whole_day(settings, caplog):
    settings.CELERY_TIMEZONE = "UTC"
    call_command("setup_schedule")
    app.loader.import_default_modules()
    guarded = [e for e in PeriodicTask.objects.select_related("crontab").order_by("name")
               if isinstance(app.tasks[e.task], OncePerSlot)]
    assert {e.task for e in guarded} >= {"retention.anonymise_cancelled", "retention.purge_under_14",
                                         "requests_desk.send_request_reminders", "consents.resume_reconsent_campaigns"}
    slots = {}
    slot_log = logging.getLogger("accounts.dispatch.slots")
    slot_log.addHandler(caplog.handler)  # the project's loggers do not propagate to the root logger
    with caplog.at_level(logging.WARNING, logger="accounts.dispatch.slots"):
        for entry in guarded:
            times = _fire_times(entry, DAY)
            slots[entry.task] = len(times)
            for fire in times:
                with time_machine.travel(fire + datetime.timedelta(seconds=1), tick=False):
                    _deliver(entry)
                with time_machine.travel(fire + datetime.timedelta(seconds=4), tick=False):
                    second = _deliver(entry)
                assert second["duplicate"] is True, entry.task
    slot_log.removeHandler(caplog.handler)
    runs = Counter(ScheduledRun.objects.values_list("job", "outcome"))
    for job, count in slots.items():
        assert count >= 1
        assert runs[(job, ScheduledRun.Outcome.FINISHED)] == count, job
        assert runs[(job, ScheduledRun.Outcome.DUPLICATE)] == count, job
    # The retention jobs' own run records: one per slot, not two.
    for job, count in slots.items():
        if job.startswith("retention."):
            assert JobRun.objects.filter(job=job.split(".", 1)[1]).count() == count, job
    assert caplog.text.count("second delivery of one schedule slot, not run") == sum(slots.values())
    duplicate = ScheduledRun.objects.filter(outcome=ScheduledRun.Outcome.DUPLICATE).first()
    assert "already taken by task" in duplicate.note


def test_a_redelivered_message_finishes_its_slot_and_a_manual_run_always_runs(settings):
    settings.CELERY_TIMEZONE = "UTC"
    call_command("setup_schedule")
    app.loader.import_default_modules()
    entry = PeriodicTask.objects.get(task="retention.clear_expired_sessions")
    with time_machine.travel(datetime.datetime(2027, 3, 10, 3, 15, 2, tzinfo=datetime.UTC), tick=False):
        _deliver(entry, task_id="message-1")
        again = _deliver(entry, task_id="message-1")  # the worker was killed before acknowledging it
        assert "duplicate" not in again
        manual = app.tasks[entry.task].apply().get()  # no schedule header: "run now", a command
        assert "duplicate" not in manual
    assert JobRun.objects.filter(job="clear_expired_sessions").count() == 3
    assert ScheduledRun.objects.filter(outcome=ScheduledRun.Outcome.DUPLICATE).count() == 0


def test_the_slot_of_a_late_delivery_is_the_fire_time_it_belongs_to():
    daily = crontab(minute="30", hour="2")
    late = datetime.datetime(2027, 3, 10, 2, 47, 13, tzinfo=datetime.UTC)
    assert crontab_slot(daily, late, datetime.UTC) == datetime.datetime(2027, 3, 10, 2, 30, tzinfo=datetime.UTC)
    every_five = crontab(minute="*/5")
    assert crontab_slot(every_five, late, datetime.UTC) == datetime.datetime(2027, 3, 10, 2, 45, tzinfo=datetime.UTC)
    shanghai = datetime.timezone(datetime.timedelta(hours=8))
    # 02:30 in Shanghai is 18:30 UTC the day before.
    assert crontab_slot(daily, late, shanghai) == datetime.datetime(2027, 3, 9, 18, 30, tzinfo=datetime.UTC)
