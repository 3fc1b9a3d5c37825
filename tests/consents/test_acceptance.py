"""PP-40: a version that narrows a right needs each member's express acceptance before it binds them.

Decision (policy section VII: "We will not restrict your rights under this Privacy Policy without
your express consent"; continued use is acceptance only of other changes): until a member accepts
such a version, ``may_process`` refuses every *additional* purpose for them from the version's
effective date (code ``not_accepted``); *basic* purposes go on (PP-04), and ``audience`` agrees.
"""

from __future__ import annotations

import datetime
import json
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consents.api import site_signature
from consents.campaigns import narrowing_versions_unaccepted, notice_message, reconsent_notice_accept
from consents.choices import ChangeKind
from consents.models import PolicyVersion
from consents.selectors import audience, may_process
from tests.clock import frozen
from tests.consents.ledger_helpers import aware, born, initial_version, record, verified_guardian
from tests.factories import MemberFactory

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


def version(label: str, kinds, *, published_at: datetime.datetime, effective_at: datetime.datetime) -> PolicyVersion:
    return PolicyVersion.objects.create(version=label, text=f"Policy {label}", summary="What changed.",
                                        change_kinds=list(kinds), published_at=published_at, effective_at=effective_at)


@pytest.fixture
def narrowing():
    """Published ten days ago, in effect since three days ago."""
    now = timezone.now()
    return version("2026.1", [ChangeKind.NARROWS_RIGHT, ChangeKind.RIGHTS], published_at=now - 10 * DAY,
                   effective_at=now - 3 * DAY)


@pytest.fixture
def granted():
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, at=timezone.now() - 30 * DAY)
    return member


def test_pp40_before_acceptance_additional_purposes_are_refused_from_the_effective_date(granted, narrowing):
    refused = may_process(member=granted, purpose=SMS)
    assert (refused.allowed, refused.code) == (False, "not_accepted")
    assert "PP-40" in refused.reason and "2026.1" in refused.reason
    assert timezone.localdate(narrowing.effective_at).isoformat() in refused.reason
    # Published but not yet in effect: the earlier terms still govern.
    assert may_process(member=granted, purpose=SMS, at=narrowing.effective_at - DAY).allowed
    assert may_process(member=granted, purpose=SMS, at=narrowing.effective_at).code == "not_accepted"


def test_pp40_basic_purposes_go_on_while_the_acceptance_is_missing(granted, narrowing):
    decision = may_process(member=granted, purpose="transactions")
    assert (decision.allowed, decision.code) == (True, "basic")


def test_pp40_after_acceptance_processing_is_allowed_again_and_history_stays_exact(granted, narrowing):
    accepted_at = timezone.now() - DAY
    assert reconsent_notice_accept(version=narrowing, member=granted, at=accepted_at)
    assert may_process(member=granted, purpose=SMS).allowed
    assert may_process(member=granted, purpose=SMS, at=accepted_at - datetime.timedelta(hours=1)).code == "not_accepted"
    assert may_process(member=granted, purpose=SMS, at=accepted_at).allowed


def test_pp40_acceptance_delivered_by_the_app_lifts_the_refusal(client, granted, narrowing):
    assert not may_process(member=granted, purpose=SMS).allowed
    raw = json.dumps({"events": [{
        "id": "accept-2026-1", "type": "accepted", "member": granted.member_number, "policy_version": "2026.1",
        "occurred_at": (timezone.now() - datetime.timedelta(minutes=5)).isoformat(),
    }]}).encode()
    signed_at = str(int(time.time()))
    response = client.post(
        "/consents/api/events/", data=raw, content_type="application/json",
        headers={"X-Timestamp": signed_at,
                 "X-Signature": site_signature(secret=settings.MEMBER_SITE_SECRET, timestamp=signed_at, body=raw)},
    )
    assert response.json() == {"results": [{"index": 0, "id": "accept-2026-1", "result": "recorded"}]}
    assert may_process(member=granted, purpose=SMS).allowed


def test_pp40_a_member_who_signed_up_under_the_version_has_accepted_it(narrowing):
    newcomer = MemberFactory(registered_at=narrowing.published_at + datetime.timedelta(hours=1))
    record(newcomer, SMS, at=timezone.now() - DAY)
    assert may_process(member=newcomer, purpose=SMS).allowed


def test_pp40_a_major_version_that_does_not_narrow_a_right_is_not_a_condition_for_processing(granted):
    now = timezone.now()
    version("2026.2", [ChangeKind.RIGHTS, ChangeKind.CONTACT], published_at=now - 10 * DAY, effective_at=now - DAY)
    assert may_process(member=granted, purpose=SMS).allowed


def test_pp40_every_narrowing_version_in_effect_needs_its_own_acceptance(granted, narrowing):
    now = timezone.now()
    second = version("2026.3", [ChangeKind.NARROWS_RIGHT], published_at=now - 2 * DAY, effective_at=now - DAY)
    reconsent_notice_accept(version=second, member=granted, at=now - DAY)
    assert "2026.1" in may_process(member=granted, purpose=SMS).reason  # the earlier one is still open
    reconsent_notice_accept(version=narrowing, member=granted, at=now - DAY)
    assert may_process(member=granted, purpose=SMS).allowed


