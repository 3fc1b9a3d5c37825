"""Issue 15, requirement 2 (members): new members, their history and product-line links written by COPY.

``accounts.members.history_copy`` (the streamed import of members on PostgreSQL) must store what the
general path stores (``writes.records_bulk_save``: ``bulk_create``, simple-history's
``bulk_history_create``, the links and their history rows), apart from ids and history dates, in a
constant number of queries per chunk. The row checks are the same whichever way the rows are
written: a file full of bad cells gets the same problems from the streamed path as from
django-import-export's ``import_data``.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection

from accounts.members import bulk_copy, history_copy
from accounts.members.spreadsheets import imports, streaming
from accounts.members.spreadsheets.formats import stream_from_dataset
from accounts.members.spreadsheets.identity_checks import email_problem
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.writes import HISTORY_REASON
from accounts.models import ImportBatch, Member
from accounts.privacy import crypto
from tests.accounts.test_import import SOURCE, csv_bytes, product_lines  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

needs_copy = pytest.mark.skipif(not bulk_copy.available(), reason="COPY is PostgreSQL's")

HEADER = ["member_number", "kind", "status", "verification_level", "registered_at", "cancelled_at", "nationality",
          "legal_name", "local_name", "date_of_birth", "email", "phone", "product_lines"]
ENCRYPTED = ("date_of_birth", "email", "phone")


def _row(i: int, **changes) -> list[str]:
    row = dict(
        member_number=f"HC{i:06d}", kind="individual", status="active", verification_level="real_name",
        registered_at=f"2024-03-{1 + i % 28:02d} 10:{i % 60:02d}:00", cancelled_at="" if i % 3 else "2025-01-02 08:00",
        nationality="cn", legal_name=f"Wáng Person {i}" if i % 2 else f"Person {i}",
        local_name=f"王 {i}" if i % 2 else "",
        date_of_birth="" if i % 5 == 4 else "1990-05-17", email="" if i % 4 == 3 else f"p{i}@Mail.example",
        phone=f"+86 138 0000 {i:04d}", product_lines=("spot, margin", "spot", "", "margin,spot,spot")[i % 4],
    )
    row.update(changes)
    return [row[name] for name in HEADER]


def _import(tmp_path, rows, *, user=None, dry_run=False):
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(HEADER, rows))
    return imports.records_import_file(resource_class=MemberResource, path=path, file_format="csv", source=SOURCE,
                                       user=user, dry_run=dry_run)


def _table(sql: str) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        names = [column[0] for column in cursor.description]  # DB-API: PostgreSQL and SQLite
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _plain(row: dict) -> dict:
    """A stored row with its tokens decrypted, so that two writes of the same values compare equal."""
    found = dict(row)
    for name in ENCRYPTED:
        if found[name]:
            found[name] = crypto.decrypt_str(found[name])
    return found


def _snapshot() -> dict[str, list]:
    """Every row an import of members wrote, without ids and dates (members named by member number)."""
    number = {m["id"]: m["member_number"] for m in _table("SELECT id, member_number FROM accounts_member")}
    line = {p["id"]: p["code"] for p in _table("SELECT id, code FROM accounts_productline")}
    members = [
        {**_plain(m), "id": None, "import_batch_id": m["import_batch_id"] is not None}
        for m in _table("SELECT * FROM accounts_member ORDER BY member_number")
    ]
    history = _table("SELECT * FROM accounts_historicalmember ORDER BY member_number")
    history_of = {h["history_id"]: h["member_number"] for h in history}
    history = [
        {**_plain(h), "id": number[h["id"]], "history_id": None, "history_date": None,
         "import_batch_id": h["import_batch_id"] is not None}
        for h in history
    ]
    live = _table("SELECT * FROM accounts_member_product_lines ORDER BY id")
    links = [(number[k["member_id"]], line[k["productline_id"]]) for k in live]
    live_ids = {k["id"]: (number[k["member_id"]], line[k["productline_id"]]) for k in live}
    link_history = [
        (history_of[k["history_id"]], number[k["member_id"]], line[k["productline_id"]], live_ids[k["id"]])
        for k in _table("SELECT * FROM accounts_historicalmember_product_lines ORDER BY history_id, id")
    ]
    return {"members": members, "history": history, "links": links, "link_history": link_history}


def _empty() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_historicalmember_product_lines; DELETE FROM accounts_historicalmember; "
                       "DELETE FROM accounts_member_product_lines; DELETE FROM accounts_member")


@needs_copy
def test_pp16_pp26_members_copied_in_store_the_rows_history_and_links_the_general_path_stores(
    tmp_path, monkeypatch, product_lines, compliance_officer  # noqa: F811
):
    """The same members, history rows (type ``+``, user, change reason, the same tokens) and links, apart
    from ids and dates, whether written by ``bulk_create`` and ``bulk_history_create`` or by COPY."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 7)
    rows = [_row(i) for i in range(20)]
    with monkeypatch.context() as general:
        general.setattr(history_copy, "available", lambda model: False)
        report = _import(tmp_path, rows, user=compliance_officer)
    assert report.committed and report.new == 20
    before = _snapshot()
    _empty()
    copies = []
    original = history_copy._copy
    monkeypatch.setattr(history_copy, "_copy", lambda *args: copies.append(args[1]) or original(*args))

    report = _import(tmp_path, rows, user=compliance_officer)

    assert report.committed and report.new == 20
    assert len(copies) == 3 * 4  # three chunks: members, history, links, links' history
    after = _snapshot()
    assert after == before
    assert {h["history_type"] for h in after["history"]} == {"+"}
    assert {h["history_change_reason"] for h in after["history"]} == {HISTORY_REASON}
    assert {h["history_user_id"] for h in after["history"]} == {compliance_officer.pk}
    assert len(after["links"]) == 25 and len(after["link_history"]) == 25
    # Every history row is in the member's one history, the batch is the import's (PP-16), the values read back.
    member = Member.objects.get(member_number="HC000001")
    assert member.history.count() == 1 and member.import_batch == report.batch
    assert (member.email, member.phone, str(member.date_of_birth)) == ("p1@Mail.example", "+86 138 0000 0001",
                                                                       "1990-05-17")
    assert Member.objects.get(email_bidx=crypto.blind_index("email", "P1@mail.example")) == member
    assert list(member.history.first().product_lines.values_list("productline__code", flat=True)) == ["spot"]
    three = Member.objects.get(member_number="HC000003").history.first()
    assert sorted(three.product_lines.values_list("productline__code", flat=True)) == ["margin", "spot"]


