"""Issue 3, requirement 10: imports check every row and commit all or nothing (design decision 8).

Runs on SQLite and PostgreSQL. The admin tests go through the project's admin
(``accounts.admin``), whose member, related-person and transaction admins put the mixins of
``accounts.members.admin.imports`` first in their bases.
"""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.members.admin.imports import (
    MemberImportExportMixin,
    RelatedPersonImportExportMixin,
    TransactionImportExportMixin,
)
from accounts.members.choices import MemberKind, MemberStatus
from accounts.members.selectors import transactions_by_order_number
from accounts.members.spreadsheets import imports
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.related_persons import RelatedPersonResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import Member, ProductLine, RelatedPerson, TransactionRecord
from accounts.privacy import crypto
from tests.factories import InstitutionFactory, MemberFactory, RelatedPersonFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

IMPORT_URLS = {
    "member": "/admin/accounts/member/import/",
    "relatedperson": "/admin/accounts/relatedperson/import/",
    "transactionrecord": "/admin/accounts/transactionrecord/import/",
}

# --- Files ----------------------------------------------------------------------------------------
MEMBER_HEADER = [
    "member_number", "kind", "status", "nationality", "legal_name", "date_of_birth", "email", "phone", "product_lines",
]
TXN_HEADER = [
    "member_number", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount",
]
PERSON_HEADER = [
    "id", "member_number", "role", "ownership_share", "legal_name", "nationality", "date_of_birth", "email",
]


def member_row(i: int, **changes) -> list[str]:
    row = dict(
        member_number=f"IMP{i:06d}", kind="individual", status="active", nationality="cn", legal_name=f"Person {i}",
        date_of_birth="1990-05-17", email=f"p{i}@mail.example", phone=f"+86 138 0000 {i % 10000:04d}",
        product_lines="spot",
    )
    row.update(changes)
    return [row[name] for name in MEMBER_HEADER]


def txn_row(i: int, member_number: str, **changes) -> list[str]:
    row = dict(
        member_number=member_number, order_number=f"ORD-IMP-{i:08d}", order_time="2025-03-01 10:00:00",
        counterparty_nickname=f"trader{i}", asset_type="BTC", quantity="0.5", amount="1000.00",
    )
    row.update(changes)
    return [row[name] for name in TXN_HEADER]


def csv_bytes(header: list[str], rows: list[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def xlsx_bytes(header: list[str], rows: list[list | None]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row or [])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


#: Every import names where its data came from (PP-16, tests/accounts/test_import_source.py).
SOURCE = "Acme Payments Ltd, data-sharing agreement DSA-2025-07"


def run_import(resource_class, content: bytes, *, user=None, file_name="file.csv", dry_run=False):
    dataset = imports.dataset_from_file(content=content, file_name=file_name)
    return imports.records_import(resource_class=resource_class, dataset=dataset, user=user, dry_run=dry_run,
                                  source=SOURCE)


@pytest.fixture
def product_lines(db):
    return [
        ProductLine.objects.create(code="spot", name="Spot"),
        ProductLine.objects.create(code="margin", name="Margin"),
    ]


# --- What a valid file does ---------------------------------------------------------------------
def test_member_import_writes_plaintext_fields_encrypted_with_blind_indexes_and_history(
    compliance_officer, product_lines
):
    content = csv_bytes(MEMBER_HEADER, [member_row(1, product_lines="spot, margin"), member_row(2)])

    report = run_import(MemberResource, content, user=compliance_officer)

    assert report.problems == []
    assert (report.new, report.committed) == (2, True)
    member = Member.objects.get(member_number="IMP000001")
    assert member.email == "p1@mail.example"
    assert member.date_of_birth == datetime.date(1990, 5, 17)
    assert member.birth_year == 1990
    assert member.nationality == "CN"
    assert member.email_bidx == crypto.blind_index("email", "P1@mail.example")
    assert member.phone_bidx == crypto.blind_index("phone", "+86 138 0000 0001")
    assert sorted(member.product_lines.values_list("code", flat=True)) == ["margin", "spot"]
    # Found by exact value through the blind index, as the admin's search does.
    assert Member.objects.get(email_bidx=crypto.blind_index("email", "p2@mail.example")).member_number == "IMP000002"
    history = member.history.get()
    assert (history.history_type, history.history_user) == ("+", compliance_officer)
    assert sorted(link.productline.code for link in history.product_lines.all()) == ["margin", "spot"]


def test_pp26_imported_rows_and_their_history_hold_ciphertext_only(compliance_officer, product_lines):
    run_import(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1)]), user=compliance_officer)

    with connection.cursor() as cursor:
        for table in ("accounts_member", "accounts_historicalmember"):
            cursor.execute(f"SELECT email, phone, date_of_birth FROM {table}")  # noqa: S608 - fixed names
            (row,) = cursor.fetchall()
            assert all(value.startswith("gAAAA") for value in row), table
            assert not any("p1@mail.example" in value or "1990-05-17" in value for value in row)