def test_pp40_an_unpublished_narrowing_draft_changes_nothing(granted):
    PolicyVersion.objects.create(version="draft", text="t", change_kinds=[ChangeKind.NARROWS_RIGHT])
    assert may_process(member=granted, purpose=SMS).allowed


def test_pp40_the_kind_is_matched_exactly_in_the_json_list(granted):
    now = timezone.now()
    other = version("2026.4", [ChangeKind.RIGHTS], published_at=now - 2 * DAY, effective_at=now - DAY)
    narrowing = version("2026.5", [ChangeKind.HIGH_RISK, ChangeKind.NARROWS_RIGHT], published_at=now - 2 * DAY,
                        effective_at=now - DAY)
    pending = narrowing_versions_unaccepted(member=granted.pk, registered_at=granted.registered_at, at=now)
    assert list(pending) == [narrowing]
    assert other not in pending


# --- The audience agrees ---------------------------------------------------------------------------------
def _population(narrowing: PolicyVersion) -> tuple[list, set]:
    now = timezone.now()
    today = timezone.localdate()
    earlier = now - 30 * DAY

    def granted_member(**kwargs):
        member = MemberFactory(registered_at=kwargs.pop("registered_at", OLD), **kwargs)
        record(member, SMS, at=earlier if member.registered_at < earlier else now - DAY / 2)
        return member

    not_accepted = granted_member()
    accepted = granted_member()
    reconsent_notice_accept(version=narrowing, member=accepted, at=now - DAY)
    accepted_today_later = granted_member()  # accepted, but after the moment asked about below
    reconsent_notice_accept(version=narrowing, member=accepted_today_later, at=now + datetime.timedelta(seconds=30))
    newcomer = granted_member(registered_at=narrowing.published_at + DAY)
    minor_accepted = granted_member(date_of_birth=born(16, today))
    record(minor_accepted, SMS, at=earlier, guardian=verified_guardian(minor_accepted))
    reconsent_notice_accept(version=narrowing, member=minor_accepted, at=now - DAY)
    minor_not_accepted = granted_member(date_of_birth=born(16, today))
    record(minor_not_accepted, SMS, at=earlier, guardian=verified_guardian(minor_not_accepted))
    everyone = [not_accepted, accepted, accepted_today_later, newcomer, minor_accepted, minor_not_accepted]
    return everyone, {accepted, newcomer, minor_accepted}


def test_pp40_the_audience_leaves_out_members_who_have_not_accepted_and_agrees_with_may_process(narrowing):
    everyone, expected = _population(narrowing)
    at = timezone.now()
    assert set(audience(purpose=SMS)) == expected
    assert set(audience(purpose=SMS, at=at)) == expected
    for member in everyone:
        assert may_process(member=member, purpose=SMS, at=at).allowed == (member in expected), member.member_number
    # Before the version took effect nobody was held back by it.
    before = narrowing.effective_at - DAY
    past = set(audience(purpose=SMS, at=before))
    for member in everyone:
        assert may_process(member=member, purpose=SMS, at=before).allowed == (member in past), member.member_number
    not_accepted, minor_not_accepted = everyone[0], everyone[5]
    assert {not_accepted, minor_not_accepted} <= past
    # The basic purposes' audience is everyone active, accepted or not.
    assert set(everyone) <= set(audience(purpose="transactions"))


@pytest.mark.parametrize("at", [None, "past"])
def test_pp40_the_audience_still_runs_a_constant_number_of_queries(narrowing, at):
    counts = []
    accepted = 0
    for size in (5, 50):
        for index in range(size):
            member = MemberFactory(registered_at=OLD)
            record(member, SMS, at=timezone.now() - 5 * DAY)
            if index % 2:
                reconsent_notice_accept(version=narrowing, member=member, at=timezone.now() - DAY)
                accepted += 1
        moment = None if at is None else timezone.now()
        with CaptureQueriesContext(connection) as queries:
            members = list(audience(purpose=SMS, at=moment))
        counts.append(len(queries))
        assert len(members) == accepted  # only those who accepted
    assert counts[0] == counts[1] <= 3


def test_pp40_may_process_asks_one_more_query_at_most(granted, narrowing, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # purpose, ground (PP-17), ledger, PP-40 (now: no status history)
        assert may_process(member=granted, purpose=SMS).code == "not_accepted"
    with django_assert_max_num_queries(5):  # … and the account status at that time
        assert may_process(member=granted, purpose=SMS, at=timezone.now()).code == "not_accepted"


# --- The notice says what non-acceptance means -----------------------------------------------------------
def test_pp40_the_notice_of_a_narrowing_version_says_optional_processing_pauses_until_accepted(narrowing):
    body = notice_message(version=narrowing, member_number="M1", email="m@mail.example", connection=None).body
    assert "narrows one of your rights" in body and "pause the optional processing" in body
    assert "nothing that needs your consent changes" not in body
    other = version("2026.6", [ChangeKind.CONTACT], published_at=timezone.now(), effective_at=timezone.now())
    body = notice_message(version=other, member_number="M1", email="m@mail.example", connection=None).body
    assert "nothing that needs your consent changes" in body and "narrows" not in body
