"""Inserting many new rows fast: PostgreSQL's COPY, encrypted columns a column at a time (issue 15).

``copy_insert`` sends what ``bulk_create`` would (each field's ``pre_save``, so blind indexes, and
``get_db_prep_save``) without compiling SQL per row; ``encrypted_columns`` encrypts each encrypted
field's values with ``crypto.encrypt_many`` (the same Fernet tokens, about three times faster).
Used by the streamed import (``accounts.members.spreadsheets.writes``) and the daily volumes
(``accounts.members.volumes``). PostgreSQL only: callers use ``bulk_create`` elsewhere (``available``).
"""

from __future__ import annotations

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
    (``crypto.encrypt_many``: the same Fernet tokens) and no SQL is compiled per row. The rows get
    no primary key back: only for models whose callers need none (transaction records).
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    tokens = encrypted_columns(model, objs)
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in fields)
    )
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for i, obj in enumerate(objs):
            copy.write_row([
                tokens[f.attname][i] if f.attname in tokens else f.get_db_prep_save(f.pre_save(obj, True), connection)
                for f in fields
            ])


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
