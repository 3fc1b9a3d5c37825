"""A member import with one bad row, in a real browser (issue 7, requirement 5d; design decision 8).

Every row is checked before anything is written; the page names the bad row by line and column
and never echoes its values; the database is as it was.
"""

from __future__ import annotations

import csv
import io

import pytest

from accounts.models import Member, ProductLine
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

HEADER = ["member_number", "kind", "status", "nationality", "legal_name", "date_of_birth", "email", "phone",
          "product_lines"]
BAD_DATE = "1990-13-45"


def _row(i: int, **changes) -> list[str]:
    row = dict(member_number=f"IMP{i:06d}", kind="individual", status="active", nationality="cn",
               legal_name=f"Import Person {i}", date_of_birth="1990-05-17", email=f"import{i}@mail.example",
               phone=f"+86 138 0000 {i:04d}", product_lines="spot")
    row.update(changes)
    return [row[name] for name in HEADER]


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def test_officer_imports_a_csv_with_one_bad_row_sees_line_and_column_and_nothing_is_committed(
    browser, compliance_officer
):
    ProductLine.objects.create(code="spot", name="Spot")
    MemberFactory()
    before = Member.objects.count()
    # Line 1 is the header: the bad date of birth is on line 3.
    content = _csv([_row(1), _row(2, date_of_birth=BAD_DATE), _row(3)])

    officer = browser.person("officer")
    officer.login(compliance_officer, next_path="/admin/accounts/member/")
    page = officer.page
    page.get_by_role("link", name="Import", exact=True).click()
    page.wait_for_url("**/admin/accounts/member/import/")
    assert "If any row has a problem, nothing is imported" in page.locator("#content").inner_text()
    officer.shot("import-form")

    page.locator("input[name=import_file]").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": content}])
    page.locator("select[name=format]").select_option(label="csv")
    page.get_by_label("Source of the data").fill("Acme Payments Ltd, data-sharing agreement DSA-2025-07")  # PP-16
    officer.shot("file-chosen")
    page.locator("#content form [type=submit]").first.click()
    page.wait_for_load_state()

    assert page.locator("#import-problems").inner_text() == "Nothing was imported: 1 problem"
    rows = page.locator("table.import-problems tbody tr")
    assert rows.count() == 1
    line, column, problem = (cell.strip() for cell in rows.first.locator("td").all_inner_texts())
    assert (line, column) == ("3", "date_of_birth")
    assert problem == "Enter a date as YYYY-MM-DD."
    html = page.content()
    assert BAD_DATE not in html and "import2@mail.example" not in html  # values are never echoed
    assert page.locator("form [value='Confirm import'], form button:has-text('Confirm import')").count() == 0
    officer.shot("problems-listed")

    assert Member.objects.count() == before
    assert not Member.objects.filter(member_number__startswith="IMP").exists()