def test_reimporting_the_same_file_changes_nothing(compliance_officer, product_lines):
    content = csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(5)])
    run_import(MemberResource, content, user=compliance_officer)

    report = run_import(MemberResource, content, user=compliance_officer)

    assert (report.new, report.updated, report.skipped, report.problems) == (0, 0, 5, [])
    assert Member.history.count() == 5  # no history row for an unchanged member


def test_updating_a_member_rewrites_its_blind_index_and_records_history(compliance_officer, product_lines):
    member = MemberFactory(member_number="IMP000001", email="old@mail.example")
    content = csv_bytes(["member_number", "email", "product_lines"], [["IMP000001", "new@mail.example", "margin"]])

    report = run_import(MemberResource, content, user=compliance_officer)

    assert (report.updated, report.problems) == (1, [])
    member.refresh_from_db()
    assert member.email == "new@mail.example"
    assert member.email_bidx == crypto.blind_index("email", "new@mail.example")
    assert member.legal_name  # a column the file does not have is left alone
    assert list(member.product_lines.values_list("code", flat=True)) == ["margin"]
    latest = member.history.latest()
    assert (latest.history_type, latest.history_user) == ("~", compliance_officer)
    assert [link.productline.code for link in latest.product_lines.all()] == ["margin"]


def test_related_persons_are_keyed_to_the_institutions_member_number(compliance_officer):
    institution = InstitutionFactory(member_number="INST0001")
    content = csv_bytes(
        PERSON_HEADER, [["", "INST0001", "beneficial_owner", "60", "Owner One", "sg", "1975-01-02", "o1@corp.example"]]
    )

    report = run_import(RelatedPersonResource, content, user=compliance_officer)

    assert report.problems == []
    person = RelatedPerson.objects.get()
    assert person.member == institution
    assert person.ownership_share == Decimal("60")
    assert person.email_bidx == crypto.blind_index("email", "o1@corp.example")
    assert person.history.get().history_user == compliance_officer


def test_transactions_import_in_bulk_with_one_query_for_all_member_numbers(
    compliance_officer, django_assert_max_num_queries
):
    members = [MemberFactory(product_lines=["spot"]) for _ in range(10)]
    rows = [txn_row(i, members[i % 10].member_number) for i in range(1000)]
    content = csv_bytes(TXN_HEADER, rows)
    dataset = imports.dataset_from_file(content=content, file_name="orders.csv")

    # 1,000 rows: member numbers, their product lines (PP-19) and existing orders are each read once,
    # rows and the members' daily volumes (PP-10) written in batches.
    with django_assert_max_num_queries(45):
        report = imports.records_import(
            resource_class=TransactionRecordResource, dataset=dataset, user=compliance_officer, source=SOURCE
        )

    assert (report.new, report.problems) == (1000, [])
    assert TransactionRecord.objects.filter(member=members[3]).count() == 100


def test_member_import_of_1000_rows_runs_batched_queries_not_one_per_row(
    compliance_officer, product_lines, django_assert_max_num_queries
):
    dataset = imports.dataset_from_file(
        content=csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(1000)]), file_name="members.csv"
    )

    with django_assert_max_num_queries(100):  # members, history and links in batches
        report = imports.records_import(resource_class=MemberResource, dataset=dataset, user=compliance_officer,
                                        source=SOURCE)

    assert (report.new, report.problems) == (1000, [])


# --- All or nothing -------------------------------------------------------------------------------
def test_a_bad_last_row_of_1000_members_writes_nothing_and_names_line_1001(compliance_officer, product_lines):
    rows = [member_row(i) for i in range(999)] + [member_row(999, date_of_birth="1990-02-30")]

    report = run_import(MemberResource, csv_bytes(MEMBER_HEADER, rows), user=compliance_officer)

    assert Member.objects.count() == 0
    assert Member.history.count() == 0
    assert Member.product_lines.through.objects.count() == 0
    assert not report.committed
    assert [(p.line, p.column) for p in report.problems] == [(1001, "date_of_birth")]
    assert report.problems[0].message == "Enter a date as YYYY-MM-DD."


