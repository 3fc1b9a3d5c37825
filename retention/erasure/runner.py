"""The run: ``erase_members`` drives the chunks of one erasure and reports what it did.

``erase_members`` checks the plan (a bad declaration fails before anything is touched), drains
files left by a run that died between its commit and its drain, marks the ``ErasureRun`` running,
hands the members to ``retention.erasure.chunk`` chunk by chunk (``ERASURE_CHUNK_SIZE``) and marks
the run finished (or finished with failures). A run prepared but not approved, or rejected, is
refused (four eyes).

**Failures.** A chunk that fails is retried member by member, so one member's failure never
stops the others; ``EngineResult.failed`` maps each failed member number to a clear error naming
the model and the reason, never a value, and the run's item records the same error.

**Files.** Outside an outer transaction the chunks' after-commit file drains run in a background
thread (``outbox.BackgroundDrain``) while the next chunk runs; the run waits for the last one.

**Idempotent.** An erased member is a tombstone; running the engine on it again changes nothing
(no counts, no second erasure record), except once its retention has passed (*catch-up*, see
``retention.erasure.expiry``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.db.models.query import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Member
from retention import outbox
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure.chunk import ChunkFailed, process_chunk
from retention.erasure.plan import plan
from retention.erasure.run_items import record_failures
from retention.models import ErasureRun, ErasureRunItem

logger = logging.getLogger(__name__)


@dataclass
class EngineResult:
    """What one call of ``erase_members`` did (or, in a dry run, would do).

    ``erased`` holds the *original* member numbers of the members erased now: report them, do not
    store them (after the erasure they are personal data nobody should keep).
    """

    erased: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add_counts(self, counts: dict[str, int]) -> None:
        for label, n in counts.items():
            if n:
                self.counts[label] = self.counts.get(label, 0) + n

    def merge(self, other: EngineResult) -> None:
        self.erased.extend(other.erased)
        self.held.extend(other.held)
        self.skipped.extend(other.skipped)
        self.failed.update(other.failed)
        self.add_counts(other.counts)


def erase_members(
    *,
    member_ids: Iterable[int],
    trigger: str,
    run: ErasureRun | None = None,
    request_reference: str = "",
    chunk_size: int | None = None,
    dry_run: bool = False,
    eligible: Callable[[QuerySet[Member]], QuerySet[Member]] | None = None,
    progress=None,
    now: datetime.datetime | None = None,
) -> EngineResult:
    """Erase ``member_ids`` chunk by chunk (PP-02); see the module docstring.

    - ``eligible(queryset)`` narrows a chunk's members *inside the lock* to those that still qualify
      (e.g. still cancelled); the others are reported as skipped. It must only filter.
    - ``run``: item statuses (erased / held / skipped / failed with its error) and counts are written
      to it in each chunk's transaction; its status goes to *running*, then *finished* (or *finished
      with failures*). A run that is prepared but not approved, or rejected, is refused (four eyes).
    - ``dry_run``: every chunk is executed and rolled back, so the result says exactly what would
      change; nothing is written, no file is deleted.
    - ``progress``: a tqdm-like bar (``.update(n)``) or a callable taking ``n``; advanced per chunk.
    """
    if trigger not in ErasureTrigger.values:
        raise ValueError(f"Unknown erasure trigger {trigger!r}.")
    if run is not None and not dry_run and run.status in (RunStatus.PREPARED, RunStatus.REJECTED):
        raise ValidationError(gettext(
            "Erasure run #%(pk)s is %(value)s: it needs a supervisor's approval before it can run."
        ) % {"pk": run.pk, "value": run.get_status_display().lower()})
    plan()  # a bad declaration fails here, before anything is touched
    size = max(1, chunk_size or settings.ERASURE_CHUNK_SIZE)
    ids = sorted({int(pk) for pk in member_ids})
    advance = getattr(progress, "update", progress) if progress is not None else None
    result = EngineResult()
    if not dry_run and not connection.in_atomic_block:
        outbox.drain()  # files left by a run that died between its commit and its drain
    if run is not None and not dry_run:
        ErasureRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), Value(timezone.now()))
        )
    # Committed chunks' files go in a background thread while the next chunk runs (``outbox``);
    # inside an outer transaction nothing is committed until it ends, so the drain stays in line.
    background = None if dry_run or connection.in_atomic_block else outbox.BackgroundDrain()
    try:
        for start in range(0, len(ids), size):
            part = ids[start : start + size]
            run_part(part, result, trigger=trigger, run=run, request_reference=request_reference, dry_run=dry_run,
                      eligible=eligible, now=now or timezone.now(),
                      drain=background.request if background is not None else None)
            if advance is not None:
                advance(len(part))
    finally:
        if background is not None:
            background.close()  # waits for the last chunk's files
    if run is not None and not dry_run:
        failed = ErasureRunItem.objects.filter(run=run, status=ItemStatus.FAILED).exists()
        ErasureRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FINISHED_WITH_FAILURES if failed else RunStatus.FINISHED, finished_at=timezone.now()
        )
        run.refresh_from_db(fields=["status", "started_at", "finished_at", "counts"])
    return result


def run_part(part: list[int], result: EngineResult, **options) -> None:
    """Run one chunk; when it fails, run its members one by one so the others are still erased."""
    try:
        outcome = process_chunk(part, **options)
    except ChunkFailed as exc:
        if len(part) > 1:
            for pk in part:
                run_part([pk], result, **options)
            return
        number = Member.objects.filter(pk=part[0]).values_list("member_number", flat=True).first()
        if number is None:
            return
        error = str(exc)
        # Not the member number: the log outlives the erasure a rerun completes (PP-02); the run's
        # failed item names the member for whoever may read it.
        run = options.get("run")
        logger.warning("erasure of a member failed (run #%s, item of member id %s): %s",
                       run.pk if run is not None else "-", part[0], error)
        result.failed[number] = error
        record_failures(options["run"], {part[0]: (number, error)}, options["now"])
        return
    result.erased.extend(outcome.erased[pk] for pk in sorted(outcome.erased))
    result.held.extend(outcome.held[pk] for pk in sorted(outcome.held))
    result.skipped.extend(outcome.skipped[pk] for pk in sorted(outcome.skipped))
    result.add_counts(outcome.counts)
