"""The Celery task that runs an approved erasure run (a thin shell around ``retention.erasure.runner``).

``acks_late`` with ``reject_on_worker_lost`` (also the project defaults): a worker killed in the
middle of a run leaves its task unacknowledged, the broker delivers it again, and the engine - chunk
by chunk, each chunk committed or not at all - finishes what was left. The task's argument and its
result hold ids and counts only: the broker and the result backend never see a member number.

The task's name is explicit (``retention.erase_run``): services enqueue it by that name through
the outbox (``retention.services.ERASE_RUN_TASK``), whatever module it lives in. ``retention.tasks``
imports this module so that every worker registers it.
"""

from __future__ import annotations

from celery import shared_task
from django.db.models import QuerySet

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import runner
from retention.models import ErasureRun, ErasureRunItem

#: Runs in these states may be (re)started; prepared runs need a supervisor's approval first.
RUNNABLE = (RunStatus.APPROVED, RunStatus.RUNNING, RunStatus.FINISHED_WITH_FAILURES)


def _still_cancelled(members: QuerySet[Member]) -> QuerySet[Member]:
    # Re-selected inside the engine's lock: a member reinstated since the run was prepared is skipped.
    return members.filter(status=MemberStatus.CANCELLED)


#: What must still hold for a member when its chunk runs, per trigger.
ELIGIBLE = {ErasureTrigger.CANCELLATION: _still_cancelled}


def erase_run_now(run_id: int, *, chunk_size: int | None = None, progress=None) -> dict:
    """Erase the pending and failed members of an approved run; returns counts only."""
    run = ErasureRun.objects.get(pk=run_id)
    if run.status not in RUNNABLE:
        return {"run": run.pk, "status": run.status, "erased": 0, "held": 0, "skipped": 0, "failed": 0}
    member_ids = list(
        ErasureRunItem.objects.filter(run=run, status__in=(ItemStatus.PENDING, ItemStatus.FAILED),
                                      member__isnull=False)
        .order_by("member_id")
        .values_list("member_id", flat=True)
    )
    result = runner.erase_members(
        member_ids=member_ids,
        trigger=run.trigger,
        run=run,
        request_reference=run.request_reference,
        chunk_size=chunk_size,
        eligible=ELIGIBLE.get(run.trigger),
        progress=progress,
    )
    return {
        "run": run.pk,
        "status": run.status,
        "erased": len(result.erased),
        "held": len(result.held),
        "skipped": len(result.skipped),
        "failed": len(result.failed),
        "rows": result.counts,
    }


@shared_task(name="retention.erase_run", acks_late=True, reject_on_worker_lost=True)
def erase_run(run_id: int, chunk_size: int | None = None) -> dict:
    return erase_run_now(run_id, chunk_size=chunk_size)