def test_a_bad_last_row_of_1000_transactions_writes_nothing_and_names_line_1001(compliance_officer):
    member = MemberFactory(product_lines=["spot"])
    rows = [txn_row(i, member.member_number) for i in range(999)] + [txn_row(999, "NO-SUCH-MEMBER")]

    report = run_import(TransactionRecordResource, csv_bytes(TXN_HEADER, rows), user=compliance_officer)

    assert TransactionRecord.objects.count() == 0
    assert [str(p) for p in report.problems] == ["line 1001, column member_number: No member has this member number."]


def test_a_database_error_while_writing_rolls_back_everything(compliance_officer, product_lines, monkeypatch):
    """Even when every row passes the checks, a failure of the bulk write leaves nothing behind."""
    from accounts.members import history_copy
    from accounts.members.spreadsheets import writes as services

    def failing(real):
        def write(*args, **kwargs):
            real(*args, **kwargs)
            raise RuntimeError("disk full")
        return write

    monkeypatch.setattr(services, "_bulk_history", failing(services._bulk_history))
    # PostgreSQL copies the members, their history and links in (``history_copy``): it fails after its writes too.
    monkeypatch.setattr(history_copy, "write_copies", failing(history_copy.write_copies))

    report = run_import(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(20)]))

    assert Member.objects.count() == 0
    assert Member.history.count() == 0
    assert [p.message for p in report.problems] == ["The import failed (RuntimeError); nothing was written."]


def test_dry_run_checks_every_row_and_writes_nothing(compliance_officer, product_lines):
    report = run_import(
        MemberResource, csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(3)]), dry_run=True
    )

    assert (report.new, report.problems, report.committed) == (3, [], False)
    assert Member.objects.count() == 0


# --- Duplicate keys -------------------------------------------------------------------------------
def test_a_member_number_twice_in_one_file_is_refused_with_both_lines(compliance_officer, product_lines):
    rows = [member_row(1), member_row(2), member_row(3), member_row(2, legal_name="Someone else")]

    report = run_import(MemberResource, csv_bytes(MEMBER_HEADER, rows), user=compliance_officer)

    assert Member.objects.count() == 0
    message = "This key appears more than once in the file: lines 3, 5."
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (3, "member_number", message),
        (5, "member_number", message),
    ]


def test_an_order_number_twice_in_one_file_is_refused_with_both_lines(compliance_officer):
    member = MemberFactory(product_lines=["spot"])
    rows = [txn_row(1, member.member_number), txn_row(2, member.member_number, order_number="ORD-IMP-00000001")]

    report = run_import(TransactionRecordResource, csv_bytes(TXN_HEADER, rows), user=compliance_officer)

    assert TransactionRecord.objects.count() == 0
    assert [(p.line, p.column) for p in report.problems] == [(2, "order_number"), (3, "order_number")]
    assert all("lines 2, 3" in p.message for p in report.problems)


def test_a_related_person_id_twice_in_one_file_is_refused(compliance_officer):
    person = RelatedPersonFactory()
    number = person.member.member_number
    rows = [
        [person.pk, number, "director", "", "A Name", "", "", ""],
        [person.pk, number, "director", "", "B Name", "", "", ""],
    ]

    report = run_import(RelatedPersonResource, csv_bytes(PERSON_HEADER, rows))

    assert [(p.line, p.column) for p in report.problems] == [(2, "id"), (3, "id")]


