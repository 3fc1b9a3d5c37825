"""Writing the demo members, chunk by chunk: ``demo_members_seed`` behind ``manage.py seed_demo --members N``.

Each chunk first reads which member numbers exist and draws only the others, then writes all their
rows with one ``bulk_create`` per model, and their encrypted demo files, in one transaction: a
rerun (or a run after a crash) adds only what is missing.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter
from collections.abc import Iterable

from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from accounts.members.seeding.documents import scan_png
from accounts.members.seeding.members import MemberGenerator
from accounts.members.seeding.plan import MINOR_AGES, MemberPlan, member_number
from accounts.members.seeding.reference import demo_reviewer_id, product_lines_ensure
from accounts.members.volumes import volumes_add
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    TransactionRecord,
    Verification,
)
from accounts.privacy.storage import document_upload_to, protected_storage

DEFAULT_SEED = 2026
DEFAULT_CHUNK_SIZE = 500
# Rows per INSERT: bounded so that a chunk's statements stay well under PostgreSQL's parameter
# limit; SQLite lowers it further to its own limit (999 parameters per statement).
INSERT_BATCH_SIZE = 2000


def _insert(plans: list[MemberPlan], lines: dict[str, ProductLine]) -> Counter:
    """Insert a chunk's rows: one ``bulk_create`` per model (batched), parents before children."""

    def rows(attr: str) -> list:
        return [row for plan in plans for row in getattr(plan, attr)]

    batch = INSERT_BATCH_SIZE
    Member.objects.bulk_create([plan.member for plan in plans], batch_size=batch)  # sets each pk
    for plan in plans:
        member_id = plan.member.pk
        if plan.profile is not None:
            plan.profile.member_id = member_id
        for attr in ("related", "documents", "verifications", "instruments", "devices", "transactions"):
            for row in getattr(plan, attr):
                row.member_id = member_id
        # Data of a service belongs to one of the member's lines (PP-19), in turn: no draw, so the
        # seeded values stay those of earlier versions.
        codes = plan.product_lines
        for position, row in enumerate([*plan.devices, *plan.transactions]):
            row.product_line_id = lines[codes[position % len(codes)]].pk
    through = Member.product_lines.through
    through.objects.bulk_create(
        [through(member_id=p.member.pk, productline_id=lines[code].pk) for p in plans for code in p.product_lines],
        batch_size=batch,
    )
    profiles = [plan.profile for plan in plans if plan.profile]
    InstitutionProfile.objects.bulk_create(profiles, batch_size=batch)
    # Related persons first: their documents need their primary keys (returned by bulk_create).
    RelatedPerson.objects.bulk_create(rows("related"), batch_size=batch)
    counts = Counter(
        {
            "members created": len(plans),
            "institutions": len(profiles),
            "minors": sum(1 for p in plans if int(p.member.member_number[1:]) % 100 in MINOR_AGES),
            "related persons": len(rows("related")),
        }
    )
    for label, model, attr in (
        ("identity documents", IdentityDocument, "documents"),
        ("verifications", Verification, "verifications"),
        ("payment instruments", PaymentInstrument, "instruments"),
        ("device records", DeviceRecord, "devices"),
        ("transactions", TransactionRecord, "transactions"),
    ):
        objects = rows(attr)
        model.objects.bulk_create(objects, batch_size=batch)
        counts[label] = len(objects)
    volumes_add(rows("transactions"), new_members=True)  # the plain daily totals over the encrypted amounts (PP-10)
    return counts


def _seed_chunk(generator: MemberGenerator, indexes: range, lines: dict[str, ProductLine], files: bool) -> Counter:
    numbers = [member_number(i) for i in indexes]
    existing = set(Member.objects.filter(member_number__in=numbers).values_list("member_number", flat=True))
    todo = [i for i in indexes if member_number(i) not in existing]
    counts = Counter({"members skipped": len(existing)})
    if not todo:
        return counts
    plans = [generator.plan(i) for i in todo]
    written: list[str] = []
    try:
        with transaction.atomic():
            # All of a chunk or none of it: a rerun after a crash finds no half-made member.
            if files:
                for plan in plans:
                    for document in plan.with_file:
                        rng = random.Random(f"demo-file:{generator.seed}:{plan.member.member_number}")  # noqa: S311
                        scan = ContentFile(scan_png(rng))
                        name = protected_storage.save(document_upload_to(document, "scan.png"), scan)
                        written.append(name)
                        document.file = name
            counts.update(_insert(plans, lines))
            counts["encrypted files"] = len(written)
    except BaseException:
        for name in written:  # the rows are gone with the transaction: so are their files
            protected_storage.delete(name)
        raise
    return counts


def demo_members_seed(
    *,
    count: int,
    first: int = 1,
    seed: int = DEFAULT_SEED,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    today: datetime.date | None = None,
    files: bool = True,
    bar=None,
) -> dict[str, int]:
    """Create demo members ``M{first:09d}`` … ``M{count:09d}`` that do not exist yet, with their rows.

    Returns counts of what was created (and how many members already existed). ``bar`` is a
    progress bar (``accounts.progress.progress``) advanced by members processed. ``first`` lets
    several processes share one range (the seeding benchmark); the values do not depend on it.
    """
    if count < 0 or chunk_size < 1 or first < 1:
        raise ValueError("count must be >= 0, first >= 1 and chunk_size >= 1")
    today = today or timezone.localdate()
    lines = product_lines_ensure()
    generator = MemberGenerator(seed=seed, today=today, reviewer_id=demo_reviewer_id())
    totals: Counter = Counter()
    if bar is not None:
        bar.reset(total=max(count - first + 1, 0))
    for start in range(first, count + 1, chunk_size):
        indexes = range(start, min(start + chunk_size, count + 1))
        totals.update(_seed_chunk(generator, indexes, lines, files))
        if bar is not None:
            bar.update(len(indexes))
    # Marked for translation only: the keys stay English, ``seed_demo`` shows them translated.
    keys = (
        gettext_noop("members created"), gettext_noop("members skipped"), gettext_noop("institutions"),
        gettext_noop("related persons"), gettext_noop("minors"), gettext_noop("identity documents"),
        gettext_noop("encrypted files"), gettext_noop("verifications"), gettext_noop("payment instruments"),
        gettext_noop("device records"), gettext_noop("transactions"),
    )
    return {key: totals.get(key, 0) for key in keys}


def iter_plans(*, start: int, stop: int, seed: int, today: datetime.date, lean: bool = False) -> Iterable[MemberPlan]:
    """Plans for indexes ``start`` to ``stop - 1`` (for the benchmarks' bulk loaders)."""
    generator = MemberGenerator(seed=seed, today=today)
    for index in range(start, stop):
        yield generator.plan(index, lean=lean)
