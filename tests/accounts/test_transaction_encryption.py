"""Issue 14 requirement 1: transaction information is sensitive (PP-01, PP-08, PP-10, PP-13, PP-25, PP-26).

The order number, counterparty nickname, asset type, quantity and amount are encrypted at rest,
masked on screen, revealed with a reason and an access-log row; the order number is found through
its blind index; the per-member daily volumes keep the sums PP-10 needs, exact on every write path
and checked against the encrypted rows (drift 0).
"""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from accounts.members import volumes
from accounts.members.seeding.seed import demo_members_seed
from accounts.members.selectors import members_needing_advanced_verification, transactions_by_order_number
from accounts.members.spreadsheets import imports
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import MemberDailyVolume, SensitiveAccessLog, TransactionRecord
from accounts.privacy import crypto, rotation
from retention.choices import ErasureTrigger
from retention.erasure import runner
from tests.accounts.test_import import SOURCE, TXN_HEADER, csv_bytes
from tests.factories import MemberFactory, TransactionRecordFactory
from tests.retention.erasure_seed import seed_member

pytestmark = pytest.mark.django_db

DAY = timezone.make_aware(datetime.datetime(2026, 3, 2, 10, 0))
TRANSACTION_COLUMNS = ("order_number", "counterparty_nickname", "asset_type", "quantity", "amount")
ASSETS = ("BTC", "ETH", "USDT", "SOL", "XRP", "OTHER")


def _import(rows, *, user=None):
    dataset = imports.dataset_from_file(content=csv_bytes(TXN_HEADER, rows), file_name="orders.csv")
    return imports.records_import(resource_class=TransactionRecordResource, dataset=dataset, user=user, source=SOURCE)


def _orders(member, tag: str):
    """Two orders a day on two days, by import and by factory, with values found nowhere else."""
    rows = [
        [member.member_number, f"IMP-{tag}-1", "2026-03-02 10:00:00", f"canarypeer{tag}a", "ETH", "0.1234567891",
         "4321.17"],
        [member.member_number, f"IMP-{tag}-2", "2026-03-02 11:00:00", f"canarypeer{tag}b", "SOL", "7.7777777771",
         "8765.29"],
    ]
    assert _import(rows).new == 2
    TransactionRecordFactory(member=member, order_number=f"FAC-{tag}-1", counterparty_nickname=f"canarypeer{tag}c",
                             asset_type="XRP", quantity=Decimal("3.1415926535"), amount=Decimal("1357.93"),
                             order_time=DAY + datetime.timedelta(days=1))
    TransactionRecordFactory(member=member, order_number=f"FAC-{tag}-2", counterparty_nickname=f"canarypeer{tag}d",
                             asset_type="USDT", quantity=Decimal("2.7182818284"), amount=Decimal("2468.51"),
                             order_time=DAY + datetime.timedelta(days=1, hours=2))
    plain_numbers = ("4321.17", "8765.29", "1357.93", "2468.51", "0.1234567891", "7.7777777771", "3.1415926535",
                     "2.7182818284")
    texts = tuple(f"{kind}-{tag}-{i}" for kind in ("IMP", "FAC") for i in (1, 2)) + tuple(
        f"canarypeer{tag}{c}" for c in "abcd"
    )
    return texts, plain_numbers