# --- Every rule, every bad row, with line and column ------------------------------------------------
def test_each_bad_member_row_is_listed_with_its_line_column_and_reason(compliance_officer, product_lines):
    rows = [
        member_row(1),
        member_row(2, email="not-an-email"),
        member_row(3, kind="robot"),
        member_row(4, date_of_birth="2999-01-01"),
        member_row(5, phone="call me"),
        member_row(6, nationality="China"),
        member_row(7, product_lines="spot, futures"),
        member_row(8, member_number=""),
        member_row(9, email="j***@mail.example"),
        member_row(10, status="Cancellation requested"),  # a label is accepted
    ]

    report = run_import(MemberResource, csv_bytes(MEMBER_HEADER, rows), user=compliance_officer)

    assert Member.objects.count() == 0
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (3, "email", "Enter a valid e-mail address."),
        (4, "kind", "Not a valid choice: use one of individual, institution."),
        (5, "date_of_birth", "The date of birth is in the future."),
        (6, "phone", "Enter a phone number: 6 to 15 digits, optionally with +, spaces, dashes or parentheses."),
        (7, "nationality", "Ensure this value has at most 2 characters (it has 5)."),
        (8, "product_lines", "Unknown product line code(s): futures."),
        (9, "member_number", "This field cannot be blank."),
        (10, "email", "This is a masked value copied from an export; give the full value."),
    ]
    # The report never repeats a value from the file.
    assert not any("not-an-email" in str(p) or "call me" in str(p) for p in report.problems)


@pytest.mark.parametrize(("cell", "shown"), [
    ("spot, fu\rtures", "(a code with unprintable characters)"),
    ("spot, " + "x" * 41, "(a code too long to be one)"),
])
def test_pp16_an_unknown_code_that_could_break_the_report_is_described_not_repeated(
    compliance_officer, product_lines, cell, shown
):
    """A problem is one line of ``import_records`` output: a code with a line break in it, or a
    whole paragraph in the column, is described instead of copied."""
    report = run_import(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1, product_lines=cell)]))

    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (2, "product_lines", f"Unknown product line code(s): {shown}."),
    ]
    assert all(str(p).isprintable() for p in report.problems)


def test_each_bad_related_person_row_is_listed(compliance_officer):
    InstitutionFactory(member_number="INST0001")
    MemberFactory(member_number="INDV0001")
    rows = [
        ["", "INST0001", "beneficial_owner", "100.01", "Too Much", "", "", ""],
        ["", "INST0001", "beneficial_owner", "-1", "Negative", "", "", ""],
        ["", "INDV0001", "director", "", "Of An Individual", "", "", ""],
        ["", "INST9999", "director", "", "Of Nobody", "", "", ""],
        ["", "INST0001", "", "", "", "", "", ""],
        ["999999", "INST0001", "director", "", "Unknown Id", "", "", ""],
        ["", "INST0001", "director", "ten", "Bad Number", "", "", ""],
    ]

    report = run_import(RelatedPersonResource, csv_bytes(PERSON_HEADER, rows), user=compliance_officer)

    assert RelatedPerson.objects.count() == 0
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (2, "ownership_share", "The ownership share must be between 0 and 100."),
        (3, "ownership_share", "The ownership share must be between 0 and 100."),
        (4, "member_number", "This member is not an institution; related persons belong to institutions."),
        (5, "member_number", "No member has this member number."),
        (6, "legal_name", "This field cannot be blank."),
        (6, "role", "This field cannot be blank."),
        (7, "id", "No related person has this id; leave it empty to add a new person."),
        (8, "ownership_share", "Enter a number, e.g. 1234.56 (no thousands separators)."),
    ]


def test_a_related_person_cannot_be_moved_to_another_institution(compliance_officer):
    person = RelatedPersonFactory()
    other = InstitutionFactory()
    rows = [[person.pk, other.member_number, "director", "", "Same Person", "", "", ""]]

    report = run_import(RelatedPersonResource, csv_bytes(PERSON_HEADER, rows))

    assert [(p.line, p.column) for p in report.problems] == [(2, "member_number")]
    person.refresh_from_db()
    assert person.member_id != other.pk


def test_each_bad_transaction_row_is_listed(compliance_officer):
    member = MemberFactory(product_lines=["spot"])
    number = member.member_number
    rows = [
        txn_row(1, number, order_time="yesterday"),
        txn_row(2, number, asset_type="DOGE"),
        txn_row(3, number, quantity="0"),
        txn_row(4, number, amount="12.345"),
        txn_row(5, number, quantity="1,5"),
        txn_row(6, number, order_time="2025-03-01T10:00:00+08:00"),  # ISO 8601 with an offset is fine
    ]

    report = run_import(TransactionRecordResource, csv_bytes(TXN_HEADER, rows))

    assert TransactionRecord.objects.count() == 0
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (2, "order_time", "Enter a date and time as YYYY-MM-DD HH:MM[:SS] with an optional UTC offset."),
        (3, "asset_type", "Not a valid choice: use one of BTC, ETH, USDT, SOL, XRP, OTHER."),
        (4, "quantity", "The quantity must be greater than zero."),
        (5, "amount", "Ensure that there are no more than 2 decimal places."),
        (6, "quantity", "Enter a number, e.g. 1234.56 (no thousands separators)."),
    ]


