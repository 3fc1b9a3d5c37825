"""What every job returns and records: a ``JobResult`` of counts, and one ``JobRun`` per real run.

``recorded(job)`` wraps a job function: a real run records a ``JobRun`` with the result's counts,
a run that raises records one with the error (exception messages of this project carry no
personal data), and a dry run, which changes nothing, records nothing.
"""

from __future__ import annotations

import datetime
import functools
from dataclasses import dataclass, field

from django.utils import timezone

from retention.models import JobRun


@dataclass(frozen=True)
class JobResult:
    selected: int
    changed: int
    dry_run: bool
    #: Further counts (held, failed, rows per model, a written file's path …).
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"selected": self.selected, "changed": self.changed, "dry_run": self.dry_run, **self.details}


def _record(job: str, started: datetime.datetime, result: JobResult) -> JobResult:
    """One ``JobRun`` row per real run (dry runs change nothing, so they record nothing)."""
    if not result.dry_run:
        JobRun.objects.create(job=job, started_at=started, finished_at=timezone.now(), counts=result.as_dict())
    return result


def _record_failure(job: str, started: datetime.datetime, exc: BaseException) -> None:
    # Exception messages of this project carry no personal data (style rule 6).
    JobRun.objects.create(
        job=job, started_at=started, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
    )


def recorded(job: str):
    """Decorator: record a JobRun for a real run, and one with the error when it raises."""

    def wrap(function):
        @functools.wraps(function)
        def run(*args, dry_run: bool = False, **kwargs) -> JobResult:
            started = timezone.now()
            try:
                result = function(*args, dry_run=dry_run, **kwargs)
            except Exception as exc:
                if not dry_run:
                    _record_failure(job, started, exc)
                raise
            return _record(job, started, result)

        run.job_name = job
        return run

    return wrap
