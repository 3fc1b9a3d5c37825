"""Erasure records outside the database (PP-02): exported before a restore, imported after, so
``reapply_erasures`` finds the members a backup brought back even when the backup predates their
erasure records."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Member
from config.schedule import SCHEDULE
from retention import records_io
from retention.choices import ErasureTrigger
from retention.erasure import reapply, runner
from retention.erasure.tombstones import is_tombstone_number
from retention.jobs.erasure_records import copy_erasure_records
from retention.models import ErasureRecord, JobRun
from tests.retention.erasure_seed import seed_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def erased(django_capture_on_commit_callbacks):
    seeded = seed_member(files=False)
    with django_capture_on_commit_callbacks(execute=True):
        runner.erase_members(member_ids=[seeded.member.pk], trigger=ErasureTrigger.DELETION_REQUEST,
                             request_reference="DSR-IOTEST1")
    return seeded


def test_pp02_records_exported_before_a_restore_let_reapply_erase_the_member_again(
    erased, tmp_path, django_capture_on_commit_callbacks
):
    copy = tmp_path / "records.jsonl"
    out = StringIO()
    call_command("erasure_records", "export", str(copy), "--no-progress", stdout=out)
    assert "1 erasure record(s) written" in out.getvalue()
    line = json.loads(copy.read_text().strip())
    assert erased.number not in copy.read_text() and line["request_reference"] == "DSR-IOTEST1"

    # The restore: an older backup without the record, with the member as it was before erasure.
    ErasureRecord.objects.all().delete()
    Member.objects.filter(pk=erased.member.pk).update(member_number="Z-old-tombstone")
    restored = seed_member(number=erased.number, tag=erased.tag, files=False)
    assert reapply.reapply_erasures(dry_run=True).matched == 0  # without the records: resurrected

    out = StringIO()
    call_command("erasure_records", "import", str(copy), "--no-progress", stdout=out)
    assert "1 record(s) read, 1 added, 0 already present" in out.getvalue()
    with django_capture_on_commit_callbacks(execute=True):
        report = reapply.reapply_erasures()
    assert report.engine.erased == [restored.number]
    assert is_tombstone_number(Member.objects.get(pk=restored.member.pk).member_number)

    # Importing again adds nothing (idempotent).
    out = StringIO()
    call_command("erasure_records", "import", str(copy), "--no-progress", stdout=out)
    assert "1 record(s) read, 0 added, 1 already present" in out.getvalue()


def test_pp02_a_bad_line_imports_nothing_and_names_the_line_and_field(erased, tmp_path):
    good = json.dumps({"subject_hash": "a" * 64, "trigger": "cancellation", "started_at": "2026-01-01T00:00:00+00:00",
                       "finished_at": "2026-01-01T00:01:00+00:00"})
    bad = json.dumps({"subject_hash": "a" * 63, "trigger": "cancellation", "started_at": "2026-01-01T00:00:00+00:00",
                      "finished_at": "2026-01-01T00:01:00+00:00"})
    source = tmp_path / "bad.jsonl"
    source.write_text(f"{good}\n\n{bad}\n")
    with pytest.raises(CommandError, match=r"line 3, subject_hash: expected 64 lowercase hex characters\. "
                                           r"Nothing was imported\."):
        call_command("erasure_records", "import", str(source), "--no-progress", stdout=StringIO())
    assert ErasureRecord.objects.count() == 1
    source.write_text('{"subject_hash": "' + "b" * 64 + '", "trigger": "war"}\n')
    with pytest.raises(CommandError, match="line 1: missing field"):
        call_command("erasure_records", "import", str(source), "--no-progress", stdout=StringIO())
    with pytest.raises(CommandError, match="no such file"):
        call_command("erasure_records", "import", str(tmp_path / "missing.jsonl"), stdout=StringIO())


def test_pp02_import_dry_run_adds_nothing(erased, tmp_path):
    copy = tmp_path / "records.jsonl"
    records_io.export_records(copy)
    ErasureRecord.objects.all().delete()
    out = StringIO()
    call_command("erasure_records", "import", str(copy), "--dry-run", "--no-progress", stdout=out)
    assert "DRY RUN" in out.getvalue() and "1 would be added" in out.getvalue()
    assert not ErasureRecord.objects.exists()


def test_pp02_the_daily_copy_job_writes_outside_the_database_and_keeps_the_newest(erased, tmp_path, settings):
    settings.ERASURE_RECORDS_COPY_DIR = str(tmp_path / "copies")
    settings.ERASURE_RECORDS_COPIES_KEPT = 2
    import datetime

    from django.utils import timezone

    now = timezone.now()  # one instant: the copies are named after the day of the clock passed in
    for days_ago in (3, 2, 1, 0):
        result = copy_erasure_records(now=now - datetime.timedelta(days=days_ago))
        assert result.changed == 1
    copies = sorted(p.name for p in (tmp_path / "copies").iterdir())
    assert len(copies) == 2 and copies[-1] == f"erasure-records-{timezone.localdate(now):%Y%m%d}.jsonl"
    assert JobRun.objects.filter(job="copy_erasure_records").count() == 4
    assert "retention.copy_erasure_records" in {job.task for job in SCHEDULE}


def test_pp02_the_copy_job_without_a_directory_says_so_and_writes_nothing(erased, settings):
    settings.ERASURE_RECORDS_COPY_DIR = ""
    result = copy_erasure_records()
    assert result.changed == 0 and result.details["skipped"] == "no directory set"
