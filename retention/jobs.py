"""Scheduled jobs as plain functions: chunked, idempotent, returning counts (design decision 6).

A Celery task (``retention/tasks.py``) and a management command call each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.sessions.models import Session
from django.utils import timezone


@dataclass(frozen=True)
class JobResult:
    selected: int
    changed: int
    dry_run: bool

    def as_dict(self) -> dict[str, int | bool]:
        return {"selected": self.selected, "changed": self.changed, "dry_run": self.dry_run}


def clear_expired_sessions(*, dry_run: bool = False) -> JobResult:
    """Delete expired staff login sessions (short-lived security data).

    One DELETE whatever the number of rows; running it twice deletes nothing more.
    """
    expired = Session.objects.filter(expire_date__lt=timezone.now())
    selected = expired.count()
    if dry_run:
        return JobResult(selected=selected, changed=0, dry_run=True)
    deleted, _ = expired.delete()
    return JobResult(selected=selected, changed=deleted, dry_run=False)
