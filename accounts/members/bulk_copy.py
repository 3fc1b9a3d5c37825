"""Inserting many new rows fast: PostgreSQL's COPY, encrypted columns a column at a time (issue 15).

``copy_insert`` sends what ``bulk_create`` would (each field's ``pre_save``, so blind indexes, and
``get_db_prep_save``, skipped for values PostgreSQL takes as they are) without compiling SQL per
row; ``encrypted_columns`` encrypts each encrypted field's values with ``crypto.encrypt_many`` (the
same Fernet tokens, a column at a time). Used by the streamed import
(``accounts.members.spreadsheets.writes``). PostgreSQL only: callers use ``bulk_create`` elsewhere
(``available``).
"""

from __future__ import annotations

import datetime

from django.db import connection, models
from psycopg import sql

from accounts.privacy import crypto
from accounts.privacy.fields import Ciphertext


def available() -> bool:
    """Whether the database takes COPY (PostgreSQL)."""
    return connection.vendor == "postgresql"


def copy_insert(*, model: type[models.Model], objs: list[models.Model]) -> None:
    """Insert new rows of a model without history with PostgreSQL's COPY (issue 15: the fast path of imports).

    The values are what ``bulk_create`` would send (each field's ``pre_save``, so blind indexes,
    and ``get_db_prep_save``), but the encrypted columns are encrypted a column at a time
    (``crypto.encrypt_many``: the same Fernet tokens), a plain column whose values already have the
    type PostgreSQL's adapter returns unchanged is sent as it is (``_plain_types``), and no SQL is
    compiled per row. The rows get no primary key back: only for models whose callers need none
    (transaction records, daily volumes).
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    tokens = encrypted_columns(model, objs)
    columns = [tokens[f.attname] if f.attname in tokens else _column_values(f, objs) for f in fields]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    )
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in zip(*columns, strict=True):
            copy.write_row(row)


def _plain_types(field: models.Field) -> tuple[type, ...]:
    """The value types that this field's ``pre_save`` and ``get_db_prep_save`` return unchanged on PostgreSQL.

    Empty for any other field (its values go through Django's own steps): fields of our own (blind
    indexes, encrypted fields), fields that set their value on save (``auto_now``), decimals. The
    exact classes only: a subclass may change either step.
    """
    if isinstance(field, models.ForeignKey):
        target = field.target_field
        return (int,) if isinstance(target, models.AutoField | models.BigAutoField) else ()
    if type(field) in (models.CharField, models.TextField):
        return (str,)
    if type(field) in (models.IntegerField, models.BigIntegerField, models.PositiveIntegerField,
                       models.PositiveBigIntegerField, models.SmallIntegerField, models.PositiveSmallIntegerField):
        return (int,)
    if type(field) is models.BooleanField:
        return (bool,)
    return ()


def _column_values(field: models.Field, objs: list[models.Model]) -> list:
    """One column's values for COPY: as they are when of a plain type or None (see ``_plain_types``)."""
    attname = field.attname
    values = [obj.__dict__.get(attname) for obj in objs]
    types = _plain_types(field)
    if type(field) is models.DateTimeField and not (field.auto_now or field.auto_now_add):
        # An aware time goes as it is (Django would warn about, and convert, a naive one).
        return [value if isinstance(value, datetime.datetime) and value.utcoffset() is not None
                else field.get_db_prep_save(field.pre_save(obj, True), connection)
                for value, obj in zip(values, objs, strict=True)]
    if types:
        return [value if value is None or type(value) in types
                else field.get_db_prep_save(field.pre_save(obj, True), connection)
                for value, obj in zip(values, objs, strict=True)]
    return [field.get_db_prep_save(field.pre_save(obj, True), connection) for obj in objs]


#: One column's values for COPY, for the writers of other tables (``accounts.members.history_copy``).
copy_values = _column_values


def encrypted_columns(model: type[models.Model], objs: list[models.Model]) -> dict[str, list]:
    """Each encrypted field's stored values for ``objs``, encrypted a column at a time (``crypto.encrypt_many``)."""
    tokens = {}
    for model_field in model._meta.concrete_fields:
        if getattr(model_field, "encrypted", False):
            values = [getattr(obj, model_field.attname) for obj in objs]
            todo = [i for i, value in enumerate(values)
                    if value not in (None, "") and not isinstance(value, Ciphertext)]
            column = [str(value) if isinstance(value, Ciphertext) else value for value in values]
            encrypted = crypto.encrypt_many([model_field.to_plain_text(values[i]) for i in todo])
            for i, token in zip(todo, encrypted, strict=True):
                column[i] = token
            tokens[model_field.attname] = column
    return tokens


def copy_text(columns: list[list]) -> str:
    """Rows given a column at a time, in COPY's text format (one line a row), converted a column at a time.

    Faster than ``Copy.write_row`` per row (issue 15: the column path of imports and ``history_copy``):
    a column of plain text (tokens, blind indexes, names) goes as it is when nothing needs escaping.
    """
    return "\n".join(map("\t".join, zip(*map(_copy_column, columns), strict=True))) + "\n"


_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_column(values: list) -> list[str]:
    """A column's values in COPY's text format, converted by type a column at a time where it can be."""
    kinds = {value.__class__ for value in values}
    if kinds == {str}:
        joined = "".join(values)
        if not ("\\" in joined or "\t" in joined or "\n" in joined or "\r" in joined):
            return values  # tokens, blind indexes, plain text: nothing to escape
    elif kinds == {int}:
        return list(map(str, values))
    return [_copy_text(value) for value in values]


def _copy_text(value) -> str:
    """A value in COPY's text format: ``\\N`` for None, text escaped, an aware time with its offset."""
    if value is None:
        return "\\N"
    if isinstance(value, str):  # a token (``Ciphertext``) too
        return value.translate(_ESCAPES) if ("\\" in value or "\t" in value or "\n" in value or "\r" in value) \
            else value
    if isinstance(value, datetime.datetime):
        if value.utcoffset() is None:
            raise ValueError("a naive time cannot be copied")
        return value.isoformat(sep=" ")
    if isinstance(value, bool):
        return "t" if value else "f"
    return str(value)
