"""Issue 16, requirement 5: spreadsheets as Chinese offices write and read them.

Imports (``manage.py import_records`` and the admin's import form) read UTF-8 with or without BOM,
GB18030/GBK and UTF-16 (Excel's tab-separated "Unicode text"), detected or chosen; a file that does not
decode is refused naming the encodings tried and the line, character and byte, and nothing is written
(PP-16: all or nothing). CSV exports are UTF-8 with a BOM (Excel reads Chinese) or GB18030 when chosen,
and import back unchanged. Runs on SQLite and PostgreSQL (where new transactions are written with COPY).
"""

from __future__ import annotations

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.members import bulk_copy
from accounts.members.spreadsheets import columnar, encodings, imports, streaming, writes
from accounts.members.spreadsheets.members import MemberResource
from accounts.models import ImportBatch, Member, TransactionRecord
from tests.accounts.test_import import (
    IMPORT_URLS,
    MEMBER_HEADER,
    SOURCE,
    TXN_HEADER,
    member_row,
    product_lines,  # noqa: F401 (fixture)
    txn_row,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NAMES = ["王芳", "李雷", "张伟", "欧阳娜娜"]


def chinese_rows(count: int = 4) -> list[list[str]]:
    return [member_row(i, legal_name=NAMES[i % len(NAMES)]) for i in range(count)]


def text_file(header, rows, encoding: str, delimiter: str = ",") -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)


def command(path, *extra):
    call_command("import_records", "members", str(path), "--source", SOURCE, "--no-progress", *extra)


def stored_names() -> dict[str, str]:
    return dict(Member.objects.values_list("member_number", "legal_name"))


EXPECTED = {f"IMP{i:06d}": NAMES[i % len(NAMES)] for i in range(4)}


# --- The command ------------------------------------------------------------------------------------
def test_pp16_a_gbk_members_csv_saved_by_chinese_excel_imports_through_the_command(tmp_path, product_lines):  # noqa: F811
    """The file of the issue: Excel's default Chinese "CSV" is GBK; 王 is 0xCD 0xF5, which UTF-8 refused."""
    path = tmp_path / "members.csv"
    content = text_file(MEMBER_HEADER, chinese_rows(), "gbk")
    assert "王".encode("gbk") in content
    path.write_bytes(content)

    command(path)

    assert stored_names() == EXPECTED
    assert ImportBatch.objects.get().new_rows == 4


@pytest.mark.parametrize("choice", ["gbk", "gb18030"])
def test_pp16_gbk_chosen_explicitly_is_read_as_gb18030(tmp_path, product_lines, choice):  # noqa: F811
    rows = chinese_rows()
    rows[0] = member_row(0, legal_name="王芳𠀀")  # a character beyond GBK: GB18030 has it
    path = tmp_path / "members.csv"
    path.write_bytes(text_file(MEMBER_HEADER, rows, "gb18030"))

    command(path, "--encoding", choice)

    assert Member.objects.get(member_number="IMP000000").legal_name == "王芳𠀀"


def test_pp16_a_utf8_csv_with_a_bom_imports_with_its_first_column_intact(tmp_path, product_lines):  # noqa: F811
    path = tmp_path / "members.csv"
    path.write_bytes(text_file(MEMBER_HEADER, chinese_rows(), "utf-8-sig"))

    command(path)

    assert stored_names() == EXPECTED


def test_pp16_excel_unicode_text_utf16_tab_separated_imports_through_the_command(tmp_path, product_lines):  # noqa: F811
    """Excel's "Unicode text": UTF-16LE with a BOM, tabs between cells, saved as .txt."""
    path = tmp_path / "members.txt"
    content = text_file(MEMBER_HEADER, chinese_rows(), "utf-16", delimiter="\t")
    assert content.startswith(b"\xff\xfe")
    path.write_bytes(content)

    command(path)

    assert stored_names() == EXPECTED


def test_pp16_utf16_without_a_bom_is_detected_by_where_its_nuls_fall(tmp_path, product_lines):  # noqa: F811
    for codec in ("utf-16-le", "utf-16-be"):
        dataset = imports.dataset_from_file(content=text_file(MEMBER_HEADER, chinese_rows(), codec, "\t"),
                                            file_name="members.tsv")
        assert dataset.headers == MEMBER_HEADER
        assert [row[MEMBER_HEADER.index("legal_name")] for row in dataset] == NAMES


