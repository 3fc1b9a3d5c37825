"""Verification of the consent state table against the ledger: drift found, and fixed on request (PP-05)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from consents.ledger import members_lock, states_upsert
from consents.models import ConsentState
from consents.selectors import expected_states, iter_member_id_chunks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DriftRow:
    member_id: int
    purpose_id: int
    problem: str  # "missing", "extra" or "differs: field, field"


@dataclass
class DriftReport:
    members: int = 0
    pairs: int = 0  # (member, purpose) pairs with events
    drift: list[DriftRow] = field(default_factory=list)
    fixed: int = 0

    @property
    def drift_count(self) -> int:
        return len(self.drift)


def _compare(member_ids: list[int]) -> tuple[list[DriftRow], dict[tuple[int, int], object]]:
    expected = expected_states(member_ids=member_ids)
    actual = {
        (row["member_id"], row["purpose_id"]): row
        for row in ConsentState.objects.filter(member_id__in=member_ids).order_by().values(
            "member_id", "purpose_id", "granted", "by_guardian", "policy_version_id", "last_event_id", "changed_at"
        )
    }
    drift = []
    for pair in sorted(expected.keys() | actual.keys()):
        want, have = expected.get(pair), actual.get(pair)
        if have is None:
            drift.append(DriftRow(*pair, "missing"))
        elif want is None:
            drift.append(DriftRow(*pair, "extra"))
        else:
            values = want.state_values()
            differing = [name for name, value in values.items() if have[name] != value]
            if differing:
                drift.append(DriftRow(*pair, "differs: " + ", ".join(differing)))
    return drift, expected


def consent_state_drift(
    *, fix: bool = False, dry_run: bool = False, chunk_size: int = 2000, bar=None
) -> DriftReport:
    """Recompute every member's consent state from the ledger and compare it with ``ConsentState``.

    Chunked by member (keyset on the primary key), two reads per chunk, nothing decrypted. A pair
    that looks different is re-checked under the members' locks, so an event recorded meanwhile is
    not reported as drift. ``fix`` rewrites drifting rows from the ledger (and deletes states that
    have no event); ``dry_run`` never writes, even with ``fix``. Expected drift: 0.
    """
    report = DriftReport()
    for member_ids in iter_member_id_chunks(size=chunk_size):
        drift, expected = _compare(member_ids)
        report.members += len(member_ids)
        report.pairs += len(expected)
        if drift:
            suspect = sorted({row.member_id for row in drift})
            with transaction.atomic():
                members_lock(suspect)
                drift, expected = _compare(suspect)
                report.drift.extend(drift)
                if fix and not dry_run and drift:
                    report.fixed += _drift_fix(drift, expected)
        if bar is not None:
            bar.update(len(member_ids))
    return report


def _drift_fix(drift: list[DriftRow], expected: dict) -> int:
    extra = [(row.member_id, row.purpose_id) for row in drift if row.problem == "extra"]
    rewrite = {
        (row.member_id, row.purpose_id): expected[(row.member_id, row.purpose_id)]
        for row in drift if row.problem != "extra"
    }
    states_upsert(rewrite)
    for member_id, purpose_id in extra:  # states without any event: rare, one by one is fine
        ConsentState.objects.filter(member_id=member_id, purpose_id=purpose_id).delete()
    return len(rewrite) + len(extra)
