"""New rows of an audited model written by COPY: ids reserved up front, history and product-line links too (issue 15).

``bulk_copy.copy_insert`` leaves the primary keys to the database, which is enough for rows nothing
points to (transaction records). Members are audited (django-simple-history) and have product lines
(a many-to-many, itself audited), so their history rows and links need each member's id, and each
link's history row the history row's and the link's ids. ``copy_insert_with_history`` writes a
chunk of new members in five queries, whatever its size:

1. the ids, reserved in one query (``nextval`` of each table's sequence, ``generate_series`` long):
   the members', their history rows' and the links';
2. the members by COPY, with the values ``bulk_create`` would send (``bulk_copy.copy_values``: each
   field's ``pre_save``, so blind indexes and the name-search column; the encrypted columns a
   column at a time, ``bulk_copy.encrypted_columns``);
3. their history rows by COPY, with what simple-history's ``bulk_history_create`` writes for a new
   row (``writes._bulk_history`` before): the same tracked values (the same tokens as the row),
   ``history_type`` ``+``, the user, the change reason, and one ``history_date`` for the chunk
   (``bulk_history_create`` reads the clock per row, microseconds apart);
4. the links by COPY, each member's product lines in the order of their ids (as
   ``writes._replace_many_to_many`` made them);
5. the links' history rows by COPY (as ``writes._bulk_history`` copied the stored links).

PostgreSQL only, and only for a model this module knows how to write (``available``): any other
goes through ``writes.records_bulk_save``. ``tests/accounts/test_history_copy.py`` compares every
row written with what the general path writes.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from psycopg import sql
from simple_history.models import HistoricalRecords

from accounts.members import bulk_copy


def available(model: type[models.Model]) -> bool:
    """Whether ``copy_insert_with_history`` can write new rows of ``model`` (PostgreSQL, plain history)."""
    if not bulk_copy.available() or not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return False
    history = getattr(model, "history", None)
    if history is None or hasattr(history.model, "history_relation"):
        return False
    return all(_plain_through(m2m) for m2m in getattr(history.model, "_history_m2m_fields", ()))


def _plain_through(m2m) -> bool:
    """An auto-created many-to-many table: an id and the two foreign keys, nothing else."""
    through = m2m.remote_field.through
    return through._meta.auto_created and len(through._meta.concrete_fields) == 3


def copy_insert_with_history(*, model: type[models.Model], objs: list[models.Model], user=None, reason: str = "",
                             many_to_many: dict[str, list[tuple[models.Model, list[models.Model]]]] | None = None,
                             ) -> None:
    """Insert new ``objs`` with their history rows and many-to-many links, five queries (module docstring).

    ``many_to_many`` maps a field name to ``(object, related objects)`` pairs for the objects whose
    file gave that column. The objects get their primary keys, as after ``bulk_create``.
    """
    copies = prepare_copies(model=model, objs=objs, user=user, reason=reason, many_to_many=many_to_many)
    with connection.wrap_database_errors:
        write_copies(connection.connection, copies)


#: One COPY: table, columns, one list of values per column.
Copy = tuple[str, list[str], list[list]]


def prepare_copies(*, model: type[models.Model], objs: list[models.Model], user=None, reason: str = "",
                   many_to_many: dict[str, list[tuple[models.Model, list[models.Model]]]] | None = None,
                   ) -> list[Copy]:
    """The ids reserved (one query) and the values of the four COPYs of ``copy_insert_with_history``, not sent.

    ``write_copies`` sends them; ``accounts.members.spreadsheets.write_behind`` does it while the
    next chunk is checked.
    """
    if not objs:
        return []
    history_model = model.history.model
    positions = {id(obj): i for i, obj in enumerate(objs)}
    links = {m2m.name: [(positions[id(obj)], pk) for obj, pk in _links(many_to_many or {}, m2m.name)]
             for m2m in getattr(history_model, "_history_m2m_fields", ())}
    # The row's columns: encrypted first (from the plaintext), then the rest (blind indexes read the plaintext too).
    tokens = bulk_copy.encrypted_columns(model, objs)
    values = {f.attname: tokens[f.attname] if f.attname in tokens else bulk_copy.copy_values(f, objs)
              for f in model._meta.concrete_fields if not f.primary_key}
    copies, own_ids = column_copies(model=model, values=values, links=links,
                                    user_id=history_user_id(model, objs[0], user), reason=reason)
    alias = connection.alias
    for obj, pk in zip(objs, own_ids, strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias
    return copies


def column_copies(*, model: type[models.Model], values: dict[str, list], links: dict[str, list[tuple[int, int]]],
                  user_id: int | None, reason: str = "", raw_connection=None) -> tuple[list[Copy], list[int]]:
    """The ids reserved (one query) and the four COPYs of new rows given a column at a time; the rows' new ids.

    ``values``: per concrete field's attname but the primary key, the stored values of the rows
    (tokens for the encrypted fields, blind indexes and derived columns made); ``links``: per
    many-to-many field, ``(row position, related id)`` pairs, each row's ids once and ascending. The
    column path of imports (``accounts.members.spreadsheets.columnar``) gives these without a model
    instance per row; ``prepare_copies`` reads them from instances. ``raw_connection``: the import's
    psycopg connection, for a caller in ``write_behind``'s thread (Django's connection is per thread).
    """
    history_model = model.history.model
    m2m_fields = list(getattr(history_model, "_history_m2m_fields", ()))
    count = len(next(iter(values.values())))
    ids = _reserve(
        [(model._meta.db_table, model._meta.pk.column, count),
         (history_model._meta.db_table, history_model._meta.pk.column, count)]
        + [(m2m.remote_field.through._meta.db_table, m2m.remote_field.through._meta.pk.column,
            len(links.get(m2m.name, ()))) for m2m in m2m_fields],
        raw_connection,
    )
    own_ids, history_ids = ids[0], ids[1]
    fields = list(model._meta.concrete_fields)
    values = {**values, model._meta.pk.attname: own_ids}
    copies = [(model._meta.db_table, [f.column for f in fields], [values[f.attname] for f in fields])]

    tracked = history_model.tracked_fields
    extra = {
        "history_id": history_ids,
        "history_date": [timezone.now()] * count,
        "history_change_reason": [reason] * count,
        "history_type": ["+"] * count,
        "history_user_id": [user_id] * count,
    }
    history_columns = [history_model._meta.get_field(f.name).column for f in tracked] + list(extra)
    copies.append((history_model._meta.db_table, history_columns,
                   [values[f.attname] for f in tracked] + list(extra.values())))

    for m2m, link_ids in zip(m2m_fields, ids[2:], strict=True):
        pairs = links.get(m2m.name, ())
        if not pairs:
            continue
        through = m2m.remote_field.through
        own = through._meta.get_field(m2m.m2m_field_name())
        other = through._meta.get_field(m2m.m2m_reverse_field_name())
        owners = [own_ids[i] for i, _linked in pairs]
        linked = [linked for _i, linked in pairs]
        copies.append((through._meta.db_table, [through._meta.pk.column, own.column, other.column],
                       [link_ids, owners, linked]))
        m2m_history = HistoricalRecords.m2m_models[m2m]
        copies.append((m2m_history._meta.db_table,
                       [m2m_history._meta.get_field("history").column,
                        m2m_history._meta.get_field(through._meta.pk.name).column,
                        m2m_history._meta.get_field(own.name).column, m2m_history._meta.get_field(other.name).column],
                       [[history_ids[i] for i, _linked in pairs], link_ids, owners, linked]))
    return copies, own_ids


def write_copies(raw_connection, copies: list[Copy]) -> None:
    """Send ``copies`` on ``raw_connection`` (the psycopg connection of the import's transaction)."""
    for table, columns, values in copies:
        _copy(raw_connection, table, columns, values)


def _links(many_to_many: dict, name: str) -> list[tuple[models.Model, int]]:
    """``(object, related id)`` per link to make: each object's related ids once, in ascending order."""
    pks: dict[int, object] = {}  # the few related objects' keys, read once (``Model.pk`` is a property)
    links = []
    for obj, related in many_to_many.get(name, ()):
        found = {pks[id(r)] if id(r) in pks else pks.setdefault(id(r), r.pk) for r in related}
        links.extend((obj, pk) for pk in sorted(found))
    return links


def _reserve(wanted: list[tuple[str, str, int]], raw_connection=None) -> list[list[int]]:
    """``count`` new ids of each ``(table, id column)``'s sequence, in one query (the sequence looked up once).

    On ``raw_connection`` (psycopg) when given, else on Django's connection of this thread.
    """
    parts, params = [], []
    for table, column, count in wanted:
        parts.append("(SELECT ARRAY(SELECT nextval(s.seq) FROM generate_series(1, %s)) "
                     "FROM (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) s)")
        params += [count, table, column]
    with raw_connection.cursor() if raw_connection is not None else connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        return [list(found) for found in cursor.fetchone()]


def history_user_id(model: type[models.Model], obj, user) -> int | None:
    """The user ``bulk_history_create`` records: the import's, else simple-history's default (the request's).

    ``obj``: one of the rows, or None when there is no instance (simple-history's default reads the request only).
    """
    found = user or model.history.model.get_default_history_user(obj)
    return getattr(found, "pk", None)


def _copy(raw_connection, table: str, columns: list[str], values: list[list]) -> None:
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(sql.Identifier(column) for column in columns)
    )
    with raw_connection.cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(bulk_copy.copy_text(values).encode())
