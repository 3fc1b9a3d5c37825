"""Job (PP-13): anonymise what erased members kept for legal retention once the period has passed.

The selection and the erasure are the engine's retention catch-up
(``retention.erasure.expiry``); the job reports the tombstones selected and the rows changed.
"""

from __future__ import annotations

import datetime

from retention.erasure import expiry
from retention.jobs.results import JobResult, recorded


@recorded("expire_legal_retention")
def expire_legal_retention(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int | None = None, bar=None,
) -> JobResult:
    """Anonymise what erased members kept for legal retention once the longest period has passed (PP-13).

    An erased member is a closed tombstone that may still hold pseudonymised transaction records
    and disclosure links for the periods of ``LEGAL_RETENTION_DAYS``; when the last of those
    periods has run out, the engine erases what remains. A tombstone already emptied is not
    selected again, so the job is idempotent.
    """
    candidates = list(expiry.tombstones_due_for_retention(now).order_by("pk").values_list("pk", flat=True))
    if bar is not None:
        bar.total = len(candidates)
        bar.refresh()
    result = expiry.expire_retention(dry_run=dry_run, chunk_size=chunk_size, now=now,
                                     progress=bar.update if bar is not None else None)
    rows = dict(result.counts)
    return JobResult(selected=len(candidates), changed=0 if dry_run else sum(rows.values()), dry_run=dry_run,
                     details={"rows": rows})
