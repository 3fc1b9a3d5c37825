"""The statements: one set-based UPDATE or DELETE per model and chunk, counted per member.

``execute`` updates or deletes the rows of a queryset, credits the rows changed to their members
(for the erasure records) and queues the names of deleted files. On PostgreSQL, when the member id
is a column of the table, that is one statement with ``RETURNING``; otherwise (SQLite, or a subject
path through a join) a ``GROUP BY`` count runs first and the statement is skipped when there is
nothing to change. The number of statements depends on the number of models, never on the number
of members or rows.

``delete_rows`` deletes rows with one raw ``DELETE`` (no per-object collector, no signals, so
simple-history writes no new history row holding the old values) and emulates Django's
``on_delete`` set-based for rows that still point at them: ``CASCADE`` deletes, ``SET_NULL``
nulls, ``PROTECT`` fails the member with an ``ErasureError`` naming the models, never a value.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models
from django.db.models import Count, Exists, OuterRef
from django.db.models.query import QuerySet
from django.db.models.sql import subqueries as sql

from retention import outbox
from retention.erasure.state import ChunkState


class ErasureError(Exception):
    """A member could not be erased; the message names the model and the reason, never a value."""


@cache
def _reverse_relations(model) -> tuple:
    """Foreign keys of other models pointing at ``model`` whose ``on_delete`` needs emulating."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
            continue
        if rel.on_delete is models.DO_NOTHING or not rel.field.concrete:
            continue
        found.append(rel)
    return tuple(found)


def _count(chunk: ChunkState, model, qs: QuerySet, lookup: str) -> int:
    """One GROUP BY: rows per member of ``qs``, credited to those members."""
    chunk.current = model._meta.label
    rows = qs.order_by().values_list(lookup).annotate(n=Count("pk"))
    return chunk.add(model._meta.label, dict(rows))


def _collect_files(chunk: ChunkState, model, qs: QuerySet, names: Iterable[str]) -> None:
    for name in names:
        values = qs.exclude(**{name: ""}).exclude(**{f"{name}__isnull": True}).values_list(name, flat=True)
        chunk.files.extend(outbox.entry_name(model, name, value) for value in values.order_by())


def _local_column(model, lookup: str) -> str | None:
    """The column of ``model``'s own table that holds the member id, if the lookup needs no join."""
    if lookup == "pk":
        return model._meta.pk.column
    if "__" in lookup:
        return None
    try:
        return model._meta.get_field(lookup).column
    except FieldDoesNotExist:
        return None


def returning(qs: QuerySet, kind: str, changes: dict | None, columns: list[str], *, counted: bool = False
              ) -> list[tuple]:
    """PostgreSQL: run the ORM's own DELETE/UPDATE of ``qs`` with ``RETURNING columns``, in one statement.

    The SQL is compiled by Django exactly as ``_raw_delete``/``update`` would run it; only the
    ``RETURNING`` clause is added, so the rows changed per member (and the file names of deleted
    rows) come back without a separate counting query. ``counted``: the rows are counted per value
    of the single column in the same statement (``WITH changed AS (… RETURNING c) SELECT c,
    count(*) … GROUP BY c``), so a chunk's 20,000 orders come back as 1,000 (member, rows) pairs.
    """
    if kind == "delete":
        query = qs.query.clone()
        query.__class__ = sql.DeleteQuery
    else:
        query = qs.query.chain(sql.UpdateQuery)
        query.add_update_values(changes)
    statement, params = query.get_compiler(qs.db).as_sql()
    returning = ", ".join(connection.ops.quote_name(c) for c in columns)
    statement = f"{statement} RETURNING {returning}"
    if counted:
        (column,) = columns
        column = connection.ops.quote_name(column)
        statement = f"WITH changed AS ({statement}) SELECT {column}, count(*) FROM changed GROUP BY {column}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


def execute(chunk: ChunkState, model, qs: QuerySet, lookup: str, kind: str, changes: dict | None = None,
             file_names: Iterable[str] = ()) -> int:
    """Delete or update the rows of ``qs``, credit the rows per member, queue the files; returns the rows.

    On PostgreSQL, when the member id is a column of the table, one statement with ``RETURNING``;
    otherwise a ``GROUP BY`` count first (the statement is skipped when there is nothing to change).
    """
    chunk.current = model._meta.label
    file_names = list(file_names)
    column = _local_column(model, lookup)
    if connection.vendor == "postgresql" and column and not (kind == "update" and file_names):
        if not file_names:
            return chunk.add(model._meta.label, dict(returning(qs, kind, changes, [column], counted=True)))
        files = [model._meta.get_field(name).column for name in file_names]
        rows = returning(qs, kind, changes, [column, *files])
        by_member: dict[int, int] = defaultdict(int)
        for row in rows:
            by_member[row[0]] += 1
            for name, value in zip(file_names, row[1:], strict=True):
                if value:
                    chunk.files.append(outbox.entry_name(model, name, value))
        return chunk.add(model._meta.label, by_member)
    total = _count(chunk, model, qs, lookup)
    if total:
        _collect_files(chunk, model, qs, file_names)
        if kind == "delete":
            qs._raw_delete(qs.db)
        else:
            qs.update(**changes)
    return total


def delete_rows(chunk: ChunkState, model, qs: QuerySet, lookup: str, file_names: Iterable[str] = ()) -> int:
    """Delete the rows of ``qs`` with one raw DELETE, emulating ``on_delete`` for rows pointing at them."""
    chunk.current = model._meta.label
    for rel in _reverse_relations(model):
        child = rel.related_model
        child_qs = child._base_manager.filter(**{f"{rel.field.name}__in": qs.values("pk")})
        child_lookup = f"{rel.field.name}__{lookup}"
        if rel.on_delete is models.CASCADE:
            # Usually the child was erased already (children go first): probe before deleting.
            chunk.current = child._meta.label
            if qs.filter(Exists(child._base_manager.filter(**{rel.field.name: OuterRef("pk")}))).exists():
                files = [f.name for f in child._meta.concrete_fields if isinstance(f, models.FileField)]
                delete_rows(chunk, child, child_qs, child_lookup, files)
        elif rel.on_delete is models.SET_NULL:
            execute(chunk, child, child_qs, child_lookup, "update", {rel.field.name: None})
        elif rel.on_delete in (models.PROTECT, models.RESTRICT):
            chunk.current = child._meta.label
            # Driven from this member's (few) rows, probing the child's foreign-key index: asked the
            # other way round with LIMIT 1, the planner scans the whole child table when none match.
            referenced = Exists(child._base_manager.filter(**{rel.field.name: OuterRef("pk")}))
            if qs.filter(referenced).exists():
                raise ErasureError(
                    f"{model._meta.label}: rows are still referenced by {child._meta.label} "
                    f"({rel.field.name}, protected) and do not belong to this member"
                )
        else:
            raise ErasureError(f"{child._meta.label}.{rel.field.name}: on_delete rule not supported by the engine")
    return execute(chunk, model, qs, lookup, "delete", file_names=file_names)
