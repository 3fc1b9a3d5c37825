"""Job (PP-37): close and fully erase members under 14, with no legal-retention exception.

Members under 14 are found by date of birth (only the birth-year candidates are decrypted) and by
confirmed underage reports of the request desk, read through the app registry so that retention
never imports requests_desk. Their accounts are closed first; the engine then erases them, inside
its lock re-checking a date of birth corrected since the selection. A legal hold still applies.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.apps import apps
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import selectors
from retention.choices import ErasureTrigger
from retention.erasure.tombstones import is_tombstone_number
from retention.jobs.erasing import erase_candidates
from retention.jobs.results import JobResult, recorded

logger = logging.getLogger(__name__)


#: The request desk's model (issue 6) and what marks a confirmed underage report on it. Read through
#: the app registry so that retention never imports requests_desk.
UNDERAGE_REPORT_MODEL = ("requests_desk", "Request")
UNDERAGE_REPORT_TYPE = "underage_report"
#: Compliance confirms a report by fulfilling it (a refused report names no child).
UNDERAGE_CONFIRMED_STATUS = "fulfilled"
UNDERAGE_REPORT_FIELDS = frozenset({"member", "type", "status"})


def underage_confirmed_member_ids() -> set[int]:
    """Members named by a confirmed underage report (PP-37); nothing if the request desk has no such model.

    Contract with the request desk: ``requests_desk.Request`` with a ``member`` foreign key, a
    ``type`` of ``"underage_report"`` and the status ``"fulfilled"`` once compliance confirmed the
    report. A missing model or field gives no members (and a warning for the field), never a
    crash of the nightly purge.
    """
    try:
        model = apps.get_model(*UNDERAGE_REPORT_MODEL)
    except LookupError:
        return set()
    names = {f.name for f in model._meta.get_fields()}
    if not UNDERAGE_REPORT_FIELDS.issubset(names):
        logger.warning("purge_under_14: %s has no confirmed-underage fields; reports are not read",
                       model._meta.label)
        return set()
    return set(
        model._default_manager.filter(
            type=UNDERAGE_REPORT_TYPE, status=UNDERAGE_CONFIRMED_STATUS, member__isnull=False
        ).values_list("member_id", flat=True)
    )


def under_14_member_ids(*, today: datetime.date, extra_member_ids: Iterable[int] = ()) -> dict[int, str]:
    """Members under 14 on ``today`` by date of birth, plus those named (e.g. by a confirmed report).

    Only the birth-year candidates are decrypted (one query for them); no job decrypts the table.
    """
    found: dict[int, str] = {}
    for member in selectors.under_14_candidates(today=today).only("pk", "member_number", "date_of_birth").iterator(
        chunk_size=2000
    ):
        if member.is_child_on(today):
            found[member.pk] = member.member_number
    named = set(extra_member_ids) - set(found)
    if named:
        # A report stays confirmed after the erasure: the tombstone it now names has nothing left.
        found.update(
            (pk, number)
            for pk, number in Member.objects.filter(pk__in=named).values_list("pk", "member_number")
            if not is_tombstone_number(number)
        )
    return dict(sorted(found.items()))


def _close(member_ids: list[int]) -> int:
    """Close the accounts (stop the service) with a history row each, in a constant number of queries."""
    from simple_history.utils import bulk_update_with_history

    members = list(Member.objects.filter(pk__in=member_ids).exclude(status=MemberStatus.CLOSED))
    for member in members:
        member.status = MemberStatus.CLOSED
    if members:
        bulk_update_with_history(members, Member, ["status"], batch_size=500,
                                 default_change_reason="PP-37: member under 14")
    return len(members)


@recorded("purge_under_14")
def purge_under_14(
    *, dry_run: bool = False, today: datetime.date | None = None, extra_member_ids: Iterable[int] = (),
    chunk_size: int | None = None, bar=None,
) -> JobResult:
    """Close and fully erase members under 14 (PP-37), with no legal-retention exception.

    A legal hold still applies: a held child's account is closed, its erasure waits for the hold.
    """
    today = today or timezone.localdate()
    named = set(extra_member_ids) | underage_confirmed_member_ids()
    candidates = under_14_member_ids(today=today, extra_member_ids=named)
    if dry_run:
        closed = Member.objects.filter(pk__in=list(candidates)).exclude(status=MemberStatus.CLOSED).count()
    elif candidates:
        with transaction.atomic():
            closed = _close(list(candidates))
    else:
        closed = 0

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Inside the engine's lock, re-check the only thing that can change: a date of birth
        # corrected since the selection (the chunk's candidates only are decrypted again).
        still = [m.pk for m in chunk.only("pk", "date_of_birth") if m.pk in named or m.is_child_on(today)]
        return chunk.filter(pk__in=still)

    return erase_candidates(
        candidates, trigger=ErasureTrigger.UNDER_14, eligible=eligible, dry_run=dry_run, chunk_size=chunk_size,
        bar=bar, extra={"closed": closed},
    )