def test_an_order_already_imported_is_skipped_when_equal_and_refused_when_changed(compliance_officer):
    member = MemberFactory(product_lines=["spot"])
    first = csv_bytes(TXN_HEADER, [txn_row(1, member.member_number), txn_row(2, member.member_number)])
    assert run_import(TransactionRecordResource, first).new == 2

    again = run_import(TransactionRecordResource, first)
    changed = run_import(
        TransactionRecordResource,
        csv_bytes(TXN_HEADER, [txn_row(1, member.member_number), txn_row(2, member.member_number, amount="999.00")]),
    )

    assert (again.skipped, again.problems) == (2, [])
    assert [(p.line, p.column) for p in changed.problems] == [(3, "order_number")]
    assert "never edited" in changed.problems[0].message
    assert transactions_by_order_number("ORD-IMP-00000002").get().amount == Decimal("1000.00")


# --- The file itself ------------------------------------------------------------------------------
def test_unknown_missing_and_repeated_columns_are_reported_on_line_1(compliance_officer):
    member = MemberFactory()
    header = ["member_number", "order_number", "order_time", "asset_type", "quantity", "amount", "amount", "email_bidx"]
    rows = [[member.member_number, "ORD1", "2025-03-01 10:00", "BTC", "1", "1", "1", "abc"]]

    report = run_import(TransactionRecordResource, csv_bytes(header, rows))

    assert [(p.line, p.column) for p in report.problems] == [(1, "amount"), (1, "email_bidx")]
    assert report.problems[0].message == "This column appears more than once in the header."
    assert report.problems[1].message.startswith("Unknown column; the columns are: member_number, order_number")


def test_blind_index_and_ciphertext_columns_cannot_be_imported(compliance_officer, product_lines):
    header = ["member_number", "email", "email_bidx", "birth_year"]

    report = run_import(MemberResource, csv_bytes(header, [["IMP1", "a@b.example", "f" * 64, "1990"]]))

    assert [(p.line, p.column) for p in report.problems] == [(1, "birth_year"), (1, "email_bidx")]
    assert Member.objects.count() == 0


def test_a_missing_required_column_is_reported(compliance_officer):
    report = run_import(TransactionRecordResource, csv_bytes(["member_number", "order_number"], [["M1", "O1"]]))

    assert {(p.line, p.column) for p in report.problems} == {
        (1, "order_time"), (1, "asset_type"), (1, "quantity"), (1, "amount"),
    }


def test_csv_line_numbers_count_blank_lines_and_quoted_line_breaks(compliance_officer, product_lines):
    good = member_row(1, legal_name="Line one\nline two")
    bad = member_row(2, email="nope")
    content = csv_bytes(MEMBER_HEADER, [good]) + b"\r\n" + csv_bytes(MEMBER_HEADER, [bad]).split(b"\r\n", 1)[1]
    # line 1 header, lines 2-3 the quoted two-line name, line 4 blank, line 5 the bad row

    report = run_import(MemberResource, content)

    assert [(p.line, p.column) for p in report.problems] == [(5, "email")]


def test_a_line_with_more_cells_than_the_header_is_reported(compliance_officer, product_lines):
    content = csv_bytes(MEMBER_HEADER, [member_row(1), [*member_row(2), "surplus"]])

    report = run_import(MemberResource, content)

    assert [(p.line, p.message) for p in report.problems] == [
        (3, "This line has more cells than the header has columns (9).")
    ]
    assert Member.objects.count() == 0


def test_xlsx_import_reports_the_sheet_row_and_skips_empty_rows(compliance_officer, product_lines):
    content = xlsx_bytes(
        MEMBER_HEADER, [member_row(1), None, member_row(2, date_of_birth="17/05/1990"), member_row(3)]
    )

    report = run_import(MemberResource, content, file_name="members.xlsx")

    assert [(p.line, p.column) for p in report.problems] == [(4, "date_of_birth")]
    assert Member.objects.count() == 0


