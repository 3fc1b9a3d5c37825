"""Locks that keep two erasure runs off the same members (issue 5, requirement 5).

The engine works chunk by chunk, each chunk in its own transaction, and the first thing it does in
that transaction is ``lock_members``:

- **PostgreSQL**: ``SELECT … FOR UPDATE SKIP LOCKED`` on the chunk's member rows. Two workers (two
  beat runs, a beat run and an admin run, a re-delivered task next to a slow one) can never erase the
  same member at once: the second one does not wait, it skips the members the first one holds and
  reports them as skipped. The rows stay locked until the chunk commits or rolls back, and a killed
  worker's locks go with its connection.
- **SQLite** (the embedded default) allows one writer at a time anyway. A deferred SQLite
  transaction only takes the write lock at its first write, so a run could still *read* a member as
  eligible while another run is erasing it; ``lock_members`` therefore starts with a write that
  changes nothing, which takes the database's write lock before the re-selection is read.

The re-selection itself (``eligible``) runs inside the lock, so a member reinstated between the job's
selection and its chunk is not erased.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from accounts.models import Member

#: Columns the engine needs of each locked member.
LOCKED_FIELDS = ("pk", "member_number", "status", "cancelled_at")


def take_write_lock() -> None:
    """On SQLite, take the database write lock now (a write that matches no row)."""
    if connection.vendor == "sqlite":
        table = connection.ops.quote_name(Member._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"UPDATE {table} SET id = id WHERE 1 = 0")  # noqa: S608 - table name from the model


def lock_members(queryset: QuerySet[Member]) -> list[tuple]:
    """Lock and return ``LOCKED_FIELDS`` of the members of ``queryset`` that nobody else holds.

    Must be called inside ``transaction.atomic()``. ``of=("self",)`` keeps the row lock on the member
    table even when ``queryset`` was filtered through a join (e.g. an ``eligible`` re-selection).
    """
    take_write_lock()
    locked = queryset.order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        locked = locked.select_for_update(skip_locked=True, of=("self",))
    return list(locked.values_list(*LOCKED_FIELDS))
