"""Issue 3, requirement 10: exports escape spreadsheet formulas and mask sensitive columns (PP-25).

Exports go through the project admin's export views (``accounts.admin`` with the mixins of
``accounts.members.admin.imports``), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import openpyxl
import pytest

from accounts.members.spreadsheets.cells import FORMULA_TRIGGERS
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import Member, SensitiveAccessLog, TransactionRecord
from tests.factories import MemberFactory, RelatedPersonFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

CSV_FORMAT, XLSX_FORMAT = "0", "1"
MEMBER_COLUMNS = [
    "member_number", "kind", "status", "verification_level", "registered_at", "cancelled_at", "nationality",
    "legal_name", "local_name", "date_of_birth", "email", "phone", "product_lines",
]
# The six prefixes spreadsheets treat as the start of a formula, with a payload after each.
PAYLOADS = {
    "=": "=HYPERLINK(\"http://evil.example\",\"x\")",
    "+": "+1+cmd|' /C calc'!A0",
    "-": "-2+3+cmd|' /C calc'!A0",
    "@": "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t": "\t=1+1",
    "\r": "\r=1+1",
}


def export(client, model: str, file_format: str, fields: list[str], resource: str = "memberresource"):
    data = {"format": file_format, "resource": "0", **{f"{resource}_{name}": "on" for name in fields}}
    response = client.post(f"/admin/accounts/{model}/export/", data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].startswith("attachment;")
    return response.content


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def xlsx_cells(content: bytes) -> list[dict[str, openpyxl.cell.Cell]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content)).active
    rows = list(sheet.iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def test_the_six_prefixes_are_the_ones_the_policy_names():
    assert set(FORMULA_TRIGGERS) == set(PAYLOADS) == {"=", "+", "-", "@", "\t", "\r"}


@pytest.mark.parametrize("prefix", list(PAYLOADS), ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_csv_export_escapes_a_cell_starting_with_each_formula_prefix(client, compliance_officer, prefix):
    MemberFactory(member_number="M-FORMULA", legal_name=PAYLOADS[prefix], local_name="harmless")
    client.force_login(compliance_officer)

    rows = csv_rows(export(client, "member", CSV_FORMAT, ["member_number", "legal_name", "local_name"]))

    assert rows == [{"member_number": "M-FORMULA", "legal_name": "'" + PAYLOADS[prefix], "local_name": "harmless"}]


@pytest.mark.parametrize("prefix", list(PAYLOADS), ids=["equals", "plus", "minus", "at", "tab", "cr"])
def test_xlsx_export_escapes_a_cell_starting_with_each_formula_prefix(client, compliance_officer, prefix):
    MemberFactory(member_number="M-FORMULA", legal_name=PAYLOADS[prefix], local_name="harmless")
    client.force_login(compliance_officer)

    (row,) = xlsx_cells(export(client, "member", XLSX_FORMAT, ["member_number", "legal_name", "local_name"]))

    cell = row["legal_name"]
    assert cell.data_type == "s"  # text, not a formula ("f")
    # XML reads a stored carriage return back as a line feed; the apostrophe is what matters.
    assert cell.value == ("'" + PAYLOADS[prefix]).replace("\r", "\n")
    assert cell.value.startswith("'")
    assert row["local_name"].value == "harmless"


@pytest.mark.parametrize("file_format", [CSV_FORMAT, XLSX_FORMAT], ids=["csv", "xlsx"])
def test_transaction_exports_escape_text_and_keep_numbers_numbers(client, compliance_officer, file_format):
    TransactionRecordFactory(counterparty_nickname="@evil", quantity=Decimal("0.5"), amount=Decimal("1234.50"))
    client.force_login(compliance_officer)
    fields = ["member", "order_number", "counterparty_nickname", "quantity", "amount"]

    content = export(client, "transactionrecord", file_format, fields, resource="transactionrecordresource")

    if file_format == CSV_FORMAT:
        (row,) = csv_rows(content)
        assert (row["counterparty_nickname"], row["amount"]) == ("'@evil", "1234.50")
    else:
        (row,) = xlsx_cells(content)
        assert row["counterparty_nickname"].value == "'@evil"
        assert row["amount"].data_type == "n" and row["amount"].value == 1234.5


@pytest.mark.parametrize("file_format", [CSV_FORMAT, XLSX_FORMAT], ids=["csv", "xlsx"])
def test_an_agent_exports_sensitive_columns_masked_and_leaves_no_access_log(client, agent, file_format):
    MemberFactory(
        member_number="M-MASK", email="jane.doe@mail.example", phone="+86 138 1234 5678",
        date_of_birth=datetime.date(1990, 5, 17),
    )
    client.force_login(agent)

    content = export(client, "member", file_format, MEMBER_COLUMNS)

    if file_format == CSV_FORMAT:
        (row,) = csv_rows(content)
        values = {name: row[name] for name in ("email", "phone", "date_of_birth")}
        assert b"jane.doe" not in content and b"1990" not in content
    else:
        (row,) = xlsx_cells(content)
        values = {name: row[name].value for name in ("email", "phone", "date_of_birth")}
    assert values == {"email": "j***@mail.example", "phone": "**** 5678", "date_of_birth": "****-**-**"}
    assert SensitiveAccessLog.objects.count() == 0


@pytest.mark.parametrize("file_format", [CSV_FORMAT, XLSX_FORMAT], ids=["csv", "xlsx"])
def test_pp25_an_unmasked_export_writes_one_access_log_row_without_values(
    client, compliance_officer, file_format
):
    for n in range(3):
        MemberFactory(email=f"person{n}@mail.example", phone=f"+86 138 0000 000{n}")
    client.force_login(compliance_officer)

    content = export(client, "member", file_format, MEMBER_COLUMNS)

    if file_format == CSV_FORMAT:
        emails = sorted(row["email"] for row in csv_rows(content))
        births = {row["date_of_birth"] for row in csv_rows(content)}
    else:
        emails = sorted(row["email"].value for row in xlsx_cells(content))
        births = {row["date_of_birth"].value for row in xlsx_cells(content)}
    assert emails == [f"person{n}@mail.example" for n in range(3)]
    assert births == ({"1990-05-17"} if file_format == CSV_FORMAT else {datetime.datetime(1990, 5, 17)})
    log = SensitiveAccessLog.objects.get()  # exactly one row for the whole export
    assert log.action == SensitiveAccessLog.Action.EXPORT
    assert log.staff_user == compliance_officer
    assert (log.model_label, log.field_name) == ("accounts.Member", "date_of_birth, email, phone")
    assert log.ip_address == "127.0.0.1"
    stored = " ".join(str(value) for value in SensitiveAccessLog.objects.values_list().get())
    assert "person" not in stored and "138" not in stored and "1990" not in stored


def test_an_export_without_sensitive_columns_leaves_no_access_log(client, compliance_officer):
    MemberFactory()
    client.force_login(compliance_officer)

    export(client, "member", CSV_FORMAT, ["member_number", "status"])

    assert SensitiveAccessLog.objects.count() == 0


def test_related_persons_export_masked_for_an_auditor_with_the_institutions_number(client, auditor):
    person = RelatedPersonFactory(email="owner@corp.example")
    client.force_login(auditor)
    fields = ["id", "member", "role", "email", "date_of_birth"]

    (row,) = csv_rows(export(client, "relatedperson", CSV_FORMAT, fields, resource="relatedpersonresource"))

    assert row == {
        "id": str(person.pk), "member_number": person.member.member_number, "role": "beneficial_owner",
        "email": "o***@corp.example", "date_of_birth": "****-**-**",
    }


def test_exports_never_carry_blind_indexes_or_ciphertext(client, compliance_officer):
    MemberFactory(email="someone@mail.example")
    client.force_login(compliance_officer)

    content = export(client, "member", CSV_FORMAT, MEMBER_COLUMNS)

    assert list(csv_rows(content)[0]) == MEMBER_COLUMNS
    assert b"bidx" not in content and b"gAAAA" not in content  # Fernet tokens start with gAAAA


def test_export_needs_the_view_permission(client, db):
    from tests.factories import StaffUserFactory

    client.force_login(StaffUserFactory(email="nobody@test.example"))

    assert client.get("/admin/accounts/member/export/").status_code == 403
    assert client.post("/admin/accounts/member/export/", {"format": CSV_FORMAT}).status_code == 403


def test_an_agent_may_open_the_export_page(client, agent):
    client.force_login(agent)

    assert client.get("/admin/accounts/member/export/").status_code == 200


def test_export_reads_members_and_product_lines_in_a_bounded_number_of_queries(
    compliance_officer, django_assert_max_num_queries
):
    members = [MemberFactory() for _ in range(60)]
    from accounts.models import ProductLine

    spot = ProductLine.objects.create(code="spot", name="Spot")
    for member in members:
        member.product_lines.add(spot)
    resource = MemberResource(user=compliance_officer)

    with django_assert_max_num_queries(5):  # count, page, product lines, the access-log row
        dataset = resource.export(Member.objects.all())

    assert len(dataset) == 60
    assert set(dataset["product_lines"]) == {"spot"}


def test_transaction_export_reads_member_numbers_with_a_join(compliance_officer, django_assert_max_num_queries):
    for _ in range(40):
        TransactionRecordFactory()

    resource = TransactionRecordResource(user=compliance_officer)

    # One read, and the access-log row: the order details are sensitive and this user may see them.
    with django_assert_max_num_queries(2):
        dataset = resource.export(TransactionRecord.objects.all())

    assert len(dataset) == 40
