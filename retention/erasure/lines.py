"""One product line's rows of members who keep another line: erased with the engine's plan (PP-19).

A product line's shutdown erases whole members who used only that line (``runner.erase_members``,
trigger service shutdown). Members who keep another line stay, but the closed line's rows of every
model the data map declares *data of a service* (``DataMap.product_line_field``) go, each model
treated as the engine treats the same rows when it erases their member (``plan()``, the same
``assignment`` per field, the same set-based ``statements``):

- a model the map deletes (``DELETE_ROW``, no legal retention: device records) - one ``DELETE``;
- a model kept for legal retention (``RETAIN_THEN_PSEUDONYMISE``: transaction records, PP-13) -
  detached from the person the way the engine detaches them: the rows move to a *tombstone* of
  their own (status closed, random number, closure date now: what an erased member becomes), one
  per member and line, and every field the plan empties while a retention runs (the counterparty
  nickname becomes a token) is emptied in the same ``UPDATE``. The tombstone is an erased member
  like any other: the retention catch-up (``retention.erasure.expiry``) anonymises the rows once
  the legal retention has passed.

Rows of the member's other lines, and rows without a line (``product_line_attribution_report``
lists them), are kept. Members under a legal hold in force are skipped, as the engine skips them.
Per chunk of members: one transaction, a fixed number of statements per model, whatever the
number of members or rows. Rerunnable: a chunk commits whole; rows already moved belong to a
tombstone and are not selected again.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member, ProductLine
from accounts.privacy.datamap import service_scoped_models
from retention.choices import ErasureTrigger
from retention.erasure.expressions import where_in
from retention.erasure.plan import CLEAR_M2M, CLOSURE, IMPOSSIBLE, SKIP, TOMBSTONE, ModelPlan, assignment, plan
from retention.erasure.state import ChunkState
from retention.erasure.statements import ErasureError, delete_rows, execute
from retention.erasure.tombstones import new_tombstone_number
from retention.locks import take_write_lock


@dataclass(frozen=True)
class LinePlan:
    """A service-scoped model: its erasure plan and the field naming the line of each row."""

    plan: ModelPlan
    line_field: str

    @property
    def model(self) -> type[models.Model]:
        return self.plan.model

    @property
    def label(self) -> str:
        return self.plan.label

    @property
    def detached(self) -> bool:
        """Kept for a legal retention: moved to a tombstone rather than deleted."""
        return bool(self.plan.retention_days) or not self.plan.has_delete_row

    def rows(self, line: ProductLine, member_ids: Iterable[int]):
        return self.plan.queryset(member_ids).filter(**{self.line_field: line})


@cache
def line_plans() -> tuple[LinePlan, ...]:
    """The engine's plans of the models the data map declares data of a service, children first."""
    scoped = dict(service_scoped_models())
    found = tuple(LinePlan(plan=p, line_field=scoped[p.model]) for p in plan() if p.model in scoped)
    for lp in found:
        if lp.detached and lp.plan.lookup != "member":
            raise ImproperlyConfigured(f"{lp.label}: a retained service-scoped model needs a 'member' foreign key.")
    return found


@dataclass
class LineErasure:
    """What ``erase_line_rows`` did to one chunk (or all of them): rows per model, members, tombstones."""

    rows: dict[str, int] = field(default_factory=dict)
    members: int = 0
    held: int = 0
    tombstones: int = 0

    def merge(self, other: LineErasure) -> None:
        for label, n in other.rows.items():
            self.rows[label] = self.rows.get(label, 0) + n
        self.members += other.members
        self.held += other.held
        self.tombstones += other.tombstones


def erase_line_rows(
    *, line: ProductLine, member_ids: list[int], held: set[int], now: datetime.datetime | None = None,
) -> LineErasure:
    """Erase ``line``'s service-scoped rows of ``member_ids`` in one transaction (see the module docstring).

    ``held`` are the members of the chunk under a legal hold in force: their rows stay.
    """
    now = now or timezone.now()
    result = LineErasure(held=len(held & set(member_ids)))
    ids = sorted(set(member_ids) - held)
    if not ids:
        return result
    chunk = ChunkState(trigger=ErasureTrigger.SERVICE_SHUTDOWN, now=now, fresh={}, closure={}, catchup=[])
    with transaction.atomic():
        take_write_lock()
        plans = line_plans()
        retained = [lp for lp in plans if lp.detached]
        tombstones = _tombstones_for(chunk, line, retained, ids, now)
        result.tombstones = len(tombstones)
        for lp in plans:
            qs = lp.rows(line, ids)
            if lp.detached:
                if tombstones:
                    _detach(chunk, lp, qs, tombstones)
            else:
                files = [fp.name for fp in lp.plan.file_fields]
                delete_rows(chunk, lp.model, qs, lp.plan.lookup, files)
    result.rows = dict(chunk.totals)
    result.members = len(ids)
    return result


def _tombstones_for(chunk: ChunkState, line: ProductLine, retained: list[LinePlan], ids: list[int],
                    now: datetime.datetime) -> dict[int, int]:
    """{member pk: new tombstone pk} for the members with retained rows of ``line``: one query a model, one insert."""
    owners: set[int] = set()
    for lp in retained:
        chunk.current = lp.label
        owners.update(lp.rows(line, ids).order_by().values_list("member_id", flat=True).distinct())
    if not owners:
        return {}
    chunk.current = Member._meta.label
    order = sorted(owners)
    created = Member.objects.bulk_create([
        Member(member_number=new_tombstone_number(), status=MemberStatus.CLOSED, registered_at=now, cancelled_at=now)
        for _ in order
    ])
    return {pk: tombstone.pk for pk, tombstone in zip(order, created, strict=True)}


def _detach(chunk: ChunkState, lp: LinePlan, qs, tombstones: dict[int, int]) -> None:
    """One UPDATE: the rows move to their member's tombstone, the fields a running retention empties are emptied."""
    changes: dict[str, object] = {}
    for fp in lp.plan.fields:
        if fp.name == lp.plan.lookup:
            continue
        value = assignment(lp.plan, fp, "running")
        if value is SKIP:
            continue
        if value in (IMPOSSIBLE, CLEAR_M2M, TOMBSTONE, CLOSURE):
            raise ErasureError(f"{lp.label}.{fp.name}: cannot be emptied for one product line ({fp.action.label})")
        changes[fp.name] = value
    changes["member"] = Case(
        *(When(member_id=pk, then=Value(tomb)) for pk, tomb in tombstones.items()),
        output_field=Member._meta.pk.__class__(),
    )
    execute(chunk, lp.model, qs.filter(where_in("member_id", list(tombstones))), "member", "update", changes)
