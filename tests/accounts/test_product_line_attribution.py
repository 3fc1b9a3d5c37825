"""Issue 14, requirement 4: every record that is data of a service carries its product line (PP-19).

Every write path fills it (import, seeding, the retention demo, the factories); migration 0010
assigns existing rows where the member uses one line and ``product_line_attribution_report`` lists
the rest. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime
import importlib
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db.models import Count

from accounts.members.seeding.seed import demo_members_seed
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import DeviceRecord, Member, ProductLine, TransactionRecord
from retention.demo import seed_retention
from tests.accounts.test_import import TXN_HEADER, csv_bytes, run_import, txn_row
from tests.factories import DeviceRecordFactory, MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

attribution = importlib.import_module("accounts.migrations.0010_product_line_attribution")

HEADER = [*TXN_HEADER, "product_line"]


@pytest.fixture
def lines(db):
    return {code: ProductLine.objects.create(code=code, name=code.title()) for code in ("spot", "margin", "legacy")}


def uses_own_line(model) -> bool:
    """Every row of ``model`` carries a line, and one its member uses."""
    through = Member.product_lines.through
    links = set(through.objects.values_list("member_id", "productline_id"))
    pairs = list(model.objects.values_list("member_id", "product_line_id"))
    return bool(pairs) and all(line is not None and (member, line) in links for member, line in pairs)


def test_pp19_an_imported_order_takes_the_line_the_file_names_or_its_members_only_line(lines):
    """The ``product_line`` column names the line by code; left empty (or out), the member's only line is used."""
    one = MemberFactory(product_lines=["spot"])
    two = MemberFactory(product_lines=["spot", "margin"])
    rows = [
        [*txn_row(1, one.member_number), ""],
        [*txn_row(2, two.member_number), "margin"],
        [*txn_row(3, two.member_number), "spot"],
    ]
    assert run_import(TransactionRecordResource, csv_bytes(HEADER, rows)).problems == []
    assert run_import(TransactionRecordResource, csv_bytes(TXN_HEADER, [txn_row(4, one.member_number)])).new == 1

    by_order = dict(TransactionRecord.objects.values_list("order_number", "product_line__code"))
    assert by_order == {"ORD-IMP-00000001": "spot", "ORD-IMP-00000002": "margin", "ORD-IMP-00000003": "spot",
                        "ORD-IMP-00000004": "spot"}


def test_pp19_an_order_whose_line_cannot_be_told_is_a_problem_naming_line_and_column_and_nothing_is_written(lines):
    """Several lines or none and no column, an unknown code, a line the member does not use, a closed line."""
    ProductLine.objects.filter(code="legacy").update(closed_on=datetime.date(2026, 1, 1))
    two = MemberFactory(product_lines=["spot", "margin"])
    none = MemberFactory()
    legacy = MemberFactory(product_lines=["legacy", "spot"])
    rows = [
        [*txn_row(1, two.member_number), ""],
        [*txn_row(2, none.member_number), ""],
        [*txn_row(3, two.member_number), "futures"],
        [*txn_row(4, two.member_number), "legacy"],
        [*txn_row(5, legacy.member_number), "legacy"],
        [*txn_row(6, two.member_number), "spot"],  # a good row: written only with the others
    ]
    report = run_import(TransactionRecordResource, csv_bytes(HEADER, rows))

    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (2, "product_line", "Name the product line of this order: the member uses 2 product lines (margin, spot)."),
        (3, "product_line", "Name the product line of this order: the member uses 0 product lines (none)."),
        (4, "product_line", "Unknown product line code: futures."),
        (5, "product_line", "This product line is closed: its data is no longer collected (PP-19)."),
        (6, "product_line", "This product line is closed: its data is no longer collected (PP-19)."),
    ]
    assert TransactionRecord.objects.count() == 0


