"""Raw snapshots of every table and of the media root: "a dry run changes nothing" compares two."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connection


def database_snapshot() -> dict[str, list[tuple]]:
    """Every row of every table of every installed model (history and link tables included)."""
    tables = sorted({m._meta.db_table for m in apps.get_models(include_auto_created=True)})
    existing = set(connection.introspection.table_names())
    snapshot = {}
    with connection.cursor() as cursor:
        for table in tables:
            if table not in existing:
                continue
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - model tables
            snapshot[table] = sorted(cursor.fetchall(), key=repr)
    return snapshot


def media_snapshot() -> dict[str, bytes]:
    root = Path(settings.MEDIA_ROOT)
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def snapshot() -> tuple[dict, dict]:
    return database_snapshot(), media_snapshot()


def assert_unchanged(before: tuple[dict, dict], after: tuple[dict, dict]) -> None:
    db_before, media_before = before
    db_after, media_after = after
    changed = [table for table in db_before if db_before[table] != db_after.get(table)]
    assert not changed, f"tables changed: {changed}"
    assert media_before == media_after, "files changed"