@needs_copy
def test_pp16_members_copied_in_take_a_constant_number_of_queries_per_chunk(
    tmp_path, monkeypatch, django_assert_max_num_queries, product_lines  # noqa: F811
):
    """One query to reserve the ids and four COPYs a chunk, whatever the chunk's size (no query per row)."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 50)
    copies = []
    original = history_copy._copy
    monkeypatch.setattr(history_copy, "_copy", lambda *args: copies.append(args[1]) or original(*args))

    with django_assert_max_num_queries(12 + 2 * 4):  # the batch, savepoints, product lines; 2 queries a chunk
        report = _import(tmp_path, [_row(i) for i in range(200)])

    assert report.committed and report.new == 200
    assert len(copies) == 4 * 4
    assert Member.objects.count() == 200 and Member.history.count() == 200


@needs_copy
def test_pp16_a_dry_run_copies_in_and_rolls_back(tmp_path, product_lines):  # noqa: F811
    report = _import(tmp_path, [_row(i) for i in range(30)], dry_run=True)

    assert report.new == 30 and not report.problems and report.batch is None
    assert (Member.objects.count(), Member.history.count(), ImportBatch.objects.count()) == (0, 0, 0)
    assert Member.product_lines.through.objects.count() == 0


BAD_CELLS = {
    "member_number": ["", "HC000001", "x" * 21],
    "kind": ["person", ""],
    "status": ["gone"],
    "verification_level": ["top"],
    "registered_at": ["yesterday", "9999-12-31 23:59:59-10:00", ""],
    "cancelled_at": ["2025-13-01"],
    "nationality": ["China", "c1"],
    "legal_name": ["x" * 201, "nul\x00name"],
    "local_name": ["y" * 201],
    "date_of_birth": ["17/05/1990", "2999-01-01", "****-**-**"],
    "email": ["not-an-email", "j***@mail.example", "a b@mail.example", "x@-bad.example"],
    "phone": ["call me", "+86 1", "**** 1234"],
    "product_lines": ["spot, nope", "spot;margin"],
}


def test_pp16_a_file_full_of_bad_member_cells_gets_the_same_problems_streamed_as_through_import_data(
    product_lines  # noqa: F811
):
    """Every problem (line, column, message) the fast path finds is the general path's, and no other."""
    rows = [_row(1)]
    for column, values in BAD_CELLS.items():
        for value in values:
            rows.append(_row(len(rows) + 1, **{column: value}))
    rows.append(_row(40, kind="person", status="gone", nationality="China", email="x@", phone="?"))
    dataset = imports.dataset_from_file(content=csv_bytes(HEADER, rows), file_name="members.csv")

    general = MemberResource(source=SOURCE).import_data(dataset).problems
    resource = MemberResource(source=SOURCE)
    resource._columns = set(HEADER)
    streamed = streaming.records_stream_import(resource=resource, stream=stream_from_dataset(dataset)).problems

    assert len(general) > len(rows)  # one or more problems on every bad line
    assert streamed == general
    assert {p.line for p in streamed} == set(range(2, len(rows) + 2))
    assert Member.objects.count() == 0


@pytest.mark.parametrize("value", [
    "p1@mail.example", "P.Q+tag@Mail.Example", "a@localhost", "x@[127.0.0.1]", "x@[::1]", "\"quoted\"@mail.example",
    "not-an-email", "a b@mail.example", "x@-bad.example", "x@mail..example", "x@", "@mail.example", "x@y@mail.example",
    "x@mail.example.", "é@mail.example", "x@bücher.example", "x" * 310 + "@mail.example", "x@[300.1.1.1]",
])
def test_pp06_the_member_email_check_refuses_exactly_what_validate_email_refuses(value):
    """The check's own first look (the domain's verdict cached) never accepts what Django's validator refuses."""
    try:
        validate_email(value)
    except ValidationError:
        refused = True
    else:
        refused = False
    assert (email_problem(value) is not None) == refused
    assert (email_problem(value) is not None) == refused  # the cached domain gives the same answer
