"""One chunk: one transaction that locks its members, re-selects them, erases them and records it.

``process_chunk`` runs a chunk of members (``ERASURE_CHUNK_SIZE``) in one transaction: it locks
the members (``retention.locks``; members locked by another run are that run's and reported as
skipped), re-selects them (``eligible``, inside the lock), skips members under an active legal
hold and tombstones already erased (except those whose retention has passed: *catch-up*), erases
the rest (``retention.erasure.apply``), writes one ``ErasureRecord`` per erased member and the
run's item statuses and counts, and commits. A killed worker therefore leaves every member either
untouched or fully erased, and a rerun finishes the job. Items claimed by a worker
(``items_claimed``, ``retention.erasure.claims``) exist already and are not upserted again; the
erased members' items take their status in the UPDATE that rewrites their member numbers
(``ChunkState.merged``). After commit the file outbox is drained (by ``drain`` when given: a
claimer's background drain) and the registered cache keys of the erased members are deleted; a
dry run rolls back instead.

On PostgreSQL the chunk runs ``set_config('privacy.erasure', 'on', true)`` so the consent ledger's
append-only trigger lets it delete the member's consent events. A chunk that fails raises
``ChunkFailed`` with a clear error naming the model and the reason, never a value.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.db import DatabaseError, InterfaceError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from consents.ledger import ledger_erasure_allowed
from retention import locks, outbox
from retention.choices import ItemStatus
from retention.erasure import apply, records
from retention.erasure.cache_keys import delete_cached
from retention.erasure.expressions import where_in
from retention.erasure.plan import max_retention_days
from retention.erasure.run_items import add_run_counts, merged_item_status, set_item_status, upsert_items
from retention.erasure.state import ChunkState
from retention.erasure.statements import ErasureError
from retention.erasure.tombstones import is_tombstone_number
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem, LegalHold


@dataclass
class ChunkOutcome:
    erased: dict[int, str] = field(default_factory=dict)
    held: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    tombstones: dict[int, str] = field(default_factory=dict)
    files: bool = False
    cache_members: dict[int, str] = field(default_factory=dict)


def process_chunk(
    ids: list[int],
    *,
    trigger: str,
    run: ErasureRun | None,
    request_reference: str,
    dry_run: bool,
    eligible,
    now: datetime.datetime,
    items_claimed: bool = False,
    drain=None,
) -> ChunkOutcome:
    outcome = ChunkOutcome()
    started = timezone.now()
    chunk = ChunkState(trigger=trigger, now=now, fresh={}, closure={}, catchup=[])
    try:
        # PP-02 outranks the ledger's permanence: inside this transaction the consent ledger's
        # trigger lets the chunk delete its members' consent events (consents.ledger).
        with ledger_erasure_allowed():
            chunk.current = Member._meta.label
            rows = locks.lock_members(Member.objects.filter(where_in("pk", ids)))
            numbers = {pk: number for pk, number, _status, _cancelled in rows}
            if eligible is not None and rows:
                again = eligible(Member.objects.filter(where_in("pk", numbers))).order_by()
                still = set(again.values_list("pk", flat=True))
            else:
                still = set(numbers)
            held = _active_holds(sorted(still), timezone.localdate(now))
            retention_limit = now - datetime.timedelta(days=max_retention_days())
            for pk, number, status, cancelled_at in rows:
                if pk not in still:
                    outcome.skipped[pk] = number
                elif pk in held:
                    outcome.held[pk] = number
                elif status == MemberStatus.CLOSED and is_tombstone_number(number):
                    outcome.skipped[pk] = number  # already erased; nothing more unless retention passed
                    if cancelled_at is not None and cancelled_at <= retention_limit:
                        chunk.catchup.append(pk)
                else:
                    chunk.fresh[pk] = number
                    chunk.closure[pk] = cancelled_at or now
            # Members locked by another run (skip_locked) are that run's: reported as skipped.
            missing = sorted(set(ids) - set(numbers))
            if missing:
                outcome.skipped.update(
                    dict(Member.objects.filter(pk__in=missing).values_list("pk", "member_number"))
                )
            if run is not None and numbers and not items_claimed:
                upsert_items(run, numbers)  # claimed items exist already (``claims``): nothing to add
            if run is not None:
                # The erased members' items take their status in the UPDATE that rewrites their numbers.
                chunk.merged[ErasureRunItem] = merged_item_status(run, ItemStatus.ERASED, now)
            if chunk.fresh or chunk.catchup:
                apply.erase_chunk(chunk)
            outcome.erased = dict(chunk.fresh)
            outcome.tombstones = dict(chunk.tombstones)
            if chunk.fresh:
                chunk.current = ErasureRecord._meta.label
                records.write_records(chunk, trigger=trigger, started=started, request_reference=request_reference,
                                      run=run)
            if run is not None:
                chunk.current = ErasureRun._meta.label
                # Erased members without a tombstone rewrite (none, normally) are marked here.
                set_item_status(run, {pk: n for pk, n in outcome.erased.items() if pk not in chunk.tombstones},
                                ItemStatus.ERASED, now)
                set_item_status(run, outcome.held, ItemStatus.HELD, now)
                set_item_status(run, {pk: n for pk, n in outcome.skipped.items() if pk in numbers},
                                ItemStatus.SKIPPED, now)
                add_run_counts(run, chunk.totals)
            outcome.counts = dict(chunk.totals)
            outcome.files = bool(chunk.files)
            outcome.cache_members = {pk: chunk.fresh[pk] for pk in chunk.fresh}
            if dry_run:
                transaction.set_rollback(True)
            else:
                transaction.on_commit(lambda: _after_commit(outcome, drain or outbox.drain))
    except (SoftTimeLimitExceeded, InterfaceError):
        raise
    except Exception as exc:
        raise ChunkFailed(_describe(exc, chunk.current)) from exc
    return outcome


class ChunkFailed(Exception):
    """A chunk could not be erased; the message names the model and the reason, never a value."""


def _after_commit(outcome: ChunkOutcome, drain) -> None:
    if outcome.files:
        drain()
    if outcome.cache_members:
        delete_cached(outcome.cache_members)


def _active_holds(member_ids: list[int], today: datetime.date) -> set[int]:
    if not member_ids:
        return set()
    return set(
        LegalHold.objects.filter(where_in("member_id", member_ids), released_at__isnull=True, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .order_by()  # DISTINCT on the member alone, not on the model's ordering columns too
        .values_list("member_id", flat=True)
        .distinct()
    )


def _describe(exc: BaseException, current: str) -> str:
    """A clear error without values: the model, and the kind of refusal."""
    if isinstance(exc, ErasureError):
        return str(exc)
    if isinstance(exc, DatabaseError):
        diag = getattr(exc.__cause__, "diag", None)
        table = getattr(diag, "table_name", None)
        model_label = current
        if table:
            for model in apps.get_models():
                if model._meta.db_table == table:
                    model_label = model._meta.label
        constraint = getattr(diag, "constraint_name", None)
        state = getattr(exc.__cause__, "sqlstate", None)
        detail = ", ".join(x for x in (f"SQLSTATE {state}" if state else "", f"constraint {constraint}"
                                       if constraint else "") if x)
        return f"{model_label or 'database'}: the database refused the change ({type(exc).__name__}" + (
            f"; {detail})" if detail else ")")
    return f"{current or 'engine'}: {type(exc).__name__}"
