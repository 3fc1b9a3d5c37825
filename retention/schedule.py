"""Writes ``config.schedule.SCHEDULE`` to django-celery-beat's tables, idempotently."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.schedule import SCHEDULE


@transaction.atomic
def schedule_sync() -> dict[str, int]:
    """Create missing periodic tasks by name; keep admin edits to existing ones.

    ``update_or_create`` with ``create_defaults``: the task path follows the code on every run,
    while the crontab, enabled flag and description are only set when the entry is created.
    """
    created = updated = 0
    for job in SCHEDULE:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=job.minute,
            hour=job.hour,
            day_of_week=job.day_of_week,
            day_of_month="*",
            month_of_year="*",
            timezone=settings.CELERY_TIMEZONE,
        )
        _task, was_created = PeriodicTask.objects.update_or_create(
            name=job.name,
            defaults={"task": job.task},
            create_defaults={
                "task": job.task,
                "crontab": crontab,
                "description": job.description,
                "enabled": True,
            },
        )
        created += was_created
        updated += not was_created
    return {"created": created, "kept": updated}
