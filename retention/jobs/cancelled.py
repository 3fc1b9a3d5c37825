"""Job (PP-33): erase members whose cancellation is older than the grace period.

Members cancelled more than ``CANCELLATION_GRACE_DAYS`` ago are handed to the engine; inside its
lock a member reinstated since the selection (or whose cancellation date moved) is skipped, a held
member stays cancelled until the hold ends, and data under legal retention is pseudonymised.
"""

from __future__ import annotations

import datetime

from django.db.models import QuerySet
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import selectors
from retention.choices import ErasureTrigger
from retention.jobs.erasing import erase_candidates
from retention.jobs.results import JobResult, recorded


# --- PP-33 -------------------------------------------------------------------------------------------
@recorded("anonymise_cancelled")
def anonymise_cancelled(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int | None = None,
    bar=None,
) -> JobResult:
    """Erase members whose cancellation is older than ``CANCELLATION_GRACE_DAYS`` (PP-33).

    The engine turns each erased member into a closed tombstone, so the next run does not select
    it again. Held members stay cancelled and are retried every run until their hold ends. Data
    under legal retention is pseudonymised by the engine as the data map says.
    """
    now = now or timezone.now()
    cutoff = selectors.cancellation_cutoff(now=now)
    candidates = dict(selectors.members_cancelled_past_grace(now=now).order_by("pk").values_list("pk",
                                                                                                "member_number"))

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Inside the engine's lock: a member reinstated (or whose cancellation date moved) since
        # the selection above is no longer erased.
        return chunk.filter(status=MemberStatus.CANCELLED, cancelled_at__lt=cutoff)

    return erase_candidates(
        candidates, trigger=ErasureTrigger.CANCELLATION, eligible=eligible, dry_run=dry_run, chunk_size=chunk_size,
        bar=bar,
    )
