"""Issue 15, requirement 2: new members are checked a column at a time, with the general path's problems (PP-06, PP-16).

``accounts.members.spreadsheets.columnar`` with ``member_columns.MemberColumns`` behind
``records_import_file``. The row-by-row path (``streaming``, one instance per row) is what it must
equal: the same problems (line, column, message, never the value), the same members, history rows
and product-line links (apart from ids and dates), nothing kept on a problem or a dry run, a
constant number of queries per chunk. On PostgreSQL both paths write by COPY (``history_copy``);
elsewhere by ``bulk_create``.
"""

from __future__ import annotations

import pytest
from django.db import connection

from accounts.members.spreadsheets import columnar, imports, member_columns, streaming
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.widgets import TextWidget
from accounts.models import ImportBatch, Member
from tests.accounts.test_history_copy import BAD_CELLS, HEADER, _row, _snapshot
from tests.accounts.test_import import SOURCE, csv_bytes, product_lines  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def _import(tmp_path, rows, *, header=HEADER, dry_run=False, columns=True, user=None):
    path = tmp_path / f"members-{'columns' if columns else 'rows'}.csv"
    path.write_bytes(csv_bytes(header, rows))
    with pytest.MonkeyPatch.context() as patch:
        if not columns:
            patch.setattr(columnar, "plan_for", lambda resource, headers: None)
        return imports.records_import_file(resource_class=MemberResource, path=path, file_format="csv",
                                           source=SOURCE, dry_run=dry_run, user=user)


def _empty() -> None:
    """Every member an import wrote, with its history and links (one statement at a time: SQLite too)."""
    with connection.cursor() as cursor:
        for statement in ("DELETE FROM accounts_historicalmember_product_lines",
                          "DELETE FROM accounts_historicalmember", "DELETE FROM accounts_member_product_lines",
                          "DELETE FROM accounts_member", "DELETE FROM accounts_importbatch"):
            cursor.execute(statement)


def _small_chunks(monkeypatch) -> None:
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 7)  # several chunks, and parts inside them
    monkeypatch.setattr(columnar, "PART_SIZE", 3)


def _bad_rows() -> list[list[str]]:
    rows = [_row(1)]
    for column, values in BAD_CELLS.items():
        for value in values:
            rows.append(_row(len(rows) + 1, **{column: value}))
    more = [
        dict(member_number="'=HC1"),  # good: the formula escape removed (checked the general way, line 31)
        dict(kind="'individual"), dict(registered_at="2024-02-30 10:00"),
        dict(registered_at="0001-01-01 00:00:00+05:00"), dict(cancelled_at="soon"), dict(nationality="'cn"),
        dict(nationality="cnn"), dict(legal_name="'=SUM(A1)" + "x" * 200), dict(date_of_birth="1990-02-30"),
        dict(email="p@mail.example" + "x" * 320), dict(phone="+86 138 0000 0000 0000 0000"),
        dict(product_lines="spot,,NOPE"), dict(member_number="x" * 21, kind="", email="x@", phone="?"),
    ]
    rows.extend(_row(len(rows) + 1, **changes) for changes in more)
    rows.append(_row(1))  # a key repeated
    rows.append(_row(900))  # and good rows between the bad ones
    return rows


def test_pp16_the_member_column_path_reports_exactly_the_problems_of_the_row_by_row_path(
    tmp_path, monkeypatch, product_lines  # noqa: F811
):
    """A file full of bad cells: every problem (line, column, message) is the row-by-row path's, in the same order."""
    _small_chunks(monkeypatch)
    rows = _bad_rows()

    by_rows = _import(tmp_path, rows, columns=False)
    by_columns = _import(tmp_path, rows)

    assert len(by_rows.problems) > len(rows)  # every case is a problem, and some have several
    assert [(p.line, p.column, p.message) for p in by_columns.problems] == [
        (p.line, p.column, p.message) for p in by_rows.problems
    ]
    assert {p.line for p in by_columns.problems} == {2, *range(3, len(rows) + 1)} - {31}  # each bad line named
    assert (by_columns.total_rows, by_columns.new) == (by_rows.total_rows, by_rows.new)
    assert (Member.objects.count(), Member.history.count(), ImportBatch.objects.count()) == (0, 0, 0)
    assert Member.product_lines.through.objects.count() == 0


def _good_rows() -> list[list[str]]:
    """Good rows, some of which the plan leaves to the general check: formula escapes, labels, typed offsets."""
    rows = [_row(i) for i in range(12)]
    rows += [
        _row(20, legal_name="'=Wang", kind="Individual", status="ACTIVE", registered_at="2024-03-02T01:02:03Z"),
        _row(21, nationality="sg", email="", phone="", date_of_birth="", product_lines="margin, spot ,margin"),
        _row(22, cancelled_at="", local_name="", legal_name="", registered_at="2024-03-04 10:00:00+08:00"),
        _row(23, phone="'+86 138 0000 0023", member_number=" HC000023 "),
    ]
    return rows