def test_xlsx_import_takes_typed_cells(compliance_officer, product_lines):
    member = MemberFactory(product_lines=["spot"])
    content = xlsx_bytes(
        TXN_HEADER,
        [[member.member_number, "ORD-X-1", datetime.datetime(2025, 3, 1, 10, 0), "nick", "ETH", 1.25, 2500]],
    )

    report = run_import(TransactionRecordResource, content, file_name="orders.xlsx")

    assert report.problems == []
    record = TransactionRecord.objects.get()
    assert (record.quantity, record.amount) == (Decimal("1.25"), Decimal("2500"))
    assert record.order_time == datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)


def test_an_exported_file_imports_back_unchanged_formula_escapes_included(superuser, product_lines):
    member = MemberFactory(legal_name="=HYPERLINK(1)", local_name="-minus", status=MemberStatus.SUSPENDED)
    member.product_lines.set(product_lines)
    exported = MemberResource(user=superuser).export(Member.objects.all())

    report = run_import(MemberResource, exported.csv.encode(), user=superuser)

    assert (report.skipped, report.problems) == (1, [])
    member.refresh_from_db()
    assert (member.legal_name, member.local_name) == ("=HYPERLINK(1)", "-minus")


# --- Permissions and the admin -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("model", "mixin"),
    [
        (Member, MemberImportExportMixin),
        (RelatedPerson, RelatedPersonImportExportMixin),
        (TransactionRecord, TransactionImportExportMixin),
    ],
)
def test_the_project_admin_uses_the_import_export_mixins(model, mixin):
    assert isinstance(admin.site._registry[model], mixin)


@pytest.mark.parametrize("role", ["agent", "auditor"])
@pytest.mark.parametrize("model", sorted(IMPORT_URLS))
def test_agents_and_auditors_get_403_on_the_import_urls(client, request, role, model):
    client.force_login(request.getfixturevalue(role))
    base = IMPORT_URLS[model].removesuffix("import/")

    assert client.get(IMPORT_URLS[model]).status_code == 403
    assert client.post(IMPORT_URLS[model], {"format": "0"}).status_code == 403
    assert client.post(base + "process_import/", {"import_file_name": "x", "format": "0"}).status_code == 403


@pytest.mark.parametrize("role", ["agent", "auditor"])
def test_agents_and_auditors_see_no_import_button_but_an_export_button(client, request, role):
    client.force_login(request.getfixturevalue(role))

    page = client.get("/admin/accounts/member/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "/admin/accounts/member/import/" not in html
    assert "/admin/accounts/member/export/" in html


@pytest.mark.parametrize("role", ["compliance_officer", "supervisor"])
def test_compliance_imports_through_the_admin_preview_then_confirm(client, request, role, product_lines):
    user = request.getfixturevalue(role)
    client.force_login(user)
    assert "/admin/accounts/member/import/" in client.get("/admin/accounts/member/").content.decode()
    form_page = client.get(IMPORT_URLS["member"])
    assert form_page.status_code == 200
    assert "If any row has a problem, nothing is imported" in form_page.content.decode()
    upload = SimpleUploadedFile("members.csv", csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2)]))

    preview = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload, "source": SOURCE})

    assert preview.status_code == 200
    assert Member.objects.count() == 0  # the preview is a rolled-back dry run
    html = preview.content.decode()
    assert "p1@mail.example" not in html and "p***@mail.example" in html  # the preview masks
    confirm = preview.context["confirm_form"].initial
    done = client.post(
        "/admin/accounts/member/process_import/",
        {"import_file_name": confirm["import_file_name"], "original_file_name": "members.csv", "format": "0",
         "source": confirm["source"]},
    )
    assert done.status_code == 302
    assert Member.objects.count() == 2
    assert Member.objects.get(member_number="IMP000001").history.get().history_user == user
    entries = list(LogEntry.objects.values_list("object_repr", flat=True))
    assert sorted(entries) == ["IMP000001", "IMP000002"]  # by member number, never by name


def test_the_admin_lists_every_problem_by_line_and_column_and_offers_no_confirm(client, compliance_officer):
    MemberFactory(member_number="M-1", product_lines=["spot"])
    client.force_login(compliance_officer)
    rows = [txn_row(1, "M-1"), txn_row(2, "M-404"), txn_row(3, "M-1", quantity="-3"), txn_row(4, "M-1")]
    upload = SimpleUploadedFile("orders.csv", csv_bytes(TXN_HEADER, rows))

    page = client.post(IMPORT_URLS["transactionrecord"], {"format": "0", "import_file": upload, "source": SOURCE})

    assert page.status_code == 200
    assert "confirm_form" not in page.context
    html = page.content.decode()
    assert "Nothing was imported: 2 problems" in html
    assert "<td>3</td><td>member_number</td><td>No member has this member number.</td>" in html
    assert "<td>4</td><td>quantity</td><td>The quantity must be greater than zero.</td>" in html
    assert "M-404" not in html and "trader2" not in html  # values are not echoed
    assert TransactionRecord.objects.count() == 0


