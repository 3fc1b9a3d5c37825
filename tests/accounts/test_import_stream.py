"""Issue 15, requirement 2: an import of new records is streamed and written chunk by chunk, still all or nothing.

``accounts.members.spreadsheets.streaming`` (the fast path) behind ``records_import`` and
``records_import_file`` (``manage.py import_records``).
"""

from __future__ import annotations

import datetime
import tracemalloc

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.members.spreadsheets import imports, streaming
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import ImportBatch, Member, MemberDailyVolume, TransactionRecord
from accounts.privacy import crypto
from tests.accounts.test_import import (
    MEMBER_HEADER,
    SOURCE,
    TXN_HEADER,
    csv_bytes,
    member_row,
    product_lines,  # noqa: F401 (fixture)
    txn_row,
)
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _import_file(tmp_path, resource_class, header, rows, *, dry_run=False):
    path = tmp_path / "records.csv"
    path.write_bytes(csv_bytes(header, rows))
    return imports.records_import_file(resource_class=resource_class, path=path, file_format="csv", source=SOURCE,
                                       dry_run=dry_run)


def test_pp16_a_bad_row_at_the_end_of_a_big_streamed_file_writes_nothing_and_names_its_line_and_column(
    tmp_path, monkeypatch
):
    """Chunks before the bad row were written inside the import's transaction: all of them are rolled back,
    and the one problem names its file line and column (never the value)."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 500)
    member = MemberFactory(product_lines=["spot"])
    rows = [txn_row(i, member.member_number) for i in range(1999)]
    rows.append(txn_row(1999, member.member_number, amount="12,5"))

    report = _import_file(tmp_path, TransactionRecordResource, TXN_HEADER, rows)

    assert [str(p) for p in report.problems] == [
        "line 2001, column amount: Enter a number, e.g. 1234.56 (no thousands separators)."
    ]
    assert (TransactionRecord.objects.count(), MemberDailyVolume.objects.count(), ImportBatch.objects.count()) == (
        0, 0, 0,
    )


def test_pp16_a_key_repeated_across_chunks_is_refused_on_both_lines(tmp_path, monkeypatch, product_lines):  # noqa: F811
    """The first occurrence was written with its chunk; the repeat in a later chunk refuses the whole file."""
    monkeypatch.setattr(streaming, "CHUNK_SIZE", 100)
    rows = [member_row(i) for i in range(250)]
    rows[240] = member_row(3)

    report = _import_file(tmp_path, MemberResource, MEMBER_HEADER, rows)

    message = "This key appears more than once in the file: lines 5, 242."
    assert [(p.line, p.column, p.message) for p in report.problems] == [
        (5, "member_number", message), (242, "member_number", message),
    ]
    assert Member.objects.count() == 0


def test_pp16_a_streamed_import_keeps_python_memory_bounded_whatever_the_file_size(tmp_path, monkeypatch):
    """Peak Python allocation of a 6,000-row import in chunks of 500 stays well below what the same file
    read whole (one chunk) needs: the file is read as a stream, one chunk of records in memory at a time."""
    member = MemberFactory(product_lines=["spot"])
    rows = [txn_row(i, member.member_number) for i in range(6000)]

    def peak(chunk_size: int) -> int:
        monkeypatch.setattr(streaming, "CHUNK_SIZE", chunk_size)
        tracemalloc.start()
        try:
            report = _import_file(tmp_path, TransactionRecordResource, TXN_HEADER, rows, dry_run=True)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert (report.new, report.problems) == (6000, [])

    streamed, whole = peak(500), peak(10_000)
    # The column path holds no instance per row, so the whole file costs less than it did (about 7 MiB, was 18):
    # still more than twice the streamed peak, which a file this small fills with what every import holds.
    assert streamed < whole / 2, (streamed, whole)
    assert TransactionRecord.objects.count() == 0  # dry runs


def test_pp16_the_command_streams_a_file_and_a_dry_run_writes_nothing(tmp_path, product_lines):  # noqa: F811
    """``import_records`` reads the file from disk as a stream; a dry run checks every row, writes nothing.
    The rows written keep their blind indexes and decrypt to the file's values, their history rows too."""
    path = tmp_path / "members.csv"
    path.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(i) for i in range(30)]))

    call_command("import_records", "members", str(path), "--source", SOURCE, "--dry-run", "--no-progress")
    assert (Member.objects.count(), ImportBatch.objects.count()) == (0, 0)

    call_command("import_records", "members", str(path), "--source", SOURCE, "--no-progress")
    assert Member.objects.count() == 30
    assert Member.history.count() == 30
    assert ImportBatch.objects.get().new_rows == 30
    member = Member.objects.get(email_bidx=crypto.blind_index("email", "P7@mail.example"))
    assert (member.member_number, member.email, member.legal_name) == ("IMP000007", "p7@mail.example", "Person 7")
    assert member.phone_bidx == crypto.blind_index("phone", member_row(7)[MEMBER_HEADER.index("phone")])
    assert set(member.product_lines.values_list("code", flat=True)) == {"spot"}
    history = Member.history.get(member_number="IMP000007")
    assert (history.email, history.email_bidx) == ("p7@mail.example", member.email_bidx)


def test_pp16_a_streamed_file_that_is_not_utf8_names_the_line_and_writes_nothing(tmp_path, product_lines):  # noqa: F811
    """A byte that is neither UTF-8 nor GB18030 deep in the file: the command names its line, character and
    byte, and the encodings tried (issue 16 req. 5); nothing is written."""
    rows = [member_row(i) for i in range(10)]
    content = csv_bytes(MEMBER_HEADER, rows).replace(b"Person 8", b"Person \xff")
    path = tmp_path / "members.csv"
    path.write_bytes(content)

    with pytest.raises(CommandError, match=r"^line 10: character 39 of the line \(byte \d+ of the file\) "
                       r"cannot be read as .*; encodings tried: UTF-8, UTF-16, GB18030\."):
        call_command("import_records", "members", str(path), "--source", SOURCE, "--no-progress")
    assert Member.objects.count() == 0


def test_pp26_encrypt_many_makes_fernet_tokens_with_a_random_iv_each(settings):
    """The streamed import encrypts a column at a time: every token is a Fernet token under the primary key
    that ``MultiFernet`` decrypts to the value, and equal values still get different tokens (random IVs)."""
    values = ["", "a", "x" * 15, "y" * 16, "z" * 40, "导入 12", "12.50", "12.50"]
    tokens = crypto.encrypt_many(values)

    primary = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
    assert [primary.decrypt(token.encode()).decode() for token in tokens] == values
    assert [crypto.decrypt_str(token) for token in tokens] == values
    assert tokens[-1] != tokens[-2]
    assert len({token[:57] for token in tokens}) == len(tokens)  # version, time and IV differ in the IV


def test_a_time_without_offset_is_read_in_the_zone_active_for_each_import(tmp_path, product_lines):  # noqa: F811
    """The time zone is looked up once per import, not per cell: a later import in another zone reads its own."""
    from django.utils import timezone

    member = MemberFactory(product_lines=["spot"])
    times = {}
    for number, zone in ((1, "Asia/Shanghai"), (2, "UTC")):
        with timezone.override(zone):
            report = _import_file(tmp_path, TransactionRecordResource, TXN_HEADER,
                                  [txn_row(number, member.member_number, order_time="2025-03-01 10:00:00")])
        assert report.problems == []
        times[zone] = TransactionRecord.objects.get(
            order_number_bidx=crypto.blind_index("order", f"ORD-IMP-{number:08d}")).order_time

    assert times["UTC"] - times["Asia/Shanghai"] == datetime.timedelta(hours=8)