@pytest.mark.parametrize("header", [HEADER, [h for h in HEADER if h not in ("cancelled_at", "product_lines")]])
def test_pp06_pp16_the_member_column_path_stores_what_the_row_by_row_path_stores(
    tmp_path, monkeypatch, product_lines, compliance_officer, header  # noqa: F811
):
    """The same members (decrypted), blind indexes, name-search keys, birth years, history rows and links."""
    _small_chunks(monkeypatch)
    rows = [[cell for name, cell in zip(HEADER, row, strict=True) if name in header] for row in _good_rows()]

    report = _import(tmp_path, rows, header=header, columns=False, user=compliance_officer)
    assert report.problems == [] and report.new == len(rows)
    by_rows = _snapshot()
    _empty()

    report = _import(tmp_path, rows, header=header, user=compliance_officer)
    assert report.problems == [] and report.new == len(rows)
    by_columns = _snapshot()
    assert by_columns == by_rows
    assert len(by_rows["members"]) == len(rows) and len(by_rows["history"]) == len(rows)
    if "product_lines" in header:
        assert len(by_rows["links"]) > len(rows) and len(by_rows["link_history"]) == len(by_rows["links"])
    member = Member.objects.get(member_number="HC000001")
    assert (member.import_batch, member.birth_year, member.name_search) == (report.batch, 1990,
                                                                            " wang person 1 / wangperson1 / 王 1 ")


def test_pp16_good_members_take_the_column_path_and_a_dry_run_keeps_nothing(tmp_path, monkeypatch,
                                                                             product_lines):  # noqa: F811
    """No instance per good row (the general check is not called), and a dry run rolls everything back."""
    calls = []
    real = streaming.row_instance
    monkeypatch.setattr(streaming, "row_instance", lambda *a: calls.append(1) or real(*a))

    report = _import(tmp_path, [_row(i) for i in range(40)], dry_run=True)

    assert (report.problems, report.new, report.total_rows, report.batch) == ([], 40, 40, None)
    assert calls == []
    assert (Member.objects.count(), Member.history.count(), ImportBatch.objects.count()) == (0, 0, 0)
    assert Member.product_lines.through.objects.count() == 0


def test_pp16_one_bad_member_in_the_last_chunk_keeps_nothing_of_the_chunks_before(
    tmp_path, monkeypatch, product_lines  # noqa: F811
):
    """All or nothing: the chunks written before the bad row are rolled back with it."""
    _small_chunks(monkeypatch)
    rows = [_row(i) for i in range(30)] + [_row(30, email="not-an-email")]

    report = _import(tmp_path, rows)

    assert [(p.line, p.column) for p in report.problems] == [(32, "email")]
    assert report.batch is None
    assert (Member.objects.count(), Member.history.count(), ImportBatch.objects.count()) == (0, 0, 0)
    assert Member.product_lines.through.objects.count() == 0


def test_pp16_the_member_column_path_runs_a_constant_number_of_queries_per_chunk(
    tmp_path, monkeypatch, django_assert_max_num_queries, product_lines  # noqa: F811
):
    """Two chunks or six: the same queries per chunk (the stored-key check; on PostgreSQL each part's ids and
    four COPYs, sent by the second thread; elsewhere a ``bulk_create`` of members, history rows and links)."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 10)
    monkeypatch.setattr(columnar, "PART_SIZE", 5)
    counts = []
    for total in (20, 60):
        _empty()
        rows = [_row(i) for i in range(total)]
        with django_assert_max_num_queries(12 + 30 * (total // 10)) as context:
            report = _import(tmp_path, rows)
        assert report.problems == [] and report.new == total
        counts.append(len(context.captured_queries))
    per_chunk = (counts[1] - counts[0]) / 4
    assert per_chunk == int(per_chunk) and per_chunk <= 30  # four more chunks, the same queries each
    if connection.vendor == "postgresql":
        assert per_chunk == 1  # the stored-key check (the ids and COPYs of each part go in write_behind's thread)


def test_the_member_plan_refuses_a_resource_it_does_not_know(product_lines):  # noqa: F811
    """The plan inlines the resource's widgets and checks; another widget keeps the row-by-row path."""
    resource = MemberResource(source=SOURCE)
    assert isinstance(columnar.plan_for(resource, HEADER), member_columns.MemberColumns)
    resource.fields["legal_name"].widget = TextWidget(upper=True)
    assert columnar.plan_for(resource, HEADER) is None

    class Stricter(MemberResource):
        def record_checks(self, instance):
            return {}

    assert columnar.plan_for(Stricter(source=SOURCE), HEADER) is None
