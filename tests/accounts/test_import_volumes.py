"""Issue 15, requirement 2: a streamed import sums the daily volumes of the whole file and writes them once.

``accounts.members.volumes.VolumeTotals`` behind ``TransactionRecordResource.after_stream``: the
days it stores are the ones ``volumes_add`` stores order by order, on days already stored and new
ones, and the recomputation from the encrypted rows (``volumes_check``) finds no drift.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from accounts.members import volumes
from accounts.members.spreadsheets import imports, streaming
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import MemberDailyVolume, TransactionRecord
from tests.accounts.test_import import SOURCE, TXN_HEADER, csv_bytes, txn_row
from tests.factories import MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db


def _stored() -> dict:
    return {(v.member_id, v.day): (v.orders, v.amount) for v in MemberDailyVolume.objects.all()}


def _orders(members) -> list[list[str]]:
    """Orders over three members and a few days each (one of them a day already stored), some on one day."""
    rows = []
    for i in range(90):
        member = members[i % 3]
        day = 1 + (i * 7) % 5
        rows.append(txn_row(i, member.member_number, order_time=f"2025-03-0{day} 1{i % 10}:00:00+00:00",
                            amount=f"{10 + i}.{i % 100:02d}"))
    rows.append(txn_row(90, members[0].member_number, order_time="2025-03-01 23:30:00-02:00"))  # UTC: 2 March
    return rows


def test_pp10_a_streamed_import_stores_the_same_days_as_adding_its_orders_one_by_one(tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 20)  # five chunks, one write of the volumes
    members = [MemberFactory(product_lines=["spot"]) for _ in range(3)]
    TransactionRecordFactory(member=members[0], order_time=datetime.datetime(2025, 3, 1, 8, tzinfo=datetime.UTC),
                             amount=Decimal("5.00"))  # a day stored before the import
    before = _stored()
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(TXN_HEADER, _orders(members)))

    report = imports.records_import_file(resource_class=TransactionRecordResource, path=path, file_format="csv",
                                         source=SOURCE)

    assert (report.problems, report.new) == ([], 91)
    imported = _stored()
    # The same orders added one by one, as every other write path does, onto the days stored before.
    MemberDailyVolume.objects.all().delete()
    MemberDailyVolume.objects.bulk_create(
        [MemberDailyVolume(member_id=m, day=d, orders=o, amount=a) for (m, d), (o, a) in before.items()])
    for record in TransactionRecord.objects.filter(import_batch=report.batch).order_by("pk"):
        volumes.volumes_add([record])
    assert imported == _stored()
    assert imported[(members[0].pk, datetime.date(2025, 3, 1))][0] > 1  # the stored day grew
    assert imported[(members[0].pk, datetime.date(2025, 3, 2))][0] >= 1  # the order at 23:30-02:00
    assert volumes.volumes_check().drift == 0


def test_pp10_volume_totals_written_early_past_their_limit_add_up_to_the_same_days():
    """Memory stays bounded: past ``max_days`` member-days the sums are written and started again."""
    members = [MemberFactory(product_lines=["spot"]) for _ in range(2)]
    records = [
        TransactionRecord(member_id=members[i % 2].pk, amount=Decimal(f"{i}.25"),
                          order_time=datetime.datetime(2025, 1, 1 + i % 9, 12, tzinfo=datetime.UTC))
        for i in range(40)
    ]
    totals = volumes.VolumeTotals(max_days=4)

    for start in range(0, 40, 8):
        totals.add(records[start:start + 8])
    totals.flush()

    expected: dict = {}
    for record in records:
        key = (record.member_id, record.order_time.date())
        orders, amount = expected.get(key, (0, Decimal("0")))
        expected[key] = (orders + 1, amount + record.amount)
    assert _stored() == expected
    assert totals.flush() == 0  # nothing left to write


def test_pp10_a_refused_or_dry_run_import_leaves_the_stored_days_as_they_were(tmp_path):
    members = [MemberFactory(product_lines=["spot"]) for _ in range(3)]
    TransactionRecordFactory(member=members[1], order_time=datetime.datetime(2025, 3, 2, 8, tzinfo=datetime.UTC))
    before = _stored()
    rows = _orders(members)
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(TXN_HEADER, rows))

    dry = imports.records_import_file(resource_class=TransactionRecordResource, path=path, file_format="csv",
                                      source=SOURCE, dry_run=True)
    rows[-1] = txn_row(90, members[0].member_number, quantity="-1")
    path.write_bytes(csv_bytes(TXN_HEADER, rows))
    refused = imports.records_import_file(resource_class=TransactionRecordResource, path=path, file_format="csv",
                                          source=SOURCE)

    assert (dry.problems, dry.new) == ([], 91)
    assert [str(p) for p in refused.problems] == ["line 92, column quantity: The quantity must be greater than zero."]
    assert _stored() == before