def test_pp16_an_explicitly_chosen_wrong_encoding_names_it_and_the_line(tmp_path, product_lines):  # noqa: F811
    """A GBK file imported as UTF-8: refused at line 2, character 32 (the first Chinese one); nothing written."""
    path = tmp_path / "members.csv"
    path.write_bytes(text_file(MEMBER_HEADER, chinese_rows(), "gbk"))

    with pytest.raises(CommandError) as refused:
        command(path, "--encoding", "utf-8")

    header_bytes = len(",".join(MEMBER_HEADER)) + 2  # \r\n
    assert str(refused.value) == (
        f"line 2: character 32 of the line (byte {header_bytes + 32} of the file) cannot be read as UTF-8; "
        "encodings tried: UTF-8. Save the file as CSV UTF-8, or choose its encoding, and import it again."
    )
    assert (Member.objects.count(), ImportBatch.objects.count()) == (0, 0)


def test_pp16_a_file_in_no_encoding_lists_every_encoding_tried_and_the_line(tmp_path, product_lines):  # noqa: F811
    rows = chinese_rows()
    content = text_file(MEMBER_HEADER, rows, "gbk").replace("李雷".encode("gbk"), b"\xff\x80\x80\x80")
    path = tmp_path / "members.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=r"^line 3: character 32 of the line \(byte \d+ of the file\) cannot be "
                                           r"read as GB18030; encodings tried: UTF-8, UTF-16, GB18030\."):
        command(path)
    assert Member.objects.count() == 0


