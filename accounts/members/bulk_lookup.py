"""Reading rows by many keys at once: one array parameter on PostgreSQL, not thousands of placeholders (issue 15).

An import's chunk looks up 5,000 member numbers, their product lines and 5,000 order-number blind
indexes. Through the ORM each is an ``IN (%s, %s, …)`` with one placeholder per key, which Django
builds and psycopg re-parses on every query: more Python time than the query itself. On PostgreSQL
``rows_where_in`` sends ``column = ANY(%s)`` with the keys as one array; elsewhere it uses the
ORM's ``__in`` a chunk of keys at a time. Either way the rows come back as tuples, no model
instances. The caller's field names are columns of the model (``Field.column``), never input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

from django.db import connection, models
from psycopg import sql

from accounts.progress import chunked

#: Keys per query where an array parameter is not available (SQLite's variable limit).
ORM_CHUNK = 5000

#: The text of a value that an array literal holds without quotes (hex blind indexes, member numbers, ISO dates).
_UNQUOTED = re.compile(r"[0-9A-Za-z_.:+\-]+\Z")


def array_text(values: Iterable) -> str:
    """A PostgreSQL array literal of values whose ``str`` needs no quoting (ints, dates, decimals, hex).

    psycopg adapts a list element by element, which costs more than the query itself at 5,000 keys
    (issue 15); one string is sent as it is.
    """
    return "{" + ",".join(map(str, values)) + "}"


def array_param(keys: list):
    """``keys`` for ``= ANY(%s)``: one array literal when no key needs quoting, else the list."""
    if all(type(key) in (int, str) and _UNQUOTED.match(str(key)) for key in keys):
        return array_text(keys)
    return keys


def rows_where_in(model: type[models.Model], fields: list[str], key: str, keys: Iterable) -> Iterator[tuple]:
    """``(values of fields)`` of every row of ``model`` whose ``key`` field is one of ``keys``.

    ``fields`` and ``key`` are field names of ``model``; the order of the rows is not defined.
    """
    keys = sorted(set(keys) - {None, ""}, key=str)
    if not keys:
        return
    if connection.vendor != "postgresql":
        for chunk in chunked(keys, ORM_CHUNK):
            yield from model._base_manager.filter(**{f"{key}__in": chunk}).order_by().values_list(*fields)
        return
    meta = model._meta
    statement = sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%s)").format(
        sql.SQL(", ").join(sql.Identifier(meta.get_field(name).column) for name in fields),
        sql.Identifier(meta.db_table),
        sql.Identifier(meta.get_field(key).column),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection), [array_param(keys)])
        yield from cursor.fetchall()


def any_row_where_in(model: type[models.Model], key: str, keys: Iterable) -> bool:
    """Whether a row of ``model`` has one of ``keys`` in its ``key`` field (one query per chunk of keys at most)."""
    keys = sorted(set(keys) - {None, ""}, key=str)
    if not keys:
        return False
    if connection.vendor != "postgresql":
        return any(model._base_manager.filter(**{f"{key}__in": chunk}).exists() for chunk in chunked(keys, ORM_CHUNK))
    meta = model._meta
    statement = sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE {} = ANY(%s))").format(
        sql.Identifier(meta.db_table), sql.Identifier(meta.get_field(key).column),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(cursor.connection), [array_param(keys)])
        return bool(cursor.fetchone()[0])
