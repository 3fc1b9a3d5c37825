"""Handing a job's members to the erasure engine, with an approved run, and reporting its counts.

``erase_candidates`` is shared by the erasing jobs (cancelled accounts, under 14, service
shutdown): it creates the ``ErasureRun`` the schedule approves (none for a dry run), calls
``retention.erasure.runner.erase_members`` with the job's ``eligible`` re-selection and progress
bar, and turns the engine's result into the job's ``JobResult`` (erased, held, skipped, failed,
rows per model). Failures are logged by member count and run, never with personal data.
"""

from __future__ import annotations

import logging

from retention import services
from retention.erasure import runner
from retention.jobs.results import JobResult

logger = logging.getLogger(__name__)


def _engine_details(result) -> dict:
    return {
        "erased": len(result.erased),
        "held": len(result.held),
        "skipped": len(result.skipped),
        "failed": len(result.failed),
        "rows": dict(result.counts),
    }


def erase_candidates(
    candidates: dict[int, str],
    *,
    trigger: str,
    eligible,
    dry_run: bool,
    chunk_size: int | None,
    bar,
    product_line: str = "",
    extra: dict | None = None,
) -> JobResult:
    """Erase ``candidates`` ({pk: member number}) through the engine, under a run the schedule approves."""
    if not candidates:
        return JobResult(selected=0, changed=0, dry_run=dry_run, details={**(extra or {}), "erased": 0, "held": 0,
                                                                          "skipped": 0, "failed": 0, "rows": {}})
    if bar is not None:
        bar.total = len(candidates)
        bar.refresh()
    run = None if dry_run else services.erasure_run_create_approved(trigger=trigger, product_line=product_line)
    result = runner.erase_members(
        member_ids=list(candidates), trigger=trigger, run=run, chunk_size=chunk_size, dry_run=dry_run,
        eligible=eligible, progress=bar.update if bar is not None else None,
    )
    details = {**(extra or {}), **_engine_details(result)}
    if run is not None:
        details["run"] = run.pk
    if result.failed:
        # Member numbers and the engine's reason only: no personal data in logs.
        logger.warning("%s: %d member(s) failed to erase; see erasure run #%s", trigger, len(result.failed),
                       details.get("run"))
    return JobResult(
        selected=len(candidates), changed=0 if dry_run else len(result.erased), dry_run=dry_run, details=details
    )
