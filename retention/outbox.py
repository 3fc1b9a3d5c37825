"""The file-deletion outbox (PP-02): files are deleted only after the rows that named them are gone.

The engine writes one ``FileDeletionOutbox`` row per file **in the same transaction** that deletes
(or blanks) the row pointing at the file, and drains the outbox after that transaction commits:

- crash before the commit: nothing happened, the row still points at a file that still exists;
- crash after the commit, before or during the drain: the outbox row is still pending, and every
  later engine run (and ``drain``) deletes the file; deleting a file that is already gone is a no-op.

So no row ever points at a deleted file, and no file is left that nobody will delete.

An entry's ``storage_name`` is ``"<app_label>.<Model>.<field>:<name>"`` so the drain deletes it from
the storage of the field that held it. File names are random (``accounts.privacy.storage``), never personal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.core.files.storage import Storage, default_storage
from django.db import connection, models
from django.utils import timezone

from retention.models import FileDeletionOutbox

logger = logging.getLogger(__name__)

#: Outbox rows deleted per batch while draining.
DRAIN_BATCH = 2000


def entry_name(model: type[models.Model], field_name: str, file_name: str) -> str:
    """The outbox entry for ``file_name`` held by ``model.field_name`` (history models map to their base)."""
    base = getattr(model, "instance_type", None) if model.__name__.startswith("Historical") else None
    owner = base or model
    return f"{owner._meta.label}.{field_name}:{file_name}"


def _storage_for(entry: str) -> tuple[Storage, str]:
    owner, _, name = entry.partition(":")
    if not name:  # a bare name (written by hand): the default storage
        return default_storage, entry
    label, _, field_name = owner.rpartition(".")
    try:
        field = apps.get_model(label)._meta.get_field(field_name)
    except (LookupError, ValueError, FieldDoesNotExist):
        return default_storage, name
    return getattr(field, "storage", default_storage), name


def enqueue(entries: Iterable[str]) -> int:
    """Write outbox rows for ``entries`` (deduplicated); call inside the transaction that drops the rows."""
    unique = sorted(set(entries))
    if not unique:
        return 0
    if connection.vendor == "postgresql":
        # One statement with one array parameter: a chunk queues hundreds of files.
        meta = FileDeletionOutbox._meta
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {qn(meta.db_table)} ({qn(meta.get_field('storage_name').column)}, "
                f"{qn(meta.get_field('created_at').column)}) SELECT unnest(%s::text[]), %s",
                [unique, timezone.now()],
            )
    else:
        FileDeletionOutbox.objects.bulk_create([FileDeletionOutbox(storage_name=entry) for entry in unique])
    return len(unique)


def drain(*, limit: int | None = None) -> int:
    """Delete the files of pending outbox rows and mark them done; returns the number of files handled.

    Safe to run at any time and concurrently: a file that is already gone counts as deleted. Runs in
    batches with one UPDATE per batch; ``limit`` bounds the work of one call.
    """
    done = 0
    while limit is None or done < limit:
        size = DRAIN_BATCH if limit is None else min(DRAIN_BATCH, limit - done)
        batch = list(
            FileDeletionOutbox.objects.filter(deleted_at__isnull=True).order_by("pk").values_list("pk", "storage_name")[
                :size
            ]
        )
        if not batch:
            break
        finished = []
        for pk, entry in batch:
            storage, name = _storage_for(entry)
            try:
                storage.delete(name)
            except OSError as exc:  # kept pending: the next drain tries again
                logger.warning("file deletion outbox #%s: %s", pk, type(exc).__name__)
                continue
            finished.append(pk)
        if finished:
            FileDeletionOutbox.objects.filter(pk__in=finished).update(deleted_at=timezone.now())
        done += len(batch)
        if len(finished) < len(batch):
            break  # do not spin on a file that cannot be deleted right now
    return done


def pending_count() -> int:
    return FileDeletionOutbox.objects.filter(deleted_at__isnull=True).count()
