"""The consent ledger (issue 4, requirement 4; PP-05, PP-32, design decision 3)."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import MemberStatus
from consents import ledger
from consents.choices import ActorKind, Channel, ConsentAction
from consents.drift import consent_state_drift
from consents.ledger import consent_record, consent_record_many
from consents.models import ConsentEvent, ConsentState, Purpose
from consents.selectors import may_process
from tests.consents.ledger_helpers import aware, born, initial_version, record, verified_guardian, version_publish
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = aware(2025, 3, 1, 9)
OLD = aware(2020, 1, 1)


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


def state_of(member, code):
    return ConsentState.objects.get(member=member, purpose__code=code)


def event_for(member, code="marketing-sms", action=ConsentAction.GRANT, at=T0, version=None, **kwargs):
    kwargs.setdefault("actor_kind", ActorKind.MEMBER)
    return ConsentEvent(
        member_id=member.pk, purpose_id=Purpose.objects.get(code=code).pk, action=action,
        policy_version_id=(version or initial_version()).pk, channel=Channel.WEB, occurred_at=at, **kwargs,
    )


def test_pp05_a_grant_writes_one_event_and_the_members_state(v1):
    member = MemberFactory(registered_at=OLD)
    event = record(member, "marketing-sms", at=T0)
    assert list(ConsentEvent.objects.filter(member=member)) == [event]
    state = state_of(member, "marketing-sms")
    assert (state.granted, state.by_guardian, state.policy_version, state.last_event, state.changed_at) == (
        True, False, v1, event, T0
    )


def test_pp05_event_and_state_are_one_transaction(monkeypatch):
    member = MemberFactory(registered_at=OLD)

    def broken_rebuild(**kwargs):
        raise RuntimeError("state table unavailable")

    monkeypatch.setattr(ledger, "_states_rebuild", broken_rebuild)
    with pytest.raises(RuntimeError):
        record(member, "marketing-sms", at=T0)
    assert not ConsentEvent.objects.filter(member=member).exists()  # the event went with the failed state


def test_pp32_a_withdrawal_takes_effect_from_its_time_and_the_grant_stays():
    member = MemberFactory(registered_at=OLD)
    grant = record(member, "marketing-sms", at=T0)
    withdrawal = record(member, "marketing-sms", ConsentAction.WITHDRAW, at=T0 + datetime.timedelta(days=30))
    assert set(ConsentEvent.objects.filter(member=member)) == {grant, withdrawal}
    state = state_of(member, "marketing-sms")
    assert not state.granted and state.last_event == withdrawal
    assert may_process(member=member, purpose="marketing-sms", at=T0 + datetime.timedelta(days=29)).allowed
    assert not may_process(member=member, purpose="marketing-sms", at=T0 + datetime.timedelta(days=30)).allowed


def test_pp32_a_backdated_event_is_placed_by_its_time_not_by_when_it_was_entered():
    member = MemberFactory(registered_at=OLD)
    record(member, "marketing-sms", ConsentAction.WITHDRAW, at=T0 + datetime.timedelta(days=10))
    record(member, "marketing-sms", at=T0)  # entered later, happened earlier
    assert not state_of(member, "marketing-sms").granted


def test_pp05_a_grant_needs_a_published_policy_version():
    member = MemberFactory(registered_at=OLD)
    draft = version_publish("2025.2-draft", None)
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=T0, version=draft)
    assert "published" in error.value.message_dict["policy_version"][0]
    assert not ConsentEvent.objects.exists()


def test_pp05_a_version_published_after_the_event_cannot_cover_it():
    member = MemberFactory(registered_at=OLD)
    later = version_publish("2025.6", aware(2025, 6, 1))
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=T0, version=later)
    assert "not yet published" in error.value.message_dict["policy_version"][0]


def test_pp05_a_grant_under_a_version_older_than_the_purpose_is_refused(v1):
    member = MemberFactory(registered_at=OLD)
    v2 = version_publish("2025.1", aware(2025, 1, 1))
    Purpose.objects.filter(code="profiling-push").update(introduced_in=v2)
    with pytest.raises(ValidationError) as error:
        record(member, "profiling-push", at=T0, version=v1)
    assert "introduced in policy version 2025.1" in error.value.message_dict["policy_version"][0]
    record(member, "profiling-push", at=T0, version=v2)
    assert state_of(member, "profiling-push").granted


def test_pp05_a_purpose_whose_version_is_unpublished_cannot_be_granted(v1):
    member = MemberFactory(registered_at=OLD)
    Purpose.objects.filter(code="research-deidentified").update(introduced_in=version_publish("2026.9", None))
    with pytest.raises(ValidationError) as error:
        record(member, "research-deidentified", at=T0, version=v1)
    assert "not published yet" in error.value.message_dict["purpose"][0]


def test_pp03_a_child_can_grant_nothing_but_may_withdraw():
    child = MemberFactory(registered_at=OLD, date_of_birth=born(14, T0.date(), days_later=1))
    with pytest.raises(ValidationError) as error:
        record(child, "marketing-sms", at=T0)
    assert "under 14" in error.value.message_dict["member"][0]
    record(child, "marketing-sms", ConsentAction.WITHDRAW, at=T0)  # withdrawing is always allowed
    assert not state_of(child, "marketing-sms").granted


def test_pp04_a_basic_purpose_is_not_withdrawn_by_consent():
    member = MemberFactory(registered_at=OLD)
    with pytest.raises(ValidationError) as error:
        record(member, "transactions", ConsentAction.WITHDRAW, at=T0)
    assert "cancel the account" in error.value.message_dict["purpose"][0]


def test_an_account_that_is_not_active_cannot_grant():
    member = MemberFactory(registered_at=OLD, status=MemberStatus.CANCELLED)
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=T0)
    assert "not active" in error.value.message_dict["member"][0]


def test_who_acts_is_checked_field_by_field(v1):
    member, other = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    with pytest.raises(ValidationError) as error:
        consent_record(member=member, purpose="marketing-sms", action=ConsentAction.GRANT, policy_version=v1,
                       channel=Channel.STAFF, actor_kind=ActorKind.STAFF, occurred_at=T0)
    assert set(error.value.message_dict) == {"staff_user"}
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=T0, guardian=verified_guardian(other))
    assert error.value.message_dict["guardian"] == ["This guardian is not recorded for this member."]
    with pytest.raises(ValidationError) as error:
        consent_record(member=member, purpose="marketing-sms", action="maybe", policy_version=v1, channel="fax",
                       actor_kind=ActorKind.MEMBER, occurred_at=T0)
    assert set(error.value.message_dict) == {"action", "channel"}


def test_an_event_cannot_be_dated_in_the_future():
    member = MemberFactory(registered_at=OLD)
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=aware(2999, 1, 1))
    assert "future" in error.value.message_dict["occurred_at"][0]


def test_an_event_a_few_seconds_ahead_of_our_clock_is_recorded_as_now():
    member = MemberFactory(registered_at=OLD)
    before = timezone.now()
    event = record(member, "marketing-sms", at=before + datetime.timedelta(seconds=30))
    assert before <= event.occurred_at <= timezone.now()
    assert may_process(member=member, purpose="marketing-sms").allowed  # state and ledger agree at once


def test_errors_name_no_personal_data():
    member = MemberFactory(registered_at=OLD, legal_name="Canary Person", date_of_birth=born(13, T0.date()))
    with pytest.raises(ValidationError) as error:
        record(member, "marketing-sms", at=T0)
    text = str(error.value.message_dict)
    assert "Canary" not in text and str(member.date_of_birth) not in text


# --- The bulk path -------------------------------------------------------------------------------------
def test_bulk_path_records_events_and_states_in_constant_queries_per_chunk():
    counts, reads = [], []
    for size in (5, 50):
        members = [MemberFactory(registered_at=OLD) for _ in range(size)]
        events = [event_for(m, at=T0) for m in members] + [event_for(m, "cookies-analytics", at=T0) for m in members]
        with CaptureQueriesContext(connection) as queries:
            result = consent_record_many(events, chunk_size=1000)
        counts.append(len(queries))
        # SQLite caps a statement at 999 parameters, so Django splits one bulk INSERT in batches there.
        reads.append(sum(1 for q in queries if not q["sql"].startswith("INSERT")))
        assert result["events"] == 2 * size
        assert ConsentState.objects.filter(member__in=members, granted=True).count() == 2 * size
    assert reads[0] == reads[1] <= 8
    if connection.vendor == "postgresql":
        assert counts[0] == counts[1]


def test_bulk_path_validates_every_event_and_writes_nothing_when_one_is_bad():
    adults = [MemberFactory(registered_at=OLD) for _ in range(99)]
    child = MemberFactory(registered_at=OLD, date_of_birth=born(14, T0.date(), days_later=1))
    events = [event_for(m, at=T0) for m in [*adults, child]]
    with pytest.raises(ValidationError) as error:
        consent_record_many(events, chunk_size=30)
    assert error.value.message_dict["events"] == [
        "event 100, member: The member is under 14 on that day: a child can grant nothing (PP-03, PP-37)."
    ]
    assert not ConsentEvent.objects.exists() and not ConsentState.objects.exists()


def test_bulk_path_tells_the_14th_birthday_exactly():
    birthday = T0.date()
    member = MemberFactory(registered_at=OLD, date_of_birth=born(14, birthday))
    with pytest.raises(ValidationError):
        consent_record_many([event_for(member, at=T0 - datetime.timedelta(days=1))])
    consent_record_many([event_for(member, at=T0)])
    assert state_of(member, "marketing-sms").granted


def test_bulk_path_and_single_path_derive_the_same_state():
    one, two = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    guardian_one = verified_guardian(one)
    guardian_two = verified_guardian(two)
    day = datetime.timedelta(days=1)
    record(one, "marketing-sms", at=T0)
    record(one, "marketing-sms", at=T0 + day, guardian=guardian_one)
    record(one, "marketing-sms", ConsentAction.WITHDRAW, at=T0 + 2 * day)
    record(one, "marketing-sms", at=T0 + 3 * day)
    consent_record_many([
        event_for(two, at=T0),
        event_for(two, at=T0 + day, actor_kind=ActorKind.GUARDIAN, guardian_id=guardian_two.pk),
        event_for(two, action=ConsentAction.WITHDRAW, at=T0 + 2 * day),
        event_for(two, at=T0 + 3 * day),
    ], chunk_size=2)
    first, second = state_of(one, "marketing-sms"), state_of(two, "marketing-sms")
    assert (first.granted, first.by_guardian, first.changed_at) == (second.granted, second.by_guardian,
                                                                    second.changed_at) == (True, False, T0 + 3 * day)


# --- verify_consents -------------------------------------------------------------------------------
def test_verify_consents_finds_no_drift_after_the_services():
    for member in [MemberFactory(registered_at=OLD) for _ in range(3)]:
        record(member, "marketing-sms", at=T0)
        record(member, "marketing-sms", ConsentAction.WITHDRAW, at=T0 + datetime.timedelta(hours=1))
    out = StringIO()
    call_command("verify_consents", "--no-progress", stdout=out)
    assert "0 drifting state row(s)" in out.getvalue()
    assert "No drift" in out.getvalue()
    assert consent_state_drift().drift_count == 0


def test_verify_consents_reports_then_fixes_drift_and_dry_run_writes_nothing():
    tampered, lost = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    record(tampered, "marketing-sms", at=T0)
    record(lost, "cookies-analytics", at=T0)
    ConsentState.objects.filter(member=tampered).update(granted=False)  # edited by hand: drift
    ConsentState.objects.filter(member=lost).delete()

    out = StringIO()
    with pytest.raises(CommandError, match="2 consent state row"):
        call_command("verify_consents", "--no-progress", "--chunk-size", "1", stdout=out)
    assert f"{tampered.member_number} marketing-sms: differs: granted" in out.getvalue()
    assert f"{lost.member_number} cookies-analytics: missing" in out.getvalue()

    with pytest.raises(CommandError):
        call_command("verify_consents", "--no-progress", "--fix", "--dry-run", stdout=StringIO())
    assert not state_of(tampered, "marketing-sms").granted  # the dry run wrote nothing

    out = StringIO()
    call_command("verify_consents", "--no-progress", "--fix", stdout=out)
    assert "Fixed 2 state row(s)" in out.getvalue()
    assert state_of(tampered, "marketing-sms").granted and state_of(lost, "cookies-analytics").granted
    assert consent_state_drift().drift_count == 0


def test_verify_consents_reads_in_constant_queries_per_chunk_of_members():
    counts = []
    for size in (4, 40):
        for member in [MemberFactory(registered_at=OLD) for _ in range(size)]:
            record(member, "marketing-sms", at=T0)
        with CaptureQueriesContext(connection) as queries:
            report = consent_state_drift(chunk_size=10_000)
        counts.append(len(queries))
        assert report.drift_count == 0
    assert counts[0] == counts[1]


def test_consent_record_locks_the_member_row_before_deriving_the_state():
    member = MemberFactory(registered_at=OLD)
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        record(member, "marketing-sms", at=T0)
    sql = [q["sql"].upper() for q in queries]
    sqlite = connection.vendor == "sqlite"  # no FOR … clause there
    lock = next(i for i, s in enumerate(sql) if "ACCOUNTS_MEMBER" in s and ("FOR " in s or sqlite))
    insert = next(i for i, s in enumerate(sql) if s.startswith("INSERT INTO") and "CONSENTEVENT" in s)
    assert lock < insert
    if connection.vendor == "postgresql":
        assert "FOR NO KEY UPDATE" in sql[lock]
