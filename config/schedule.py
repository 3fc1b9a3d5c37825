"""The beat schedule's starting point. ``manage.py setup_schedule`` writes it to the database.

The database (django-celery-beat) is the schedule that runs: compliance sees and changes it in the
admin. ``setup_schedule`` creates missing entries and keeps each entry's task name in step with
the code, but never overwrites a time, an interval or an on/off switch someone set in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    task: str
    description: str
    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        name="Clear expired staff sessions",
        task="retention.clear_expired_sessions",
        description="Deletes expired back-office login sessions (short-lived security data).",
        minute="15",
        hour="3",
    ),
)