@pytest.mark.parametrize("records", ["members", "transactions"])
def test_pp16_a_big_gbk_file_with_a_bad_byte_after_the_detection_prefix_fails_cleanly_and_writes_nothing(
    tmp_path, monkeypatch, product_lines, records  # noqa: F811
):
    """Detected as GB18030 from the first 64 KiB; a byte far beyond it does not decode: the streamed import has
    already written chunks (members with history; transactions with COPY on PostgreSQL) inside its transaction,
    and the problem rolls them all back and names the line."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 300)
    written = []

    def spy(name, real):
        def write(**kwargs):
            written.append(name)
            return real(**kwargs)
        return write

    for name in ("records_copy_insert", "records_copy_insert_with_history", "records_bulk_save"):
        monkeypatch.setattr(writes, name, spy(name, getattr(writes, name)))
    copy_part = columnar._CopySink.__call__  # new orders: the column path's COPY, a part of rows at a time
    monkeypatch.setattr(columnar._CopySink, "__call__",
                        lambda sink, *args: written.append("columnar") or copy_part(sink, *args))
    if records == "members":
        header, rows = MEMBER_HEADER, [member_row(i, legal_name=f"{NAMES[i % 4]}{i}") for i in range(3000)]
        bad = rows[2500][MEMBER_HEADER.index("legal_name")]
    else:
        member = MemberFactory(product_lines=["spot"])
        header = TXN_HEADER
        rows = [txn_row(i, member.member_number, counterparty_nickname=f"交易员{i}") for i in range(3000)]
        bad = rows[2500][TXN_HEADER.index("counterparty_nickname")]
    content = text_file(header, rows, "gbk")
    offset = content.index(bad.encode("gbk"))
    content = content[:offset] + b"\x80" + content[offset + 1:]
    assert offset > encodings.DETECTION_PREFIX
    path = tmp_path / "records.csv"
    path.write_bytes(content)
    before = TransactionRecord.objects.count()

    with pytest.raises(CommandError, match=r"^line 2502: character \d+ of the line \(byte "
                                           rf"{offset + 1} of the file\) cannot be read as GB18030; "
                                           r"encodings tried: UTF-8, GB18030\."):
        call_command("import_records", records, str(path), "--source", SOURCE, "--no-progress")

    # Chunks before the bad byte were written (on PostgreSQL: members by COPY with their history, new orders
    # by the column path's COPY), then rolled back (the error surfaces when the 64 KiB block holding the
    # byte is decoded, a few chunks before its record).
    copied = {"members": "records_copy_insert_with_history", "transactions": "columnar"}[records]
    assert set(written) == {copied if bulk_copy.available() else "records_bulk_save"} and len(written) >= 3
    assert (Member.objects.count(), TransactionRecord.objects.count(), ImportBatch.objects.count()) == (
        0 if records == "members" else 1, before, 0,
    )


# --- The admin --------------------------------------------------------------------------------------
def _preview_and_confirm(client, upload, **fields):
    preview = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload, "source": SOURCE, **fields})
    assert preview.status_code == 200
    assert "confirm_form" in preview.context, preview.context["form"].errors
    confirm = preview.context["confirm_form"].initial
    done = client.post("/admin/accounts/member/process_import/", {
        "import_file_name": confirm["import_file_name"], "original_file_name": upload.name, "format": "0",
        "source": confirm["source"],
    })
    assert done.status_code == 302
    return preview


@pytest.mark.parametrize(("encoding", "choice", "delimiter"), [
    ("gbk", "", ","), ("gbk", "gbk", ","), ("utf-8-sig", "auto", ","), ("utf-16", "", "\t"), ("utf-16", "utf-16", "\t"),
])
def test_pp16_the_admin_import_form_reads_gbk_utf8_bom_and_utf16_files_detected_or_chosen(
    client, compliance_officer, product_lines, encoding, choice, delimiter  # noqa: F811
):
    client.force_login(compliance_officer)
    form_page = client.get(IMPORT_URLS["member"]).content.decode()
    assert 'name="encoding"' in form_page and "GB18030" in form_page
    upload = SimpleUploadedFile("members.csv", text_file(MEMBER_HEADER, chinese_rows(), encoding, delimiter))

    preview = _preview_and_confirm(client, upload, **({"encoding": choice} if choice else {}))

    assert "王芳" in preview.content.decode()  # names are not masked; the preview shows them decoded
    assert stored_names() == EXPECTED


def test_pp16_the_admin_refuses_a_file_in_the_wrong_chosen_encoding_on_its_file_field(
    client, compliance_officer, product_lines  # noqa: F811
):
    client.force_login(compliance_officer)
    upload = SimpleUploadedFile("members.csv", text_file(MEMBER_HEADER, chinese_rows(), "gbk"))

    page = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload, "source": SOURCE,
                                               "encoding": "utf-8"})

    assert page.status_code == 200
    assert "confirm_form" not in page.context
    [error] = page.context["form"].errors["import_file"]
    assert error.startswith("line 2: character 32 of the line (byte ")
    assert "cannot be read as UTF-8; encodings tried: UTF-8." in error
    assert "王" not in page.content.decode()
    assert Member.objects.count() == 0


# --- Exports and the round trip ---------------------------------------------------------------------
def _admin_export(client, **fields) -> bytes:
    names = ["member_number", "kind", "status", "nationality", "legal_name", "local_name", "email", "product_lines"]
    data = {"format": "0", "resource": "0", **{f"memberresource_{name}": "on" for name in names}, **fields}
    response = client.post("/admin/accounts/member/export/", data)
    assert response.status_code == 200
    return response.content


@pytest.mark.parametrize(("choice", "codec"), [("", "utf-8-sig"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")])
def test_pp16_a_csv_export_opens_in_excel_and_imports_back_unchanged(client, superuser, choice, codec):
    """UTF-8 with a BOM unless GB18030 is chosen in the export form; the file imports back, nothing changes."""
    members = [MemberFactory(legal_name=name, local_name="Wang Fang", product_lines=["spot"]) for name in NAMES]
    client.force_login(superuser)

    content = _admin_export(client, **({"encoding": choice} if choice else {}))

    assert content.startswith(b"\xef\xbb\xbf") == (codec == "utf-8-sig")
    assert "欧阳娜娜".encode(codec.removesuffix("-sig")) in content
    report = imports.records_import(
        resource_class=MemberResource, dataset=imports.dataset_from_file(content=content, file_name="export.csv"),
        source=SOURCE, user=superuser,
    )
    assert (report.problems, report.skipped, report.new, report.updated) == ([], 4, 0, 0)
    assert sorted(stored_names().values()) == sorted(NAMES)
    assert {m.pk for m in members} == set(Member.objects.values_list("pk", flat=True))


def test_pp16_the_export_form_offers_the_encodings(client, compliance_officer):
    client.force_login(compliance_officer)
    html = client.get("/admin/accounts/member/export/").content.decode()
    assert 'name="encoding"' in html
    assert "UTF-8 with BOM (opens in Excel)" in html and "GB18030 (Chinese Excel)" in html
