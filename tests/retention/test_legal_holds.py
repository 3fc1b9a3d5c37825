"""Legal holds and legal retention (issue 5, requirement 3; PP-29, PP-33)."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from accounts.models import Member, TransactionRecord
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import runner
from retention.erasure.plan import plan
from retention.erasure.records import was_erased
from retention.models import ErasureRun, ErasureRunItem, LegalHold
from tests.clock import frozen
from tests.retention.erasure_seed import member_is_untouched, seed_member

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    """Birthdays and hold dates are computed from today, then the code reads the clock again: the
    clock stands at the test's start, so a run across midnight sees one day (tests/clock.py)."""
    with frozen() as traveller:
        yield traveller


@pytest.fixture
def erase(django_capture_on_commit_callbacks):
    def run(*seeded, trigger=ErasureTrigger.CANCELLATION, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return runner.erase_members(member_ids=[s.member.pk for s in seeded], trigger=trigger, **options)

    return run


def _orders_numbered(member, prefix: str) -> int:
    """The member's orders whose (encrypted) order number starts with ``prefix``, decrypted here."""
    return sum(t.order_number.startswith(prefix) for t in TransactionRecord.objects.filter(member=member))


def _hold(member, owner, **fields):
    return LegalHold.objects.create(member=member, reason="Court order 2024/17", owner=owner, **fields)


def test_pp29_a_held_member_is_skipped_and_reported_and_the_others_are_erased(erase, compliance_officer):
    held, free = seed_member(), seed_member()
    _hold(held.member, compliance_officer)
    run = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.APPROVED)

    result = erase(held, free, run=run)

    assert result.held == [held.number] and result.erased == [free.number]
    assert member_is_untouched(held)
    item = ErasureRunItem.objects.get(run=run, member_id=held.member.pk)
    assert (item.status, item.member_number) == (ItemStatus.HELD, held.number)
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED


def test_pp33_erasure_resumes_once_the_hold_has_ended(erase, compliance_officer):
    member = seed_member()
    today = timezone.localdate()
    hold = _hold(member.member, compliance_officer, starts_on=today - datetime.timedelta(days=10), ends_on=today)
    assert erase(member).held == [member.number]  # the hold still covers today

    LegalHold.objects.filter(pk=hold.pk).update(ends_on=today - datetime.timedelta(days=1))
    result = erase(member)

    assert result.erased == [member.number] and result.held == []
    assert was_erased(member.number)


def test_a_released_hold_no_longer_blocks(erase, compliance_officer, supervisor):
    member = seed_member()
    _hold(member.member, compliance_officer, released_at=timezone.now(), released_by=supervisor,
          release_reason="Case closed")
    assert erase(member).erased == [member.number]


def test_a_hold_that_starts_later_does_not_block_today(erase, compliance_officer):
    member = seed_member()
    _hold(member.member, compliance_officer, starts_on=timezone.localdate() + datetime.timedelta(days=3))
    assert erase(member).erased == [member.number]


def test_a_hold_blocks_the_retention_catch_up_too(erase, compliance_officer):
    member = seed_member()
    erase(member)
    _hold(member.member, compliance_officer)
    later = timezone.now() + datetime.timedelta(days=5 * 365 + 1)
    result = runner.erase_members(member_ids=[member.member.pk], trigger=ErasureTrigger.CANCELLATION, now=later)
    assert result.held == [Member.objects.get(pk=member.member.pk).member_number]
    assert _orders_numbered(member.member, "ORD-") == 3


def test_the_hold_itself_is_kept_after_the_erasure(erase, compliance_officer, supervisor):
    member = seed_member()
    hold = _hold(member.member, compliance_officer, released_at=timezone.now(), released_by=supervisor)
    erase(member)
    assert LegalHold.objects.filter(pk=hold.pk, member_id=member.member.pk).exists()


def test_pp33_legal_retention_periods_come_from_settings(erase, settings):
    recent, old = seed_member(cancelled_days_ago=60), seed_member(cancelled_days_ago=60)
    erase(recent)  # default: transactions kept five years after closure
    assert _orders_numbered(recent.member, "ORD-") == 3

    settings.LEGAL_RETENTION_DAYS = {**settings.LEGAL_RETENTION_DAYS, "transaction": 30, "account": 30}
    plan.cache_clear()
    try:
        erase(old)  # closed 60 days ago, retention of 30 days has passed: anonymised at once
    finally:
        plan.cache_clear()
    txns = TransactionRecord.objects.filter(member=old.member)
    assert txns.count() == 3 and _orders_numbered(old.member, "ORD-") == 0
    assert Member.objects.get(pk=old.member.pk).cancelled_at is None


def test_pp37_under_14_has_no_retention_exception_but_a_hold_still_applies(erase, compliance_officer):
    held_child, child = seed_member(born=datetime.date(2014, 6, 1)), seed_member(born=datetime.date(2014, 6, 1))
    _hold(held_child.member, compliance_officer)
    result = erase(held_child, child, trigger=ErasureTrigger.UNDER_14)
    assert result.held == [held_child.number] and result.erased == [child.number]
    assert _orders_numbered(child.member, "ORD-") == 0
    assert member_is_untouched(held_child)
