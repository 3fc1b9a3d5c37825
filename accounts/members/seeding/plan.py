"""One demo member's rows before they are written, and what every member draws: number, status, product lines.

Members with the indexes in ``MINOR_AGES`` (per hundred) are minors, aged exactly 13 or exactly 16
on the seeding day (PP-03, PP-37, PP-38 have something to act on); the members in
``FILE_MEMBER_INDEXES`` get encrypted demo files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from accounts.members.choices import MemberStatus
from accounts.members.seeding.draws import SeedClock
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    RelatedPerson,
    TransactionRecord,
    Verification,
)

# Encrypted demo files are written only for the members with these indexes: a handful of files
# whatever N is (files are slow to write and each one is a real encrypted blob on disk).
FILE_MEMBER_INDEXES = frozenset(range(1, 7))
# Per hundred members: these indexes are minors, aged exactly 13 or exactly 16 on the seeding day.
MINOR_AGES = {13: 13, 63: 13, 16: 16, 66: 16}


def member_number(index: int) -> str:
    """The member number of the ``index``-th demo member (1-based)."""
    return f"M{index:09d}"


@dataclass
class MemberPlan:
    """One member and its rows, unsaved. Children get ``member_id`` once the member is inserted
    (assigning the unsaved member object instead costs more than generating the row)."""

    member: Member
    product_lines: list[str]
    profile: InstitutionProfile | None = None
    related: list[RelatedPerson] = field(default_factory=list)
    documents: list[IdentityDocument] = field(default_factory=list)
    verifications: list[Verification] = field(default_factory=list)
    instruments: list[PaymentInstrument] = field(default_factory=list)
    devices: list[DeviceRecord] = field(default_factory=list)
    transactions: list[TransactionRecord] = field(default_factory=list)
    # documents that get an encrypted demo file (only for a handful of members)
    with_file: list[IdentityDocument] = field(default_factory=list)


def draw_status(clock: SeedClock, rng: random.Random, member: Member) -> None:
    """Active for most; about one in eight suspended, cancellation requested, cancelled or closed."""
    roll = rng.random()
    if roll < 0.03:
        member.status = MemberStatus.SUSPENDED
    elif roll < 0.06:
        member.status = MemberStatus.CANCELLATION_REQUESTED
    elif roll < 0.10:
        member.status, member.cancelled_at = MemberStatus.CANCELLED, clock.before(rng, 120, 1)
    elif roll < 0.12:
        member.status, member.cancelled_at = MemberStatus.CLOSED, clock.before(rng, 400, 121)


def draw_product_lines(rng: random.Random, institution: bool) -> list[str]:
    """The codes of the product lines a member uses (``accounts.members.seeding.reference.PRODUCT_LINES``)."""
    chosen = ["spot"] if rng.random() < 0.92 else []
    for code, chance in (("margin", 0.3), ("futures", 0.25), ("otc", 0.6 if institution else 0.05), ("earn", 0.3)):
        if rng.random() < chance:
            chosen.append(code)
    return chosen or ["earn"]