def _tables_with_transaction_columns() -> dict[str, list[str]]:
    """Every table of the database (live, history, anything added later) with a transaction column."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            if any(name in columns for name in TRANSACTION_COLUMNS):
                found[table] = columns
    return found


def _raw_cells(table: str, columns: list[str]) -> list[str]:
    quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # noqa: S608 - names from introspection
        return [str(cell) for row in cursor.fetchall() for cell in row if cell is not None]


def test_pp01_no_transaction_detail_is_readable_in_its_tables():
    """Raw SQL over every table holding a transaction column, and the volume table: no order number,
    nickname, asset, quantity or single amount is stored in plain text; the volumes hold day totals only."""
    member = MemberFactory(product_lines=["spot"])  # its orders take its one line (PP-19)
    texts, numbers = _orders(member, "q7")

    tables = _tables_with_transaction_columns()
    assert TransactionRecord._meta.db_table in tables
    assert MemberDailyVolume._meta.db_table in tables  # its "amount" column: checked like the others
    for table, columns in tables.items():
        cells = _raw_cells(table, columns)
        for cell in cells:
            assert not any(text in cell for text in texts), f"{table} holds an order detail in plain text"
            assert cell not in ASSETS, f"{table} holds an asset type in plain text"
            stripped = cell.rstrip("0").rstrip(".") if "." in cell else cell
            assert not any(stripped == n.rstrip("0").rstrip(".") for n in numbers), f"{table} holds {cell!r}"

    # What the volumes hold: per member and UTC day, the number of orders and their sum. Nothing else.
    assert {f.column for f in MemberDailyVolume._meta.concrete_fields} == {"id", "member_id", "day", "orders",
                                                                            "amount"}
    assert sorted(MemberDailyVolume.objects.values_list("day", "orders", "amount")) == [
        (datetime.date(2026, 3, 2), 2, Decimal("13086.46")),
        (datetime.date(2026, 3, 3), 2, Decimal("3826.44")),
    ]
    # The rows still read back as they were written.
    stored = transactions_by_order_number("IMP-q7-1").get()
    assert (stored.counterparty_nickname, stored.asset_type, stored.quantity, stored.amount) == (
        "canarypeerq7a", "ETH", Decimal("0.1234567891"), Decimal("4321.17"),
    )


def test_pp13_exact_look_up_by_order_number_goes_through_the_blind_index(client, compliance_officer):
    """An order number is found exactly (blind index, nothing decrypted), in the selector and the admin
    search; the import keyed on the order number skips an order already imported."""
    wanted = TransactionRecordFactory(order_number="ORD-ENC-4711", order_time=DAY)
    TransactionRecordFactory(order_number="ORD-ENC-4712")
    assert list(transactions_by_order_number(" ORD-ENC-4711 ")) == [wanted]
    assert not transactions_by_order_number("ord-enc-4711").exists()  # an exact key: case matters
    by_index = TransactionRecord.objects.filter(order_number_bidx=crypto.blind_index("order", "ORD-ENC-4711"))
    assert by_index.get() == wanted

    client.force_login(compliance_officer)
    page = client.post("/admin/accounts/transactionrecord/search/", {"q": "ORD-ENC-4711"}, follow=True)
    assert page.context["cl"].result_count == 1
    assert list(page.context["cl"].result_list) == [wanted]

    row = [wanted.member.member_number, "ORD-ENC-4711", DAY.isoformat(sep=" "),
           wanted.counterparty_nickname, "BTC", "0.5", "1000.00"]
    again = _import([row])
    assert (again.skipped, again.new, again.problems) == (1, 0, [])


def test_pp25_transaction_details_are_masked_and_revealed_with_a_reason_and_a_log_row(client, compliance_officer):
    """The list, the page and a masked export show no order detail; a reveal needs a reason and writes one row."""
    record = TransactionRecordFactory(order_number="ORD-MASK-90817", counterparty_nickname="maskedpeer42",
                                      amount=Decimal("98765.43"), quantity=Decimal("1.2345678901"))
    client.force_login(compliance_officer)
    for url in ("/admin/accounts/transactionrecord/", f"/admin/accounts/transactionrecord/{record.pk}/change/"):
        body = client.get(url).content.decode()
        for value in ("ORD-MASK-90817", "maskedpeer42", "98765.43", "98,765.43", "1.2345678901"):
            assert value not in body, (url, value)
    masked = TransactionRecordResource(user=None).export(TransactionRecord.objects.all())
    assert "maskedpeer42" not in masked.csv and "98765.43" not in masked.csv

    url = f"/admin/accounts/reveal/accounts.transactionrecord/{record.pk}/amount/"
    assert "98765.43" not in client.post(url, {"reason": ""}).content.decode()
    assert not SensitiveAccessLog.objects.exists()
    shown = client.post(url, {"reason": "Ticket 5120: the member disputes this order"})
    assert "98765.43" in shown.content.decode()
    entry = SensitiveAccessLog.objects.get()
    assert (entry.model_label, entry.field_name, entry.member_number) == (
        "accounts.TransactionRecord", "amount", record.member.member_number,
    )


def _check(*args) -> str:
    out = io.StringIO()
    call_command("transaction_volume_check", *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_pp10_every_write_path_keeps_the_daily_volumes_exact_and_the_check_finds_drift_0(settings):
    """Import, factory (save), seeder, erasure (order times moved to the year) and key rotation:
    the check recomputes the volumes from the encrypted rows and finds drift 0; a tampered row is
    found, reported and fixed."""
    member = MemberFactory(product_lines=["spot"])  # its orders take its one line (PP-19)
    _orders(member, "d1")
    demo_members_seed(count=3, seed=5, today=DAY.date(), files=False)
    child = seed_member(born=datetime.date(2015, 3, 1))
    runner.erase_members(member_ids=[child.member.pk], trigger=ErasureTrigger.UNDER_14)
    moved = MemberDailyVolume.objects.filter(member=child.member)
    assert {(v.day.month, v.day.day) for v in moved} == {(1, 1)}  # follows the orders to the year
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.FIELD_ENCRYPTION_KEYS]
    rotation.rotate_keys(only=[TransactionRecord], files=False)

    report = volumes.volumes_check()
    assert report.drift == 0 and report.orders == TransactionRecord.objects.count() > 60
    assert "drift 0 days" in _check()

    MemberDailyVolume.objects.filter(member=member, day=datetime.date(2026, 3, 2)).update(amount=Decimal("1.00"))
    with pytest.raises(CommandError, match="Drift on 1 days"):
        _check()
    assert "drift 1 days (1 members, 0 orders, 13085.46 USD); fixed" in _check("--fix")
    assert "drift 0 days" in _check()


def test_pp10_the_threshold_reads_the_daily_volumes_not_the_encrypted_amounts(settings, django_assert_num_queries):
    """One query over the plain volumes; an order on the edge day of the window counts (whole UTC days)."""
    settings.ADVANCED_VERIFICATION_THRESHOLD = {"amount": "10000", "window_days": 30}
    now = DAY
    edge = TransactionRecordFactory(amount=Decimal("20000"), order_time=now - datetime.timedelta(days=30, hours=9))
    out = TransactionRecordFactory(amount=Decimal("20000"), order_time=now - datetime.timedelta(days=31))
    with django_assert_num_queries(1) as queries:
        listed = list(members_needing_advanced_verification(now=now))
    assert listed == [edge.member] and out.member not in listed
    assert "accounts_memberdailyvolume" in queries.captured_queries[0]["sql"]
    assert "accounts_transactionrecord" not in queries.captured_queries[0]["sql"]


def test_pp26_key_rotation_covers_every_encrypted_transaction_column():
    """Rotation finds the new encrypted columns itself (it walks the encrypted fields)."""
    columns = {model: {f.name for f in fields} for model, fields in rotation.encrypted_columns()}
    assert columns[TransactionRecord] == set(TRANSACTION_COLUMNS)