def test_pp19_seeded_demo_and_factory_records_carry_a_line_of_their_member(superuser):
    """The member seeder, the retention demo and the factories fill the line on every device and order."""
    demo_members_seed(count=12, seed=7, today=datetime.date(2028, 2, 29))
    assert uses_own_line(DeviceRecord) and uses_own_line(TransactionRecord)

    TransactionRecord.objects.all().delete()
    DeviceRecord.objects.all().delete()
    seed_retention()
    assert uses_own_line(DeviceRecord) and uses_own_line(TransactionRecord)
    # A demo member with two lines has orders of both: the shutdown has something to tell apart.
    by_member = TransactionRecord.objects.values("member_id").annotate(n=Count("product_line", distinct=True))
    assert by_member.filter(n=2).exists()

    member = MemberFactory(product_lines=["spot"])
    assert DeviceRecordFactory(member=member).product_line.code == "spot"
    assert TransactionRecordFactory(member=member).product_line.code == "spot"


def test_pp19_the_migration_assigns_single_line_members_rows_and_points_to_the_report_for_the_rest(
    lines, capsys,
):
    """The data step of 0010: one line → that line; several or none → left empty, counted, and reported."""
    one = MemberFactory(product_lines=["spot"])
    two = MemberFactory(product_lines=["spot", "margin"])
    none = MemberFactory()
    for member in (one, two, none):
        DeviceRecordFactory.create_batch(2, member=member, product_line=None)
        TransactionRecordFactory.create_batch(3, member=member, product_line=None)
    kept = TransactionRecordFactory(member=two, product_line=lines["margin"])  # already attributed: untouched
    capsys.readouterr()

    attribution.assign_single_line(apps, None)

    assert set(DeviceRecord.objects.filter(member=one).values_list("product_line__code", flat=True)) == {"spot"}
    assert set(TransactionRecord.objects.filter(member=one).values_list("product_line__code", flat=True)) == {"spot"}
    assert not DeviceRecord.objects.filter(member__in=[two, none], product_line__isnull=False).exists()
    assert TransactionRecord.objects.filter(member__in=[two, none], product_line__isnull=True).count() == 6
    assert TransactionRecord.objects.get(pk=kept.pk).product_line == lines["margin"]
    printed = capsys.readouterr().out
    assert "10 transaction/device record(s) have no product line" in printed
    assert "manage.py product_line_attribution_report" in printed

    # Rerunnable: a second run changes nothing and finishes.
    attribution.assign_single_line(apps, None)
    assert TransactionRecord.objects.filter(product_line__isnull=True).count() == 6

    out, err = StringIO(), StringIO()
    call_command("product_line_attribution_report", stdout=out, stderr=err)
    assert out.getvalue().splitlines() == [
        "model,member_number,product_lines_used,rows_without_line",
        *sorted([f"accounts.DeviceRecord,{two.member_number},2,2", f"accounts.DeviceRecord,{none.member_number},0,2"]),
        *sorted([f"accounts.TransactionRecord,{two.member_number},2,3",
                 f"accounts.TransactionRecord,{none.member_number},0,3"]),
    ]
    assert "10 record(s) without a product line" in err.getvalue()
    # Member numbers and counts only: no personal value of the members.
    assert two.email not in out.getvalue() and two.legal_name not in out.getvalue()


def test_pp19_the_attribution_report_writes_a_file(lines, tmp_path):
    member = MemberFactory(product_lines=["spot", "margin"])
    DeviceRecordFactory(member=member, product_line=None)
    target = tmp_path / "unattributed.csv"
    err = StringIO()
    call_command("product_line_attribution_report", "-o", str(target), stderr=err)
    assert target.read_text().splitlines()[1] == f"accounts.DeviceRecord,{member.member_number},2,1"
    assert str(target) in err.getvalue()


def test_pp19_the_data_map_page_names_the_data_of_a_service(client, auditor):
    """The page shows which models the shutdown of a line erases, read from the same declaration."""
    client.force_login(auditor)
    html = client.get("/admin/accounts/data-map/").content.decode()
    section = html[html.index('id="service-scoped"'):]
    section = section[:section.index("</p>")]
    assert 'data-model="accounts.DeviceRecord"' in section and 'data-model="accounts.TransactionRecord"' in section
    assert "accounts.PaymentInstrument" not in section  # account data: no single line owns it
