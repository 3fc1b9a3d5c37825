"""Issue 15, requirement 2: new orders are checked a column at a time, with the general path's problems (PP-13, PP-16).

``accounts.members.spreadsheets.columnar`` with ``order_columns.OrderColumns`` behind
``records_import_file``. The row-by-row path (``streaming``) is what it must equal: the same
problems (line, column, message, never the value), the same stored values, nothing kept on a
problem or a dry run, a constant number of queries per chunk.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.members import volumes
from accounts.members.spreadsheets import columnar, imports, order_columns, streaming
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import ImportBatch, MemberDailyVolume, ProductLine, TransactionRecord
from tests.accounts.test_import import SOURCE, TXN_HEADER, csv_bytes, txn_row
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

HEADER = [*TXN_HEADER, "product_line"]


def _row(i: int, member_number: str, **changes) -> list[str]:
    line = changes.pop("product_line", "")
    return [*txn_row(i, member_number, **changes), line]


def _import(tmp_path, rows, *, header=HEADER, dry_run=False, columns=True, monkeypatch=None):
    path = tmp_path / f"orders-{'columns' if columns else 'rows'}.csv"
    path.write_bytes(csv_bytes(header, rows))
    if not columns:
        monkeypatch.setattr(columnar, "plan_for", lambda resource, headers: None)
    try:
        return imports.records_import_file(resource_class=TransactionRecordResource, path=path, file_format="csv",
                                           source=SOURCE, dry_run=dry_run)
    finally:
        if not columns:
            monkeypatch.undo()


@pytest.fixture
def members(db):
    spot = ProductLine.objects.create(code="spot", name="Spot")
    margin = ProductLine.objects.create(code="margin", name="Margin")
    closed = ProductLine.objects.create(code="old", name="Old", closed_on=datetime.date(2025, 1, 1))
    return {
        "one": MemberFactory(product_lines=[spot]),
        "two": MemberFactory(product_lines=[spot, margin]),
        "closed": MemberFactory(product_lines=[closed]),
        "none": MemberFactory(),
    }


def _bad_rows(members) -> list[list[str]]:
    one, two, closed, none = (members[k].member_number for k in ("one", "two", "closed", "none"))
    cases = [
        dict(member_number=""), dict(member_number="NOBODY"), dict(member_number=f"'{one}"),
        dict(order_number=""), dict(order_number="X" * 41), dict(order_number="  "),
        dict(order_time=""), dict(order_time="yesterday"), dict(order_time="2025-02-30 10:00:00"),
        dict(order_time="9999-12-31 23:59:59-10:00"), dict(order_time="0001-01-01 00:00:00+05:00"),
        dict(counterparty_nickname="n" * 101),
        dict(asset_type=""), dict(asset_type="DOGE"),
        dict(quantity=""), dict(quantity="0"), dict(quantity="-1"), dict(quantity="abc"), dict(quantity="nan"),
        dict(quantity="1e40"), dict(quantity="0.00000000001"),
        dict(amount="-0.01"), dict(amount="1.234"), dict(amount="12,5"), dict(amount="inf"),
        dict(amount="1" * 19), dict(product_line="nope"), dict(product_line="margin"),
        dict(member_number=two), dict(member_number=closed), dict(member_number=none),
        dict(member_number=two, product_line="old"), dict(member_number=closed, product_line="old"),
        dict(order_number="", quantity="abc", amount="-1", asset_type="DOGE", order_time="soon"),
    ]
    rows = [_row(i, case.pop("member_number", one), **case) for i, case in enumerate(cases)]
    rows.append(_row(0, one))  # a key repeated
    rows.append(_row(900, one))  # and good rows between the bad ones
    return rows


def test_pp16_the_column_path_reports_exactly_the_problems_of_the_row_by_row_path(tmp_path, members, monkeypatch):
    """A file full of bad cells: every problem (line, column, message) is the row-by-row path's, in the same order."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 7)  # several chunks, and parts inside them
    monkeypatch.setattr(columnar, "PART_SIZE", 3)
    rows = _bad_rows(members)

    by_rows = _import(tmp_path, rows, columns=False, monkeypatch=monkeypatch)
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 7)
    monkeypatch.setattr(columnar, "PART_SIZE", 3)
    by_columns = _import(tmp_path, rows)

    assert len(by_rows.problems) > len(rows)  # every case is a problem, and some have several
    assert [(p.line, p.column, p.message) for p in by_columns.problems] == [
        (p.line, p.column, p.message) for p in by_rows.problems
    ]
    assert (by_columns.total_rows, by_columns.new) == (by_rows.total_rows, by_rows.new)
    assert (TransactionRecord.objects.count(), MemberDailyVolume.objects.count(), ImportBatch.objects.count()) == (
        0, 0, 0)


