"""May we process? (issue 4, requirement 5; PP-04, PP-05, PP-10, PP-38) and its set-based audience."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import MemberStatus
from consents.choices import ConsentAction
from consents.guardians import guardian_add
from consents.models import Purpose
from consents.selectors import audience, may_process
from tests.clock import frozen
from tests.consents.ledger_helpers import aware, born, initial_version, record, verified_guardian, version_publish
from tests.factories import InstitutionFactory, MemberFactory

pytestmark = pytest.mark.django_db

OLD = aware(2020, 1, 1)
SMS = "marketing-sms"
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    """Birthdays and hold dates are computed from today, then the code reads the clock again: the
    clock stands at the test's start, so a run across midnight sees one day (tests/clock.py)."""
    with frozen() as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


def earlier_today(hours: float) -> datetime.datetime:
    """``hours`` ago, but never before today's local midnight: ages are counted by the local date,
    so an event "earlier today" must not fall on yesterday when the suite runs just after midnight."""
    now = timezone.now()
    midnight = timezone.make_aware(datetime.datetime.combine(timezone.localdate(now), datetime.time.min))
    # Just after midnight the moments are squeezed into today, keeping their order (more hours, earlier).
    return max(now - datetime.timedelta(hours=hours), midnight + (now - midnight) / (1 + hours))


def noon(day: datetime.date) -> datetime.datetime:
    return aware(day.year, day.month, day.day, 12)


# --- Basic purposes ------------------------------------------------------------------------------------
def test_pp04_basic_purposes_need_no_consent_while_the_account_is_active():
    member = MemberFactory(registered_at=OLD)
    decision = may_process(member=member, purpose="transactions")
    assert decision.allowed and bool(decision)
    assert "basic purpose" in decision.reason


@pytest.mark.parametrize("status", [MemberStatus.SUSPENDED, MemberStatus.CANCELLED, MemberStatus.CLOSED])
def test_pp04_an_account_that_is_not_active_is_not_processed_and_the_reason_says_why(status):
    member = MemberFactory(registered_at=OLD, status=status)
    decision = may_process(member=member, purpose="transactions")
    assert not decision.allowed
    assert decision.reason.startswith(f"The account is {MemberStatus(status).label.lower()}")
    assert decision.code == f"account_{status}"


def test_pp04_refusing_an_additional_purpose_never_blocks_a_basic_one():
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, at=aware(2025, 1, 1))
    record(member, SMS, ConsentAction.WITHDRAW, at=aware(2025, 2, 1))
    assert not may_process(member=member, purpose=SMS).allowed
    for code in Purpose.objects.filter(kind="basic").values_list("code", flat=True):
        assert may_process(member=member, purpose=code).allowed, code


def test_pp04_a_historical_answer_uses_the_account_status_at_that_time(clock):
    member = MemberFactory(registered_at=OLD)
    before = timezone.now()
    clock.shift(1)  # the suspension comes a second later
    member.status = MemberStatus.SUSPENDED
    member.save()
    assert may_process(member=member, purpose="transactions", at=before).allowed
    assert not may_process(member=member, purpose="transactions").allowed
    assert may_process(member=member, purpose="transactions", at=aware(2019, 1, 1)).code == "not_registered"


# --- Additional purposes ---------------------------------------------------------------------------
def test_pp05_an_additional_purpose_needs_a_grant():
    member = MemberFactory(registered_at=OLD)
    decision = may_process(member=member, purpose=SMS)
    assert (decision.allowed, decision.code) == (False, "no_grant")
    record(member, SMS)
    assert may_process(member=member, purpose=SMS).allowed


def test_pp32_withdrawal_then_regrant_and_the_ledger_answers_for_any_moment():
    member = MemberFactory(registered_at=OLD)
    t1, t2, t3 = aware(2025, 1, 1), aware(2025, 2, 1), aware(2025, 3, 1)
    record(member, SMS, at=t1)
    record(member, SMS, ConsentAction.WITHDRAW, at=t2)
    record(member, SMS, at=t3)
    assert may_process(member=member, purpose=SMS, at=t1 - DAY).code == "no_grant"
    assert may_process(member=member, purpose=SMS, at=t1 + DAY).allowed
    withdrawn = may_process(member=member, purpose=SMS, at=t2 + DAY)
    assert (withdrawn.allowed, withdrawn.code) == (False, "withdrawn")
    assert "2025-02-01" in withdrawn.reason
    assert may_process(member=member, purpose=SMS, at=t3).allowed
    assert may_process(member=member, purpose=SMS).allowed


