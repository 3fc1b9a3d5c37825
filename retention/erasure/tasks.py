"""The Celery tasks of an approved erasure run (thin shells around ``retention.erasure.claims``).

``retention.erase_run`` starts the run (four eyes checked, failed items back to pending) and fans it
out: it enqueues ``ERASURE_WORKERS - 1`` ``retention.erase_run_chunk`` tasks and then claims chunks
itself, so one worker alone still finishes the run and several share it (``SKIP LOCKED``).

``acks_late`` with ``reject_on_worker_lost`` (also the project defaults): a worker killed in the
middle of a run leaves its task unacknowledged, the broker delivers it again, and the claimers -
chunk by chunk, each chunk committed or not at all - finish what was left. The tasks' arguments and
results hold ids and counts only: the broker and the result backend never see a member number.

The names are explicit: services enqueue them by name through the outbox
(``retention.services.ERASE_RUN_TASK``, ``claims.ERASE_RUN_CHUNK_TASK``), whatever module they live
in. ``retention.tasks`` imports this module so that every worker registers them.
"""

from __future__ import annotations

from celery import shared_task

from retention.erasure.claims import erase_run_claimed, erase_run_start
from retention.erasure.runner import EngineResult
from retention.models import ErasureRun


def _summary(run_id: int, result: EngineResult) -> dict:
    status = ErasureRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    return {
        "run": run_id,
        "status": status,
        "erased": len(result.erased),
        "held": len(result.held),
        "skipped": len(result.skipped),
        "failed": len(result.failed),
        "rows": result.counts,
    }


def erase_run_now(run_id: int, *, chunk_size: int | None = None, progress=None, claimers: int | None = 1) -> dict:
    """Start an approved run and claim its chunks here until none is left; returns counts only.

    ``claimers`` above 1 enqueues that many minus one chunk tasks for other workers first (None:
    ``ERASURE_WORKERS``).
    """
    if not erase_run_start(run_id=run_id, chunk_size=chunk_size, claimers=claimers):
        return {**_summary(run_id, EngineResult()), "rows": {}}
    return _summary(run_id, erase_run_claimed(run_id=run_id, chunk_size=chunk_size, progress=progress))


@shared_task(name="retention.erase_run", acks_late=True, reject_on_worker_lost=True)
def erase_run(run_id: int, chunk_size: int | None = None) -> dict:
    return erase_run_now(run_id, chunk_size=chunk_size, claimers=None)


@shared_task(name="retention.erase_run_chunk", acks_late=True, reject_on_worker_lost=True)
def erase_run_chunk(run_id: int, chunk_size: int | None = None) -> dict:
    return _summary(run_id, erase_run_claimed(run_id=run_id, chunk_size=chunk_size))