def test_pp13_the_column_path_stores_what_the_row_by_row_path_stores(tmp_path, members, monkeypatch):
    """Good rows, some of which the plan leaves to the general check (a formula escape, a time in UTC 'Z', a
    label for a choice, a named line): the same orders, decrypted, and the same daily volumes."""
    one, two = members["one"].member_number, members["two"].member_number
    rows = [
        _row(1, one), _row(2, one, counterparty_nickname="'=SUM(A1)", order_time="2025-03-02 23:30:00+08:00"),
        _row(3, one, asset_type="other", quantity="3", amount="0"), _row(4, two, product_line="margin"),
        _row(5, one, order_time="2025-03-03T01:02:03Z", counterparty_nickname=""),
        _row(6, f" {one} ", amount=" 12.5 ", product_line=" spot "), _row(7, one, quantity="1_000"),
    ]

    def stored():
        return sorted(
            (r.member_id, r.order_number, r.order_time, r.counterparty_nickname, r.asset_type, r.quantity, r.amount,
             r.product_line.code, r.import_batch.source)
            for r in TransactionRecord.objects.select_related("product_line", "import_batch")
        ), sorted(MemberDailyVolume.objects.values_list("member_id", "day", "orders", "amount"))

    report = _import(tmp_path, rows, columns=False, monkeypatch=monkeypatch)
    assert report.problems == [] and report.new == len(rows)
    by_rows = stored()
    TransactionRecord.objects.all().delete()
    MemberDailyVolume.objects.all().delete()

    report = _import(tmp_path, rows)
    assert report.problems == [] and report.new == len(rows)
    assert stored() == by_rows
    assert sum(orders for _m, _d, orders, _a in by_rows[1]) == len(rows)  # the volumes were written
    assert by_rows[0][0][5:7] == (Decimal("0.5000000000"), Decimal("1000.00"))


def test_pp16_good_rows_take_the_column_path_and_a_dry_run_keeps_nothing(tmp_path, members, monkeypatch):
    """No instance per good row (the general check is not called), and a dry run rolls everything back."""
    calls = []
    real = streaming.row_instance
    monkeypatch.setattr(streaming, "row_instance", lambda *a: calls.append(1) or real(*a))
    one = members["one"].member_number
    rows = [_row(i, one, amount=f"{i}.25", order_time=f"2025-04-{1 + i % 28:02d} 09:00:00") for i in range(40)]

    report = _import(tmp_path, rows, dry_run=True)

    assert (report.problems, report.new, report.total_rows, report.batch) == ([], 40, 40, None)
    assert calls == []
    assert (TransactionRecord.objects.count(), MemberDailyVolume.objects.count(), ImportBatch.objects.count()) == (
        0, 0, 0)


def test_pp13_the_column_path_runs_a_constant_number_of_queries_per_chunk(
    tmp_path, members, monkeypatch, django_assert_max_num_queries
):
    """Two chunks or six: the same queries per chunk (the stored-key check, members, their lines, the write;
    elsewhere than PostgreSQL the write is a ``bulk_create`` in a savepoint)."""
    one = members["one"].member_number
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 10)
    counts = []
    for total in (20, 60):
        TransactionRecord.objects.all().delete()
        MemberDailyVolume.objects.all().delete()
        rows = [_row(i, one, order_time=f"2025-05-{1 + i % 28:02d} 09:00:00") for i in range(total)]
        with django_assert_max_num_queries(12 + 8 * (total // 10)) as context:
            report = _import(tmp_path, rows)
        assert report.problems == [] and report.new == total
        counts.append(len(context.captured_queries))
    assert counts[1] - counts[0] <= 4 * 8  # four more chunks, at most eight queries each


def test_a_plan_refuses_a_model_it_does_not_know(members):
    """The plan names the fields it vouches for; a model with other fields keeps the row-by-row path."""
    resource = TransactionRecordResource(source=SOURCE)
    assert isinstance(columnar.plan_for(resource, HEADER), order_columns.OrderColumns)
    resource.column_plan = None
    assert columnar.plan_for(resource, HEADER) is None


def test_pp10_daily_volumes_written_early_are_the_row_by_row_paths(tmp_path, members, monkeypatch):
    """Past ``volumes.MAX_DAYS`` member-days the sums are written between chunks (never while a COPY is open):
    the same days, orders and amounts as the row-by-row path."""
    monkeypatch.setattr(volumes, "MAX_DAYS", 3)
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 8)
    monkeypatch.setattr(columnar, "PART_SIZE", 3)
    one, two = members["one"].member_number, members["two"].member_number
    rows = [_row(i, one if i % 3 else two, order_time=f"2025-06-{1 + i % 9:02d} 12:00:00", amount=f"{i}.50",
                 product_line="" if i % 3 else "spot") for i in range(40)]

    def days():
        return sorted(MemberDailyVolume.objects.values_list("member_id", "day", "orders", "amount"))

    assert _import(tmp_path, rows, columns=False, monkeypatch=monkeypatch).problems == []
    monkeypatch.setattr(volumes, "MAX_DAYS", 3)
    by_rows = days()
    TransactionRecord.objects.all().delete()
    MemberDailyVolume.objects.all().delete()

    assert _import(tmp_path, rows).problems == []
    assert days() == by_rows and len(by_rows) == 9  # three times MAX_DAYS: written early twice