def test_pp05_a_grant_under_a_version_older_than_the_purpose_no_longer_counts(v1):
    member = MemberFactory(registered_at=OLD)
    record(member, "profiling-push", at=aware(2025, 1, 1), version=v1)
    # The purpose changes: a new version re-introduces it (PP-05) and the old grant stops counting.
    v2 = version_publish("2025.6", aware(2025, 6, 1))
    Purpose.objects.filter(code="profiling-push").update(introduced_in=v2)
    decision = may_process(member=member, purpose="profiling-push")
    assert (decision.allowed, decision.code) == (False, "outdated_version")
    assert "2025.6" in decision.reason
    assert member not in audience(purpose="profiling-push")
    record(member, "profiling-push", version=v2)
    assert may_process(member=member, purpose="profiling-push").allowed
    assert member in audience(purpose="profiling-push")


def test_pp03_on_the_day_before_the_14th_birthday_nothing_can_be_granted_on_the_day_it_can():
    birthday = datetime.date(2025, 6, 10)
    member = MemberFactory(registered_at=OLD, date_of_birth=born(14, birthday))
    guardian = verified_guardian(member)
    with pytest.raises(Exception, match="under 14"):
        record(member, SMS, at=noon(birthday - DAY))
    record(member, SMS, at=noon(birthday))
    record(member, SMS, at=noon(birthday), guardian=guardian)
    assert may_process(member=member, purpose=SMS, at=noon(birthday)).allowed


@pytest.mark.parametrize("instant", ["2026-12-07T00:05:00Z", "2027-04-30T23:55:00Z", "2027-12-31T23:58:00Z",
                                     "2028-02-29T12:00:00Z", "2028-03-01T00:01:00Z", "2031-06-15T09:00:00Z"])
def test_pp03_pp38_birthdays_are_counted_on_the_clocks_today_at_any_instant(instant):
    """Regression: ages in tests came from fixed birth dates while the code reads today's date. Here
    the birth dates are relative to the stopped clock, and the code reads that clock itself."""
    with frozen(instant):
        today = timezone.localdate()
        turns14_today = MemberFactory(registered_at=OLD, date_of_birth=born(14, today))
        record(turns14_today, SMS)
        record(turns14_today, SMS, guardian=verified_guardian(turns14_today))
        turns14_tomorrow = MemberFactory(registered_at=OLD, date_of_birth=born(14, today, days_later=1))
        turns18_today = MemberFactory(registered_at=OLD, date_of_birth=born(18, today))
        turns18_tomorrow = MemberFactory(registered_at=OLD, date_of_birth=born(18, today, days_later=1))

        assert may_process(member=turns14_today, purpose=SMS).allowed
        assert may_process(member=turns14_tomorrow, purpose=SMS).code == "child"
        assert turns14_today in set(audience(purpose=SMS))
        with pytest.raises(ValidationError, match="adult"):
            guardian_add(member=turns18_today, name="Li Hua", relation="father", contact="li.hua@mail.example")
        assert guardian_add(member=turns18_tomorrow, name="Li Hua", relation="father",
                            contact="li.hua@mail.example").pk


def test_pp03_a_member_under_14_gets_no_for_every_additional_purpose_even_with_old_grants():
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, at=aware(2025, 1, 1))
    member.date_of_birth = born(14, timezone.localdate(), days_later=1)  # date of birth corrected: 13 today
    member.save()
    decision = may_process(member=member, purpose=SMS)
    assert (decision.allowed, decision.code) == (False, "child")
    assert "under 14" in decision.reason
    assert may_process(member=member, purpose="transactions").allowed  # basic purposes go on


def test_pp38_a_member_aged_14_to_17_also_needs_a_guardians_grant():
    birthday18 = datetime.date(2025, 9, 1)
    member = MemberFactory(registered_at=OLD, date_of_birth=born(18, birthday18))
    guardian = verified_guardian(member)
    record(member, SMS, at=aware(2025, 1, 1))
    decision = may_process(member=member, purpose=SMS, at=noon(birthday18 - DAY))
    assert (decision.allowed, decision.code) == (False, "needs_guardian")
    assert "guardian" in decision.reason
    assert may_process(member=member, purpose=SMS, at=noon(birthday18)).allowed  # 18: own grant is enough

    record(member, SMS, at=aware(2025, 2, 1), guardian=guardian)
    assert may_process(member=member, purpose=SMS, at=noon(birthday18 - DAY)).allowed


def test_pp38_a_guardians_grant_alone_is_not_the_members_and_a_guardians_withdrawal_ends_both():
    member = MemberFactory(registered_at=OLD, date_of_birth=born(16, timezone.localdate()))
    guardian = verified_guardian(member)
    record(member, SMS, guardian=guardian, at=timezone.now() - 3 * DAY)
    assert may_process(member=member, purpose=SMS).code == "no_own_grant"
    record(member, SMS, at=timezone.now() - 2 * DAY)
    assert may_process(member=member, purpose=SMS).allowed
    record(member, SMS, ConsentAction.WITHDRAW, guardian=guardian, at=timezone.now() - DAY)
    assert may_process(member=member, purpose=SMS).code == "withdrawn"


