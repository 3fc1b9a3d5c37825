"""What the fuzz tests share: each example rolled back on its own, and row counts in one query."""

from __future__ import annotations

import contextlib

from django.db import connection, transaction


def row_counts(models) -> tuple[int, ...]:
    """Rows of each model's table, in one query."""
    tables = [model._meta.db_table for model in models]
    with connection.cursor() as cursor:
        # Table names come from the models, not from input.
        cursor.execute("SELECT " + ", ".join(f"(SELECT COUNT(*) FROM {table})" for table in tables))  # noqa: S608
        return tuple(cursor.fetchone())


@contextlib.contextmanager
def rolled_back():
    """Each example on its own: whatever it wrote is rolled back (the test's transaction stays usable)."""
    with transaction.atomic():
        savepoint = transaction.savepoint()
        try:
            yield
        finally:
            transaction.savepoint_rollback(savepoint)
