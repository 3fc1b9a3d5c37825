"""Retention catch-up: what tombstones kept for legal retention is anonymised once it has passed (PP-13).

An erased member's tombstone keeps its closure date (``cancelled_at``) while something is retained
(e.g. transaction records five years after closure). ``expire_retention`` (the scheduled job
``expire_legal_retention``) erases again the tombstones whose longest legal retention period has
passed: the engine anonymises the retained rows and clears that date, so the catch-up happens once.
"""

from __future__ import annotations

import datetime

from django.db.models.query import QuerySet
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention.choices import ErasureTrigger
from retention.erasure import runner
from retention.erasure.plan import max_retention_days
from retention.erasure.tombstones import TOMBSTONE_PREFIX


def tombstones_due_for_retention(now: datetime.datetime | None = None) -> QuerySet[Member]:
    """Erased members (tombstones) whose longest legal retention has passed and is not yet applied."""
    now = now or timezone.now()
    limit = now - datetime.timedelta(days=max_retention_days())
    return Member.objects.filter(
        status=MemberStatus.CLOSED, member_number__startswith=TOMBSTONE_PREFIX, cancelled_at__lte=limit
    )


def expire_retention(
    *, dry_run: bool = False, chunk_size: int | None = None, progress=None, now: datetime.datetime | None = None
) -> runner.EngineResult:
    """Anonymise what tombstones kept for legal retention, once the retention has passed (PP-13)."""
    ids = list(tombstones_due_for_retention(now).order_by("pk").values_list("pk", flat=True))
    return runner.erase_members(member_ids=ids, trigger=ErasureTrigger.CANCELLATION, chunk_size=chunk_size,
                                dry_run=dry_run, progress=progress, now=now)
