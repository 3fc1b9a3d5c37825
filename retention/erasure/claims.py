"""A run spread over workers: claimers take the run's pending items chunk by chunk (issue 15, req. 5).

An approved ``ErasureRun`` lists its members as items. ``erase_run_start`` starts it: it refuses a
run that is not approved (four eyes, as before), checks the plan, moves the run to *running*, puts
the items that failed last time back to *pending* (the retry) and enqueues, by name through the
outbox, ``ERASURE_WORKERS - 1`` chunk tasks (``retention.erase_run_chunk``); the task that started
the run claims too, so a single worker still finishes a run alone.

``erase_run_claimed`` is one claimer, the same loop in every worker and in the inline path
(``erase_run_now``, the command line): in one transaction per chunk it takes the next ``chunk_size``
pending items of the run with ``SELECT … FOR UPDATE SKIP LOCKED`` and erases their members through
the engine's chunk (``runner.run_part``: lock the members, re-select, holds, erase, records, item
statuses, ``add_run_counts`` under the run's row lock), then commits. Two claimers therefore never
take the same item: the second skips the rows the first holds and takes the next ones.

**Past the last chunk, not from the start.** A claimer remembers the last item it claimed and asks
for the next pending items *after* it (``id > cursor``, a range scan of the primary key). Asked
from the start every time, the claim walked past every item already done - ``Rows Removed by
Filter`` grew by a chunk per chunk, 10,000 rows and 24 ms per claim half-way through a run of
20,000 - so a run's claims cost grew with the square of its size. Items *behind* the cursor can
be pending again only when a claimer holding them was killed (its chunk rolled back): when nothing
is left past its cursor, a claimer makes one more pass from the start before it stops, so those
are finished too.

**The claim is the row lock, not a lease.** The items stay locked until their chunk commits, and a
chunk's transaction moves them out of *pending* (erased, held, skipped, failed). A killed worker's
connection goes, its transaction rolls back, its items are *pending* and unlocked again at once
(no lease to wait for, and no live but slow worker whose lease ran out next to a second one
erasing the same members); a re-delivered task or any other claimer finishes them. Nothing is
erased twice: an erased member is a tombstone the engine skips.

**Files in the background.** Outside an outer transaction a claimer's after-commit file drains run
in one background thread (``outbox.BackgroundDrain``): the files of committed chunks are deleted
while the next chunk runs in the database; the claimer waits for the last drain before it returns.

**The end.** When a claimer finds nothing left to claim, it tries to finish the run with one
conditional ``UPDATE`` (status still *running* and no *pending* item left). Items another claimer
is erasing are still *pending* for everyone else until that chunk commits, so only the claimer
that commits last finds none left; the run's counts are the sum of every chunk's.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, QuerySet, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.dispatch.outbox import enqueue_many_on_commit
from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import outbox
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure.plan import plan
from retention.erasure.runner import EngineResult, run_part
from retention.models import ErasureRun, ErasureRunItem

#: The chunk task's name (``retention.erasure.tasks``); enqueued by name, never imported here.
ERASE_RUN_CHUNK_TASK = "retention.erase_run_chunk"

#: Runs in these states may be (re)started; prepared runs need a supervisor's approval first.
RUNNABLE = (RunStatus.APPROVED, RunStatus.RUNNING, RunStatus.FINISHED_WITH_FAILURES)


def _still_cancelled(members: QuerySet[Member]) -> QuerySet[Member]:
    # Re-selected inside the engine's lock: a member reinstated since the run was prepared is skipped.
    return members.filter(status=MemberStatus.CANCELLED)


#: What must still hold for a member when its chunk runs, per trigger.
ELIGIBLE = {ErasureTrigger.CANCELLATION: _still_cancelled}


def _pending(run_id: int) -> QuerySet[ErasureRunItem]:
    # Items whose member is gone (SET_NULL) have nothing left to erase and are never claimed.
    return ErasureRunItem.objects.filter(run_id=run_id, status=ItemStatus.PENDING, member__isnull=False)


def erase_run_start(*, run_id: int, chunk_size: int | None = None, claimers: int | None = None) -> bool:
    """Start (or restart) an approved run and fan it out to ``claimers`` in all; False if not runnable.

    Compare-and-set on the run's status: a prepared or rejected run is refused (four eyes), a
    finished one is left alone; a re-delivered start of a running run only adds claimers.
    """
    plan()  # a bad declaration fails here, before anything is touched
    if not connection.in_atomic_block:
        outbox.drain()  # files left by a run that died between its commit and its drain
    with transaction.atomic():
        started = ErasureRun.objects.filter(pk=run_id, status__in=RUNNABLE).update(
            status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), Value(timezone.now())), finished_at=None
        )
        if not started:
            return False
        ErasureRunItem.objects.filter(run_id=run_id, status=ItemStatus.FAILED).update(
            status=ItemStatus.PENDING, error="", finished_at=None
        )
        extra = max(0, (claimers or settings.ERASURE_WORKERS) - 1)
        if extra:
            enqueue_many_on_commit(ERASE_RUN_CHUNK_TASK, [(run_id, chunk_size)] * extra)
    return True


def claim_items(run_id: int, size: int, *, after: int = 0) -> list[int]:
    """Lock the next ``size`` pending items nobody holds; their member ids. Inside a transaction."""
    return sorted(member for _pk, member in _claim(run_id, size, after=after))


def _claim(run_id: int, size: int, *, after: int) -> list[tuple[int, int]]:
    """Lock the next ``size`` pending items after item ``after`` that nobody holds: (item pk, member id)."""
    claimed = _pending(run_id).order_by("pk")
    if after:
        claimed = claimed.filter(pk__gt=after)  # the primary key's range from the cursor on
    if connection.features.has_select_for_update_skip_locked:
        claimed = claimed.select_for_update(skip_locked=True, of=("self",))
    return list(claimed.values_list("pk", "member_id")[:size])


def erase_run_claimed(
    *, run_id: int, chunk_size: int | None = None, progress=None, now: datetime.datetime | None = None
) -> EngineResult:
    """One claimer: erase chunks of the run's pending items until none is left, then try to finish it."""
    result = EngineResult()
    run = ErasureRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).first()
    if run is None:
        return result  # not started, finished meanwhile, or gone: nothing to claim
    size = max(1, chunk_size or settings.ERASURE_CHUNK_SIZE)
    advance = getattr(progress, "update", progress) if progress is not None else None
    options = {"trigger": run.trigger, "run": run, "request_reference": run.request_reference, "dry_run": False,
               "eligible": ELIGIBLE.get(run.trigger), "items_claimed": True}
    # The files of committed chunks are deleted in a background thread while the next chunk runs;
    # inside an outer transaction (tests) nothing is committed yet, so the drain stays in line.
    background = None if connection.in_atomic_block else outbox.BackgroundDrain()
    if background is not None:
        options["drain"] = background.request
    cursor = 0  # the last item this claimer claimed
    try:
        while True:
            with transaction.atomic():
                claimed = _claim(run_id, size, after=cursor)
                if not claimed and cursor:
                    # Nothing left past the cursor: one pass from the start for items a killed claimer
                    # held when this one went by (its chunk rolled back, they are pending again).
                    cursor = 0
                    claimed = _claim(run_id, size, after=0)
                if not claimed:
                    break
                cursor = claimed[-1][0]
                ids = sorted(member for _pk, member in claimed)
                run_part(ids, result, now=now or timezone.now(), **options)
            if advance is not None:
                advance(len(ids))
    finally:
        if background is not None:
            background.close()  # waits for the last chunk's files
    erase_run_finish(run_id=run_id)
    return result


def erase_run_finish(*, run_id: int) -> bool:
    """Mark the run finished if nothing is pending any more (one conditional UPDATE); True if it did."""
    failed = ErasureRunItem.objects.filter(run_id=OuterRef("pk"), status=ItemStatus.FAILED)
    return bool(
        ErasureRun.objects.filter(pk=run_id, status=RunStatus.RUNNING)
        .exclude(Exists(_pending(run_id)))
        .update(
            status=Case(When(Exists(failed), then=Value(RunStatus.FINISHED_WITH_FAILURES)),
                        default=Value(RunStatus.FINISHED)),
            finished_at=timezone.now(),
        )
    )