# --- The audience ---------------------------------------------------------------------------------------
def _population(today: datetime.date) -> tuple[list, set]:
    """Members of every kind of case, and those who belong in the marketing-SMS audience today."""
    earlier = earlier_today(2)

    def member(dob=None, **kwargs):
        return MemberFactory(registered_at=OLD, date_of_birth=dob, **kwargs)

    adult = member(datetime.date(1980, 1, 1))
    record(adult, SMS, at=earlier)
    withdrawn = member(datetime.date(1980, 1, 1))
    record(withdrawn, SMS, at=earlier)
    record(withdrawn, SMS, ConsentAction.WITHDRAW, at=earlier_today(1))
    never = member(datetime.date(1980, 1, 1))
    record(never, "cookies-analytics", at=earlier)
    suspended = member(datetime.date(1980, 1, 1))
    record(suspended, SMS, at=earlier)
    suspended.status = MemberStatus.SUSPENDED
    suspended.save()
    institution = InstitutionFactory(registered_at=OLD)
    record(institution, SMS, at=earlier)

    turns14_today = member(born(14, today))
    record(turns14_today, SMS, at=earlier)
    record(turns14_today, SMS, at=earlier, guardian=verified_guardian(turns14_today))
    turns14_tomorrow = member(datetime.date(1980, 1, 1))  # granted, then the date of birth was corrected
    record(turns14_tomorrow, SMS, at=earlier)
    record(turns14_tomorrow, SMS, at=earlier, guardian=verified_guardian(turns14_tomorrow))
    turns14_tomorrow.date_of_birth = born(14, today, days_later=1)
    turns14_tomorrow.save()

    minor_alone = member(born(16, today))
    record(minor_alone, SMS, at=earlier)
    minor_guarded = member(born(16, today))
    record(minor_guarded, SMS, at=earlier)
    record(minor_guarded, SMS, at=earlier, guardian=verified_guardian(minor_guarded))

    turns18_today = member(born(18, today))
    record(turns18_today, SMS, at=earlier)
    turns18_tomorrow = member(born(18, today, days_later=1))
    record(turns18_tomorrow, SMS, at=earlier)
    turns18_tomorrow_guarded = member(born(18, today, days_later=1))
    record(turns18_tomorrow_guarded, SMS, at=earlier)
    record(turns18_tomorrow_guarded, SMS, at=earlier, guardian=verified_guardian(turns18_tomorrow_guarded))

    everyone = [adult, withdrawn, never, suspended, institution, turns14_today, turns14_tomorrow, minor_alone,
                minor_guarded, turns18_today, turns18_tomorrow, turns18_tomorrow_guarded]
    expected = {adult, institution, turns14_today, minor_guarded, turns18_today, turns18_tomorrow_guarded}
    return everyone, expected


def test_pp38_the_audience_is_exact_about_14th_and_18th_birthdays_and_agrees_with_may_process():
    everyone, expected = _population(timezone.localdate())
    assert set(audience(purpose=SMS)) == expected
    for member in everyone:
        assert may_process(member=member, purpose=SMS).allowed == (member in expected), member.member_number


def test_the_audience_for_a_past_moment_reads_the_ledger():
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, at=aware(2025, 1, 1))
    record(member, SMS, ConsentAction.WITHDRAW, at=aware(2025, 2, 1))
    assert member not in audience(purpose=SMS)
    assert member in audience(purpose=SMS, at=aware(2025, 1, 15))
    assert member not in audience(purpose=SMS, at=aware(2024, 12, 31))
    assert member not in audience(purpose=SMS, at=aware(2025, 3, 1))  # withdrawn by then


def test_the_historical_audience_agrees_with_may_process_member_by_member():
    everyone, _expected = _population(timezone.localdate())
    at = timezone.now()
    past = set(audience(purpose=SMS, at=at))
    for member in everyone:
        assert may_process(member=member, purpose=SMS, at=at).allowed == (member in past), member.member_number


def test_pp04_the_audience_of_a_basic_purpose_is_every_active_account():
    active, closed = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD, status=MemberStatus.CLOSED)
    members = set(audience(purpose="security-fraud"))
    assert active in members and closed not in members


@pytest.mark.parametrize("at", [None, "past"])
def test_the_audience_runs_a_constant_number_of_queries(at):
    counts = []
    today = timezone.localdate()
    for size in (5, 50):
        for index in range(size):
            # Every cohort, including the two whose age needs the exact date of birth.
            dob = [datetime.date(1980, 1, 1), born(14, today), born(16, today), born(18, today),
                   born(18, today, days_later=1)][index % 5]
            member = MemberFactory(registered_at=OLD, date_of_birth=dob)
            record(member, SMS, at=earlier_today(1))
            if index % 2:
                record(member, SMS, at=earlier_today(1), guardian=verified_guardian(member))
        moment = None if at is None else timezone.now()
        with CaptureQueriesContext(connection) as queries:
            members = list(audience(purpose=SMS, at=moment))
        counts.append(len(queries))
        assert members
    assert counts[0] == counts[1] <= 3
