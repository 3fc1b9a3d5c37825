"""Applying the plan to one chunk's members: every model's statements, in order, inside the chunk.

``erase_chunk`` runs the chunk's statements in this order: the admin log entries of the erased
objects, one presence probe (``retention.erasure.probe``), the member rows first (their new
tombstone numbers are copied into history and references), then every other planned model that
holds rows of the chunk, children first, each at most once per retention group - *running*
(kept and detached), *expired* (anonymised or deleted) and *catch-up* (tombstones whose retention
has passed) - then the copies of the member number, and finally the names of the files to delete
go to the outbox in the same transaction.

``_apply`` turns one model's plan into its statements for one group: a DELETE when the model
declares DELETE_ROW (unless its rows are kept for a retention that still runs; the member row
never goes), otherwise the many-to-many links it clears and one UPDATE of what
``plan.assignment`` writes into each field.
"""

from __future__ import annotations

from django.db import connection, models
from django.db.models import F, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce

from accounts.members import volumes
from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention import outbox
from retention.erasure.plan import (
    CLEAR_M2M,
    CLOSURE,
    IMPOSSIBLE,
    SKIP,
    TOMBSTONE,
    FieldPlan,
    ModelPlan,
    assignment,
    plan,
)
from retention.erasure.probe import present_models
from retention.erasure.references import rewrite_member_numbers, scrub_log_entries
from retention.erasure.state import ChunkState
from retention.erasure.statements import ErasureError, delete_rows, execute, returning
from retention.erasure.tombstones import TombstoneNumber


def erase_chunk(chunk: ChunkState) -> None:
    """Run every statement of the chunk in order (see the module docstring), in its transaction."""
    plans = plan()
    if chunk.fresh:
        scrub_log_entries(chunk, plans)
    chunk.current = "presence probe"
    present = present_models(plans, sorted({*chunk.fresh, *chunk.catchup}))
    # The member rows first: their new (tombstone) numbers are copied into history and references.
    # Nothing else depends on the member row's values: every other model is found by member id.
    ordered = [p for p in plans if p.is_subject and not p.is_history]
    ordered += [p for p in plans if p not in ordered and p.model in present]
    rewritten: set[int] = set()  # members whose orders were anonymised in place (times to the year)
    for p in ordered:
        if p.retention_days is None:
            _apply(chunk, p, sorted(chunk.fresh), "erase")
            continue
        running, expired = chunk.split(p.retention_days)
        _apply(chunk, p, running, "running")
        _apply(chunk, p, expired, "expired")
        _apply(chunk, p, chunk.catchup, "catchup")
        if p.model is volumes.VOLUME_SOURCE:
            rewritten.update(expired, chunk.catchup)
    # Kept orders (running retention) keep their amounts and days; anonymised ones moved to the year.
    chunk.current = "accounts.MemberDailyVolume"
    volumes.volumes_refresh(rewritten)
    rewrite_member_numbers(chunk)
    chunk.current = "retention.FileDeletionOutbox"
    if chunk.files:
        outbox.enqueue(chunk.files)


def _apply(chunk: ChunkState, p: ModelPlan, ids: list[int], mode: str) -> None:
    """Apply ``p`` to the rows of members ``ids`` in ``mode`` (see ``assignment``)."""
    if not ids:
        return
    chunk.current = p.label
    qs = p.queryset(ids)
    # DELETE_ROW wins unless the row is kept for a retention that still runs; the member row never goes.
    delete = not p.is_subject and p.has_delete_row and mode != "running"
    files = [fp.name for fp in p.file_fields] if mode != "catchup" else []
    if delete:
        delete_rows(chunk, p.model, qs, p.lookup, files)
        return

    changes: dict[str, object] = {}
    clear: list[FieldPlan] = []
    tombstone_field = None
    for fp in p.fields:
        value = assignment(p, fp, mode)
        if value is SKIP:
            continue
        if value is IMPOSSIBLE:
            raise ErasureError(f"{p.label}.{fp.name}: cannot be emptied ({fp.action.label})")
        if value is CLEAR_M2M:
            clear.append(fp)
        elif value is TOMBSTONE:
            tombstone_field = fp.name
            if p.is_history:
                # The live row was done first: its history takes the same tombstone number.
                live = Member._base_manager.filter(pk=OuterRef(p.lookup)).order_by()
                changes[fp.name] = Subquery(live.values(fp.name)[:1])
            else:
                changes[fp.name] = TombstoneNumber()
        elif value is CLOSURE:
            changes[fp.name] = Coalesce(F(fp.name), Value(chunk.now), output_field=models.DateTimeField())
        else:
            changes[fp.name] = value
    live_subject = p.is_subject and not p.is_history
    if live_subject and mode != "catchup":
        changes["status"] = MemberStatus.CLOSED
    if live_subject and mode == "catchup":
        changes["cancelled_at"] = None  # marks the catch-up as done

    for fp in clear:
        through = fp.field.remote_field.through
        source = fp.field.m2m_field_name()
        links = through._base_manager.filter(**{f"{source}__in": qs.values("pk")})
        execute(chunk, through, links, f"{source}__{p.lookup}", "delete")
    if not changes:
        return
    if live_subject and tombstone_field and connection.vendor == "postgresql":
        chunk.current = p.label
        columns = [Member._meta.pk.column, Member._meta.get_field(tombstone_field).column]
        rows = returning(qs, "update", changes, columns)
        chunk.tombstones.update(rows)
        chunk.add(p.label, {pk: 1 for pk, _number in rows})
        return
    execute(chunk, p.model, qs, p.lookup, "update", changes, files)
    if live_subject and tombstone_field:
        chunk.tombstones.update(qs.values_list("pk", tombstone_field))
