"""Issue 14 requirement 1: migration 0011 encrypts existing transaction records, resumably (PP-01, PP-26).

Runs the real migration backwards and forwards on the test database (SQLite or PostgreSQL), with
plain rows written as the old schema stored them, a crash in the middle, and a rerun.
"""

from __future__ import annotations

import datetime
import importlib
from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.members import volumes
from accounts.members.selectors import transactions_by_order_number
from accounts.models import MemberDailyVolume, TransactionRecord
from accounts.privacy import crypto
from tests.factories import MemberFactory

BEFORE = ("accounts", "0010_product_line_attribution")
AFTER = ("accounts", "0011_encrypt_transactions")
MIGRATION = importlib.import_module("accounts.migrations.0011_encrypt_transactions")
WHEN = datetime.datetime(2026, 2, 3, 9, 30, tzinfo=datetime.UTC)  # one UTC day for all seven orders


class Crash(Exception):
    pass


def _migrate(target) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _migrate_to_latest() -> None:
    """Every app at its newest migration again: later migrations (0012 …) were unapplied by BEFORE."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())


def _insert_plain(member_id: int, rows: int) -> None:
    ops = connection.ops
    table = ops.quote_name(TransactionRecord._meta.db_table)
    with connection.cursor() as cursor:
        for i in range(rows):
            cursor.execute(
                f"INSERT INTO {table} (member_id, order_number, order_time, counterparty_nickname, asset_type, "  # noqa: S608
                "quantity, amount) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [member_id, f"OLD-{i:04d}", ops.adapt_datetimefield_value(WHEN + datetime.timedelta(hours=i)),
                 f"oldpeer{i}", "ETH", ops.adapt_decimalfield_value(Decimal("0.5000000000"), 28, 10),
                 ops.adapt_decimalfield_value(Decimal(f"{100 + i}.25"), 20, 2)],
            )


@pytest.mark.django_db(transaction=True)
def test_pp01_the_migration_encrypts_existing_rows_and_a_rerun_after_a_crash_finishes(monkeypatch, capsys):
    """Plain rows of the old schema are encrypted chunk by chunk (a progress bar on stderr); a crash
    keeps the chunks done, the rerun finishes the rest without encrypting any row twice, and the
    daily volumes are recomputed from the encrypted rows (drift 0)."""
    member = MemberFactory()
    try:
        _migrate(BEFORE)
        _insert_plain(member.pk, 7)

        monkeypatch.setattr(MIGRATION, "BATCH", 2)
        real_blind_index = crypto.blind_index
        calls = {"n": 0}

        def crashing(kind, value):
            calls["n"] += 1
            if calls["n"] == 5:  # the first row of the third chunk
                raise Crash
            return real_blind_index(kind, value)

        monkeypatch.setattr(crypto, "blind_index", crashing)
        with pytest.raises(Crash):
            _migrate(AFTER)
        table = connection.ops.quote_name(TransactionRecord._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT order_number, order_number_bidx FROM {table} ORDER BY id")  # noqa: S608
            half = cursor.fetchall()
        assert [bidx is not None for _number, bidx in half] == [True] * 4 + [False] * 3
        done_tokens = [number for number, _bidx in half[:4]]
        assert not any(token.startswith("OLD-") for token in done_tokens)

        monkeypatch.setattr(crypto, "blind_index", real_blind_index)
        _migrate(AFTER)
    finally:
        _migrate_to_latest()
    assert "Encrypting transaction records" in capsys.readouterr().err

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT order_number, counterparty_nickname, asset_type, quantity, amount FROM {table} "  # noqa: S608
                       "ORDER BY id")
        raw = cursor.fetchall()
    assert [row[0] for row in raw[:4]] == done_tokens  # the chunks done before the crash were not redone
    for row in raw:
        assert not any(str(cell).startswith(("OLD-", "oldpeer")) or str(cell) in ("ETH", "0.5") for cell in row)

    records = list(TransactionRecord.objects.order_by("pk"))
    assert [(r.order_number, r.counterparty_nickname, r.asset_type, r.quantity, r.amount) for r in records] == [
        (f"OLD-{i:04d}", f"oldpeer{i}", "ETH", Decimal("0.5000000000"), Decimal(f"{100 + i}.25")) for i in range(7)
    ]
    assert transactions_by_order_number("OLD-0003").get() == records[3]
    assert list(MemberDailyVolume.objects.values_list("member_id", "day", "orders", "amount")) == [
        (member.pk, datetime.date(2026, 2, 3), 7, sum(Decimal(f"{100 + i}.25") for i in range(7))),
    ]
    assert volumes.volumes_check().drift == 0
