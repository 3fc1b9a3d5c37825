"""Verification (PP-09, PP-10): the advanced-verification threshold and recording a verification."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import VerificationLevel, VerificationMethod, VerificationOutcome
from accounts.members.selectors import members_needing_advanced_verification
from accounts.members.services import verification_record
from accounts.models import Member, Verification
from tests.factories import MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

NOW = timezone.make_aware(datetime.datetime(2026, 6, 10, 12, 0))


def _traded(member, *amounts_and_days_ago):
    for amount, days_ago in amounts_and_days_ago:
        TransactionRecordFactory(
            member=member, amount=Decimal(amount), order_time=NOW - datetime.timedelta(days=days_ago)
        )
    return member


@pytest.fixture
def threshold(settings):
    settings.ADVANCED_VERIFICATION_THRESHOLD = {"amount": "10000", "window_days": 30}
    return settings


@pytest.fixture
def traders(threshold):
    return {
        "over": _traded(MemberFactory(), ("6000", 1), ("6000", 29)),
        "over_real_name": _traded(MemberFactory(verification_level=VerificationLevel.REAL_NAME), ("20000", 2)),
        "under": _traded(MemberFactory(), ("9000", 1)),
        "exactly_at": _traded(MemberFactory(), ("4000", 1), ("6000", 3)),  # exceeds means more than
        "outside_window": _traded(MemberFactory(), ("20000", 40)),
        "straddling": _traded(MemberFactory(), ("6000", 5), ("6000", 45)),
        "already_advanced": _traded(MemberFactory(verification_level=VerificationLevel.ADVANCED), ("50000", 1)),
        "no_trades": MemberFactory(),
    }


def _listed(traders) -> set[str]:
    names = {m.pk: name for name, m in traders.items()}
    return {names[m.pk] for m in members_needing_advanced_verification(now=NOW)}


def test_pp10_members_over_the_threshold_in_the_window_without_advanced_verification_are_listed(traders):
    assert _listed(traders) == {"over", "over_real_name"}


def test_pp10_the_list_is_one_aggregate_query(traders, django_assert_num_queries):
    with django_assert_num_queries(1):
        members = list(members_needing_advanced_verification(now=NOW))
    assert len(members) == 2
    # The same single query whatever the number of members and trades.
    for _ in range(5):
        _traded(MemberFactory(), ("30000", 1), ("1", 2))
    with django_assert_num_queries(1):
        assert len(list(members_needing_advanced_verification(now=NOW))) == 7


def test_pp10_the_amount_and_the_window_are_settings(traders, settings):
    settings.ADVANCED_VERIFICATION_THRESHOLD = {"amount": "5000", "window_days": 30}
    assert _listed(traders) == {"over", "over_real_name", "under", "exactly_at", "straddling"}
    settings.ADVANCED_VERIFICATION_THRESHOLD = {"amount": "10000", "window_days": 60}
    assert _listed(traders) == {"over", "over_real_name", "outside_window", "straddling"}


def test_pp10_the_window_defaults_to_now(threshold):
    recent = TransactionRecordFactory(amount=Decimal("20000"), order_time=timezone.now()).member
    stale = TransactionRecordFactory(
        amount=Decimal("20000"), order_time=timezone.now() - datetime.timedelta(days=31)
    ).member
    assert list(members_needing_advanced_verification()) == [recent]
    assert stale not in members_needing_advanced_verification()


# --- Recording a verification ---------------------------------------------------------------------
def test_pp09_a_passed_real_name_verification_raises_the_level_and_records_who_and_when(compliance_officer):
    member = MemberFactory()
    verification = verification_record(
        member=member, level=VerificationLevel.REAL_NAME, method=VerificationMethod.ID_NUMBER_CHECK,
        outcome=VerificationOutcome.PASSED, reviewer=compliance_officer,
    )
    stored = Verification.objects.get(pk=verification.pk)
    assert (stored.member, stored.level, stored.method, stored.outcome, stored.reviewer) == (
        member, VerificationLevel.REAL_NAME, VerificationMethod.ID_NUMBER_CHECK, VerificationOutcome.PASSED,
        compliance_officer,
    )
    assert stored.verified_at is not None
    assert Member.objects.get(pk=member.pk).verification_level == VerificationLevel.REAL_NAME
    assert member.verification_level == VerificationLevel.REAL_NAME
    latest = member.history.latest()
    assert (latest.verification_level, latest.history_user) == (VerificationLevel.REAL_NAME, compliance_officer)


def test_pp10_advanced_verification_takes_a_member_off_the_threshold_list(traders, compliance_officer):
    member = traders["over"]
    verification_record(
        member=member, level=VerificationLevel.ADVANCED, method=VerificationMethod.FACE_RECOGNITION,
        outcome=VerificationOutcome.FAILED, reviewer=compliance_officer,
    )
    assert Member.objects.get(pk=member.pk).verification_level == VerificationLevel.NONE
    assert "over" in _listed(traders)
    verification_record(
        member=member, level=VerificationLevel.ADVANCED, method=VerificationMethod.FACE_RECOGNITION,
        outcome=VerificationOutcome.PASSED, reviewer=compliance_officer,
    )
    assert Member.objects.get(pk=member.pk).verification_level == VerificationLevel.ADVANCED
    assert "over" not in _listed(traders)
    assert member.verifications.count() == 2


def test_pp09_a_later_real_name_check_or_a_failed_one_never_lowers_the_level(compliance_officer):
    member = MemberFactory(verification_level=VerificationLevel.ADVANCED)
    history_rows = member.history.count()
    for outcome in (VerificationOutcome.PASSED, VerificationOutcome.FAILED):
        verification_record(
            member=member, level=VerificationLevel.REAL_NAME, method=VerificationMethod.PASSPORT_CHECK,
            outcome=outcome, reviewer=compliance_officer,
        )
    assert Member.objects.get(pk=member.pk).verification_level == VerificationLevel.ADVANCED
    assert member.history.count() == history_rows  # nothing changed, no history row


def test_pp10_advanced_certification_must_be_by_face_recognition(compliance_officer):
    member = MemberFactory()
    with pytest.raises(ValidationError) as caught:
        verification_record(
            member=member, level=VerificationLevel.ADVANCED, method=VerificationMethod.ID_NUMBER_CHECK,
            outcome=VerificationOutcome.PASSED, reviewer=compliance_officer,
        )
    assert "face recognition" in caught.value.message_dict["method"][0]
    with pytest.raises(ValidationError) as caught:
        verification_record(
            member=member, level=VerificationLevel.NONE, method=VerificationMethod.ID_NUMBER_CHECK,
            outcome=VerificationOutcome.PASSED, reviewer=compliance_officer,
        )
    assert list(caught.value.message_dict) == ["level"]
    assert not Verification.objects.filter(member=member).exists()
    assert Member.objects.get(pk=member.pk).verification_level == VerificationLevel.NONE


def test_pp09_recording_locks_the_member_row(compliance_officer):
    member = MemberFactory()
    with CaptureQueriesContext(connection) as queries:
        verification_record(
            member=member, level=VerificationLevel.REAL_NAME, method=VerificationMethod.ID_NUMBER_CHECK,
            outcome=VerificationOutcome.PASSED, reviewer=None,
        )
    reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "accounts_member" in q["sql"]]
    assert reads, "the member is re-read inside the transaction"
    if connection.features.has_select_for_update:  # PostgreSQL; SQLite locks the whole database
        assert "FOR UPDATE" in reads[0]
