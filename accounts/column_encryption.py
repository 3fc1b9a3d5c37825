"""Encrypting plaintext columns in place, for data migrations (PP-01): resumable, in batches.

A migration that makes a column an ``Encrypted*Field`` first turns it into plain text, then calls
:func:`encrypt_columns` from ``RunPython``, then alters the field. Each batch is its own
transaction and a value that already decrypts is left alone, so a migration declared
``atomic = False`` that is killed half way keeps its finished batches and the rerun finishes.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from django import db
from django.db import transaction

from accounts.privacy import crypto
from accounts.progress import progress

BATCH = 2000


def is_token(value: str) -> bool:
    try:
        crypto.decrypt_str(value)
    except (crypto.DecryptionError, UnicodeEncodeError):
        return False
    return True


def encrypted(value):
    return value if value in (None, "") or is_token(value) else crypto.encrypt_str(value)


def decrypted(value):
    return crypto.decrypt_str(value) if value not in (None, "") and is_token(value) else value


def host(ip_address):
    """PostgreSQL turns ``inet`` into text with its prefix ("203.0.113.5/32"); Django stored hosts only."""
    if ip_address in (None, "") or is_token(ip_address):
        return ip_address
    return ip_address.partition("/")[0]


def convert_columns(model, schema_editor, columns: tuple[str, ...], convert: Callable, *, label: str) -> None:
    """Rewrite ``columns`` of every row of ``model`` (a historical model) through ``convert(values)``;
    ``schema_editor`` None (a test calling the step) means the default connection."""
    connection = schema_editor.connection if schema_editor is not None else db.connection
    rows = model.objects.using(connection.alias)
    quote = connection.ops.quote_name
    update = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 (our table and columns)
        quote(model._meta.db_table), ", ".join(f"{quote(column)} = %s" for column in columns), quote("id")
    )
    bar = progress(total=rows.count(), desc=label, unit="row", enabled=sys.stderr.isatty())
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last).order_by("pk").values_list("pk", *columns)[:BATCH])
        if not batch:
            break
        params = []
        for pk, *values in batch:
            changed = list(convert(values))
            if changed != values:
                params.append([*changed, pk])
        if params:
            # One transaction a batch: a killed run keeps the batches it finished.
            with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
                cursor.executemany(update, params)
        last = batch[-1][0]
        bar.update(len(batch))
    bar.close()


def encrypt_columns(model, schema_editor, columns: tuple[str, ...], *, label: str,
                    normalise: dict[str, Callable] | None = None) -> None:
    """Encrypt each plaintext value of ``columns`` (``normalise[column]`` applied first)."""
    normalise = normalise or {}
    convert_columns(model, schema_editor, columns, lambda values: [
        encrypted(normalise.get(column, lambda v: v)(value)) for column, value in zip(columns, values, strict=True)
    ], label=label)


def decrypt_columns(model, schema_editor, columns: tuple[str, ...], *, label: str) -> None:
    """The reverse of :func:`encrypt_columns`: plaintext again."""
    convert_columns(model, schema_editor, columns, lambda values: [decrypted(value) for value in values], label=label)
