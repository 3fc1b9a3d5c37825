"""Key rotation (PP-26, design decision 2): re-encrypt every stored secret under the primary key.

``FIELD_ENCRYPTION_KEYS`` is a list: the first key encrypts, every key decrypts. To rotate, an
operator puts a new key first (``[new, old]``), deploys, runs ``manage.py rotate_keys``, and only
then drops the old key. This module does the middle step:

- Every encrypted column of every model is found from the model registry (fields that say
  ``encrypted = True``), so simple-history's tables, which copy those fields, are included, and so
  is any model a later app adds.
- Every file of an encrypted storage referenced by a row (``IdentityDocument.file`` and the name
  its history rows keep, access packages) is re-encrypted in place by ``rotate_file``: a segmented
  file a segment at a time into a sibling file that replaces it (``accounts.privacy.segments``).
- Tables are walked in primary-key order in chunks; each chunk is one transaction that reads the
  raw tokens (``Cast`` to text, so nothing is decrypted on the way out of the database), rotates
  the ones not yet under the primary key and writes them back with one ``bulk_update`` (bounded
  queries per chunk, none per row), as ``Ciphertext`` so the field does not encrypt them again.
- Resumable: a token already under the primary key is left alone (``crypto.is_current``), so a run
  killed half-way is finished by running it again, and a second run writes nothing.
- A token that no configured key decrypts stops the run with an error that names the table, the
  row and the column, never the value: dropping the old key after such a run would lose data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from django.db.models.functions import Cast
from django.utils.translation import gettext as _

from accounts.privacy import crypto
from accounts.privacy.fields import Ciphertext
from accounts.privacy.storage import EncryptedFileSystemStorage

DEFAULT_CHUNK_SIZE = 500


class RotationError(Exception):
    """A stored value could not be rotated. Names where it is, never what it is."""


@dataclass
class TableReport:
    """Counts for one table (or one file column): what a run saw and did."""

    label: str
    rows: int = 0  # rows (or file references) read
    rotated: int = 0  # values re-encrypted; in a dry run, values that would be
    current: int = 0  # values already under the primary key: skipped
    missing: int = 0  # file references whose file is gone (files only)

    def line(self, *, dry_run: bool) -> str:
        counts = {"table": self.label, "rows": self.rows, "rotated": self.rotated, "current": self.current}
        if dry_run:
            text = _("%(table)s: %(rows)s rows read, %(rotated)s to re-encrypt, %(current)s already current") % counts
        else:
            text = _("%(table)s: %(rows)s rows read, %(rotated)s re-encrypted, %(current)s already current") % counts
        return text + (_(", %(count)s files missing") % {"count": self.missing} if self.missing else "")


@dataclass
class RotationReport:
    dry_run: bool
    tables: list[TableReport] = field(default_factory=list)

    @property
    def rotated(self) -> int:
        return sum(t.rotated for t in self.tables)

    @property
    def current(self) -> int:
        return sum(t.current for t in self.tables)

    def table(self, label: str) -> TableReport:
        return next(t for t in self.tables if t.label == label)


# --- What is encrypted ------------------------------------------------------------------------------
def _concrete_models() -> list[type[models.Model]]:
    # Proxies share their concrete model's table; unmanaged models are not ours to write.
    found = [m for m in apps.get_models() if not m._meta.proxy and m._meta.managed]
    return sorted(found, key=lambda m: m._meta.db_table)


def encrypted_columns() -> list[tuple[type[models.Model], list[models.Field]]]:
    """Every model with encrypted columns, live and historical, with those columns."""
    found = []
    for model in _concrete_models():
        fields = [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]
        if fields:
            found.append((model, fields))
    return found


def encrypted_file_columns() -> list[tuple[type[models.Model], str, EncryptedFileSystemStorage]]:
    """Every column naming a file in an encrypted storage, with that storage.

    simple-history keeps a ``FileField`` as a text column holding the file name: the historical
    model's column of the same name points into its base model's storage.
    """
    found = []
    for model in _concrete_models():
        base = getattr(model, "instance_type", None) if model.__name__.startswith("Historical") else None
        for f in model._meta.concrete_fields:
            source = f
            if base is not None:
                try:
                    source = base._meta.get_field(f.name)
                except FieldDoesNotExist:  # history bookkeeping columns have no base field
                    continue
            if isinstance(source, models.FileField) and isinstance(source.storage, EncryptedFileSystemStorage):
                found.append((model, f.attname, source.storage))
    return found


def rows_to_scan() -> int:
    """Rows a run reads (for a progress bar's total): one ``COUNT`` per table."""
    total = sum(model._base_manager.count() for model, _column in encrypted_columns())
    for model, column, _storage in encrypted_file_columns():
        total += model._base_manager.exclude(**{column: ""}).exclude(**{f"{column}__isnull": True}).count()
    return total


# --- Rotation ---------------------------------------------------------------------------------------
def _rotate_value(token: str | None, report: TableReport, where: str) -> str | None:
    """The token under the primary key, or None when ``token`` needs nothing."""
    if token is None or token == "":
        return None
    if crypto.is_current(token):
        report.current += 1
        return None
    try:
        rotated = crypto.rotate_token(token)
    except crypto.DecryptionError:
        raise RotationError(f"{where} does not decrypt with any configured key; keep the old key") from None
    report.rotated += 1
    return rotated


def _write_chunk(model: type[models.Model], fields: list[models.Field], objs: list[models.Model], using: str) -> None:
    # bulk_update: one UPDATE ... CASE per batch, however many rows changed. It writes no history
    # row, which is intended: a new ciphertext of the same value is not a change of the record.
    model._base_manager.using(using).bulk_update(objs, [f.name for f in fields])


def _rotate_table(
    model: type[models.Model],
    fields: list[models.Field],
    *,
    chunk_size: int,
    dry_run: bool,
    on_progress: Callable[[int], None],
) -> TableReport:
    report = TableReport(label=model._meta.db_table)
    using = router.db_for_write(model)
    raw = {f"rotation_raw_{i}": Cast(f.name, output_field=models.TextField()) for i, f in enumerate(fields)}
    last_pk = None
    while True:
        with transaction.atomic(using=using):
            chunk = model._base_manager.using(using).order_by("pk")
            if last_pk is not None:
                chunk = chunk.filter(pk__gt=last_pk)
            if not dry_run:
                # Locks the chunk's rows until its commit: a save by the application between our
                # read and our write would otherwise be overwritten with the old value, rotated.
                chunk = chunk.select_for_update()
            rows = list(chunk.annotate(**raw).values_list("pk", *raw)[:chunk_size])
            if not rows:
                break
            changed = []
            for pk, *tokens in rows:
                new_tokens = [
                    _rotate_value(token, report, f"{report.label} row {pk} column {f.column}")
                    for f, token in zip(fields, tokens, strict=True)
                ]
                if any(t is not None for t in new_tokens):
                    obj = model(pk=pk)
                    for f, old, new in zip(fields, tokens, new_tokens, strict=True):
                        value = new if new is not None else old
                        setattr(obj, f.attname, Ciphertext(value) if value else value)
                    changed.append(obj)
            report.rows += len(rows)
            if changed and not dry_run:
                _write_chunk(model, fields, changed, using)
        last_pk = rows[-1][0]
        on_progress(len(rows))
    return report


def _rotate_files(
    model: type[models.Model],
    column: str,
    storage: EncryptedFileSystemStorage,
    *,
    chunk_size: int,
    dry_run: bool,
    on_progress: Callable[[int], None],
) -> TableReport:
    """Re-encrypt the files a column names. Each write is an atomic rename, so no transaction.

    A file named by the live row and by its history rows is rotated once; later references find
    it current.
    """
    report = TableReport(label=f"{model._meta.db_table}.{column} (files)")
    names = model._base_manager.exclude(**{column: ""}).exclude(**{f"{column}__isnull": True}).order_by("pk")
    last_pk = None
    while True:
        chunk = names if last_pk is None else names.filter(pk__gt=last_pk)
        rows = list(chunk.values_list("pk", column)[:chunk_size])
        if not rows:
            break
        for pk, name in rows:
            report.rows += 1
            try:
                rotated = storage.rotate_file(name, dry_run=dry_run)
            except FileNotFoundError:
                report.missing += 1
                continue
            except crypto.DecryptionError:
                raise RotationError(
                    f"the file of {model._meta.db_table} row {pk} does not decrypt with any configured key"
                ) from None
            if rotated:
                report.rotated += 1
            else:
                report.current += 1
        last_pk = rows[-1][0]
        on_progress(len(rows))
    return report


def rotate_keys(
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dry_run: bool = False,
    only: Iterable[type[models.Model]] | None = None,
    files: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> RotationReport:
    """Re-encrypt every encrypted column and file under the primary key; return counts per table.

    ``only`` limits the run to some models (their history models are separate models: name them
    too); ``files=False`` skips the files. ``dry_run`` reads and counts, and writes nothing.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    on_progress = on_progress or (lambda n: None)
    wanted = set(only) if only is not None else None
    report = RotationReport(dry_run=dry_run)
    for model, fields in encrypted_columns():
        if wanted is None or model in wanted:
            report.tables.append(
                _rotate_table(model, fields, chunk_size=chunk_size, dry_run=dry_run, on_progress=on_progress)
            )
    if files:
        for model, column, storage in encrypted_file_columns():
            if wanted is None or model in wanted:
                report.tables.append(
                    _rotate_files(
                        model, column, storage, chunk_size=chunk_size, dry_run=dry_run, on_progress=on_progress
                    )
                )
    return report
