"""Erasure records: proof that a member was erased, kept without the member's number (PP-02).

Each erased member gets one ``ErasureRecord`` in the chunk's transaction: the keyed hash of its
original member number (HMAC-SHA256 under ``BLIND_INDEX_KEY``, ``subject_hash``), the trigger, the
rows changed per model and the engine's version. ``was_erased`` answers whether a number was
erased without anyone keeping the number; after a database restore the hashes find the members
again (``retention.erasure.reapply``). A re-erasure keeps the first record.
"""

from __future__ import annotations

import json

from django.db import connection
from django.utils import timezone

from accounts.privacy import crypto
from retention.erasure.state import ChunkState
from retention.models import ErasureRecord

ENGINE_VERSION = "1"


def subject_hash(member_number: str) -> str:
    """Keyed hash (HMAC-SHA256 under ``BLIND_INDEX_KEY``) of a member number, for erasure records."""
    return crypto.blind_index("erasure", member_number)


def was_erased(member_number: str) -> bool:
    """Whether a member with this number was erased (PP-02), answered without keeping the number."""
    return ErasureRecord.objects.filter(subject_hash=subject_hash(member_number)).exists()


def write_records(chunk: ChunkState, *, trigger: str, started, request_reference: str, run) -> None:
    """One erasure record per member erased in the chunk; a re-erasure (after a restore) keeps the first."""
    finished = timezone.now()
    hashes = [subject_hash(number) for number in chunk.fresh.values()]
    counts = [dict(sorted(chunk.per_member.get(pk, {}).items())) for pk in chunk.fresh]
    if connection.vendor == "postgresql":
        # Most members of a chunk have the same counts: each distinct document is sent once, in one
        # JSON array, and every record takes its element by position (a 1,000-member chunk sent
        # ~600 kB of quoted JSON strings before, for a handful of distinct documents).
        documents: dict[str, int] = {}
        positions = [documents.setdefault(json.dumps(c), len(documents)) for c in counts]
        meta = ErasureRecord._meta
        qn = connection.ops.quote_name
        column = {f.name: qn(f.column) for f in meta.concrete_fields}
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {qn(meta.db_table)} ({column['subject_hash']}, {column['counts']}, "  # noqa: S608
                f"{column['trigger']}, {column['started_at']}, {column['finished_at']}, "
                f"{column['engine_version']}, {column['request_reference']}, {column['run']}) "
                "SELECT h, (%s::jsonb) -> i, %s, %s, %s, %s, %s, %s FROM unnest(%s::text[], %s::int[]) AS t(h, i) "
                f"ON CONFLICT ({column['subject_hash']}) DO NOTHING",
                ["[" + ",".join(documents) + "]", trigger, started, finished, ENGINE_VERSION, request_reference,
                 run.pk if run else None, hashes, positions],
            )
        return
    ErasureRecord.objects.bulk_create(
        [
            ErasureRecord(subject_hash=digest, trigger=trigger, counts=c, started_at=started, finished_at=finished,
                          engine_version=ENGINE_VERSION, request_reference=request_reference, run=run)
            for digest, c in zip(hashes, counts, strict=True)
        ],
        ignore_conflicts=True,
    )
