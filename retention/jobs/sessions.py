"""Job: clear expired staff login sessions (short-lived security data)."""

from __future__ import annotations

from django.contrib.sessions.models import Session
from django.utils import timezone

from retention.jobs.results import JobResult, recorded


@recorded("clear_expired_sessions")
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
