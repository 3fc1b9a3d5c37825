"""Re-application after a database restore: members an erasure record says were erased are erased again.

A database restored from an older backup brings back members erased since. Their erasure records
survive (the daily copy outside the database, ``manage.py erasure_records import``), and hold only
the keyed hash of each original member number. ``erased_members_present`` hashes the member
numbers in primary-key chunks and matches them against the records (nothing is decrypted);
``reapply_erasures`` (``manage.py reapply_erasures``) erases the matches again with their
original trigger and request reference (PP-02).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from accounts.models import Member
from retention.erasure import runner
from retention.erasure.records import subject_hash
from retention.erasure.tombstones import is_tombstone_number
from retention.models import ErasureRecord


@dataclass
class ReapplyResult:
    scanned: int
    matched: int
    engine: runner.EngineResult


def erased_members_present(*, chunk_size: int = 2000, progress=None) -> dict[int, tuple[str, str]]:
    """Members whose keyed hash matches an erasure record: {pk: (trigger, request reference)}.

    Reads member numbers in primary-key chunks and asks for the matching records of each chunk with
    one ``IN`` query; nothing is decrypted, no row is fetched twice.
    """
    advance = getattr(progress, "update", progress) if progress is not None else None
    found: dict[int, tuple[str, str]] = {}
    last = 0
    while True:
        rows = list(
            Member.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "member_number")[:chunk_size]
        )
        if not rows:
            break
        last = rows[-1][0]
        hashes = {subject_hash(number): pk for pk, number in rows if not is_tombstone_number(number)}
        for digest, trigger, reference in ErasureRecord.objects.filter(subject_hash__in=list(hashes)).values_list(
            "subject_hash", "trigger", "request_reference"
        ):
            found[hashes[digest]] = (trigger, reference)
        if advance is not None:
            advance(len(rows))
    return found


def reapply_erasures(*, dry_run: bool = False, chunk_size: int | None = None, progress=None) -> ReapplyResult:
    """After a database restore, erase again every member an erasure record says was erased (PP-02)."""
    scan_progress = progress
    found = erased_members_present(progress=scan_progress)
    scanned = Member.objects.count()
    result = runner.EngineResult()
    by_trigger: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, key in found.items():
        by_trigger[key].append(pk)
    for (trigger, reference), ids in sorted(by_trigger.items()):
        result.merge(
            runner.erase_members(member_ids=ids, trigger=trigger, request_reference=reference,
                                 chunk_size=chunk_size, dry_run=dry_run)
        )
    return ReapplyResult(scanned=scanned, matched=len(found), engine=result)
