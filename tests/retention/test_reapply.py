"""``reapply_erasures`` (issue 5, requirement 2): a restore from backup never resurrects an erased member."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Member
from retention.choices import ErasureTrigger
from retention.erasure import reapply, runner
from retention.erasure.tombstones import is_tombstone_number
from retention.models import ErasureRecord
from tests.retention.erasure_seed import member_is_untouched, seed_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def erased_then_restored(django_capture_on_commit_callbacks):
    """A member erased, then brought back with all its rows by a restore of an older backup."""
    original = seed_member()
    with django_capture_on_commit_callbacks(execute=True):
        runner.erase_members(member_ids=[original.member.pk], trigger=ErasureTrigger.UNDER_14,
                             request_reference="DSR-RESTORE1")
    # The restore brings the row back as it was (same number, same data); the tombstone would not
    # exist in the restored database, so it is renamed out of the way here.
    Member.objects.filter(pk=original.member.pk).update(member_number="Z-old-tombstone")
    restored = seed_member(number=original.number, tag=original.tag)
    return restored


def test_pp02_reapply_erases_members_brought_back_by_a_restore(
    erased_then_restored, django_capture_on_commit_callbacks
):
    bystander = seed_member()
    with django_capture_on_commit_callbacks(execute=True):
        report = reapply.reapply_erasures()
    assert report.matched == 1 and report.engine.erased == [erased_then_restored.number]
    member = Member.objects.get(pk=erased_then_restored.member.pk)
    assert is_tombstone_number(member.member_number) and member.email == ""
    # The first record stays the proof: no second one, same trigger and ticket.
    record = ErasureRecord.objects.get()
    assert (record.trigger, record.request_reference) == (ErasureTrigger.UNDER_14, "DSR-RESTORE1")
    assert member_is_untouched(bystander)
    # Running it again finds nothing more to do.
    assert reapply.reapply_erasures().matched == 0


def test_reapply_dry_run_changes_nothing(erased_then_restored):
    report = reapply.reapply_erasures(dry_run=True)
    assert report.matched == 1 and report.engine.erased == [erased_then_restored.number]
    assert member_is_untouched(erased_then_restored)


def test_matching_is_set_based_per_chunk_of_members():
    seed_member(files=False)
    with CaptureQueriesContext(connection) as few:
        reapply.erased_members_present(chunk_size=1000)
    for _ in range(12):
        seed_member(files=False)
    with CaptureQueriesContext(connection) as many:
        reapply.erased_members_present(chunk_size=1000)
    assert len(few.captured_queries) == len(many.captured_queries) == 3  # members, records, end of scan


def test_reapply_command_reports_with_dry_run_and_progress(erased_then_restored, capsys):
    call_command("reapply_erasures", "--dry-run")
    captured = capsys.readouterr()
    assert "1 match an erasure record" in captured.out and "1 member(s) would be erased again" in captured.out
    assert "Dry run: nothing was changed." in captured.out
    assert member_is_untouched(erased_then_restored)

    call_command("reapply_erasures", "--no-progress")
    assert "1 member(s) erased again" in capsys.readouterr().out
    assert not member_is_untouched(erased_then_restored)