def test_a_confirmed_import_that_fails_after_the_preview_writes_nothing_and_says_so(
    client, compliance_officer, product_lines
):
    client.force_login(compliance_officer)
    upload = SimpleUploadedFile("members.csv", csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2)]))
    preview = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload, "source": SOURCE})
    confirm = preview.context["confirm_form"].initial
    ProductLine.objects.filter(code="spot").delete()  # someone removes a product line meanwhile

    done = client.post(
        "/admin/accounts/member/process_import/",
        {"import_file_name": confirm["import_file_name"], "original_file_name": "members.csv", "format": "0",
         "source": confirm["source"]},
        follow=True,
    )

    assert Member.objects.count() == 0
    notices = [str(m) for m in done.context["messages"]]
    assert any(n.startswith("Nothing was imported: 2 problem(s).") and "line 2, column product_lines" in n
               for n in notices)


# --- The command ----------------------------------------------------------------------------------
def test_import_records_command_imports_a_file(tmp_path, compliance_officer, product_lines, capsys):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(3)]))

    call_command("import_records", "members", str(file), "--user", compliance_officer.email, "--no-progress",
                 "--source", SOURCE)

    assert Member.objects.count() == 3
    assert "Imported 3 rows: 3 new, 0 updated, 0 unchanged." in capsys.readouterr().out
    assert Member.history.filter(history_user=compliance_officer).count() == 3


def test_import_records_dry_run_writes_nothing(tmp_path, product_lines, capsys):
    file = tmp_path / "members.xlsx"
    file.write_bytes(xlsx_bytes(MEMBER_HEADER, [member_row(i) for i in range(3)]))

    call_command("import_records", "members", str(file), "--dry-run", "--no-progress", "--source", SOURCE)

    assert Member.objects.count() == 0
    assert "Dry run: all 3 rows are valid (3 new, 0 updated, 0 unchanged); nothing was written." in (
        capsys.readouterr().out
    )


def test_import_records_lists_problems_and_fails(tmp_path, capsys):
    member = MemberFactory(product_lines=["spot"])
    file = tmp_path / "orders.csv"
    file.write_bytes(csv_bytes(TXN_HEADER, [txn_row(1, member.member_number), txn_row(2, "NOPE")]))

    with pytest.raises(CommandError, match=r"Nothing was imported: 1 problem\(s\) in 2 row\(s\)\."):
        call_command("import_records", "transactions", str(file), "--no-progress", "--source", SOURCE)

    assert "line 3, column member_number: No member has this member number." in capsys.readouterr().err
    assert TransactionRecord.objects.count() == 0


def test_import_records_draws_a_progress_bar(tmp_path, product_lines):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(7)]))
    err = io.StringIO()

    call_command("import_records", "members", str(file), "--source", SOURCE, stderr=err)

    assert "Importing members" in err.getvalue()
    assert "7/7" in err.getvalue()


def test_import_records_refuses_a_user_without_the_import_permission(tmp_path, agent):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(1)]))

    with pytest.raises(CommandError, match="may not import"):
        call_command("import_records", "members", str(file), "--user", agent.email, "--no-progress",
                     "--source", SOURCE)
    assert Member.objects.count() == 0


def test_institution_kind_is_accepted_by_label(compliance_officer):
    content = csv_bytes(["member_number", "kind"], [["INST-1", "Institution"]])

    report = run_import(MemberResource, content)

    assert report.problems == []
    assert Member.objects.get().kind == MemberKind.INSTITUTION


def test_transactions_factory_orders_are_skipped_on_reimport_of_their_export(superuser):
    record = TransactionRecordFactory()
    exported = TransactionRecordResource(user=superuser).export(TransactionRecord.objects.all())

    report = run_import(TransactionRecordResource, exported.csv.encode())

    assert (report.skipped, report.problems) == (1, [])
    assert TransactionRecord.objects.get().pk == record.pk
