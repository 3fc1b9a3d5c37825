"""Tombstones: what an erased member row becomes, and how its new member number is drawn.

An erased member is not deleted: its row becomes a *tombstone* (status closed, no identity, a
random member number), so records kept for legal retention still point at a row that identifies
nobody. A tombstone's number is ``X`` and 15 random lower-case letters or digits (about 77 bits);
real member numbers are ``M`` and digits, so a tombstone is recognisable and never collides. The
engine draws the numbers in SQL, per row, from the database's CSPRNG (``TombstoneNumber``);
hand-written tools draw them in Python (``new_tombstone_number``).
"""

from __future__ import annotations

import re
import secrets
import string

from django.db import NotSupportedError
from django.db.models import CharField
from django.db.models.expressions import Expression

TOMBSTONE_PREFIX = "X"
TOMBSTONE_LENGTH = 15
_TOMBSTONE_ALPHABET = string.ascii_lowercase + string.digits
_TOMBSTONE_RE = re.compile(rf"^{TOMBSTONE_PREFIX}[0-9a-z]{{{TOMBSTONE_LENGTH}}}$")


def is_tombstone_number(member_number: str) -> bool:
    return bool(_TOMBSTONE_RE.match(member_number or ""))


def new_tombstone_number() -> str:
    """A tombstone number drawn in Python (hand-written tools; the engine draws them in SQL)."""
    return TOMBSTONE_PREFIX + "".join(secrets.choice(_TOMBSTONE_ALPHABET) for _ in range(TOMBSTONE_LENGTH))


class TombstoneNumber(Expression):
    """A tombstone's member number, drawn per row by the database's CSPRNG: ``X`` + 15 hex characters."""

    output_field = CharField()

    def as_sql(self, compiler, connection):  # pragma: no cover - only the two supported databases
        raise NotSupportedError(f"Tombstone numbers are not implemented for {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        return "%s || substr(replace(gen_random_uuid()::text, '-', ''), 1, %s)", [TOMBSTONE_PREFIX, TOMBSTONE_LENGTH]

    def as_sqlite(self, compiler, connection):
        return "%s || substr(lower(hex(randomblob(8))), 1, %s)", [TOMBSTONE_PREFIX, TOMBSTONE_LENGTH]
