"""What the fuzz tests share: their hypothesis settings, each example rolled back on its own, and
row counts in one query.

``make test`` and CI *replay*: hypothesis derives its examples from each test's name, so every
machine on every day runs the same 2,000 cases and a red run is a regression, never a new draw.
``HYPOTHESIS_PROFILE=explore make test`` draws fresh examples to look for new bugs; a failure
prints a ``@reproduce_failure`` blob, and the case it found goes into the test as an ``@example``.
"""

from __future__ import annotations

import contextlib
import os

from django.db import connection, transaction
from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,
    "database": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
}
PROFILES = {
    "replay": settings(derandomize=True, **_COMMON),
    "explore": settings(derandomize=False, **_COMMON),
}
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "replay")
if PROFILE not in PROFILES:
    raise RuntimeError(f"HYPOTHESIS_PROFILE must be one of {', '.join(PROFILES)}, not {PROFILE!r}.")

#: The decorator every fuzz test wears.
fuzz = settings(PROFILES[PROFILE], max_examples=2000)


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
