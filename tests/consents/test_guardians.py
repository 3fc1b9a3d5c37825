"""Guardians of minor members and their grants (issue 4, requirement 6; PP-38, PP-15)."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from consents.choices import ActorKind, Channel, ConsentAction
from consents.guardians import guardian_add, guardian_consent_record, guardian_verify
from consents.models import ConsentEvent, ConsentState, Guardian
from consents.selectors import may_process
from tests.clock import frozen
from tests.consents.ledger_helpers import born, initial_version, record
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    """Birthdays and hold dates are computed from today, then the code reads the clock again: the
    clock stands at the test's start, so a run across midnight sees one day (tests/clock.py)."""
    with frozen() as traveller:
        yield traveller

SMS = "marketing-sms"


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


@pytest.fixture
def minor():
    return MemberFactory(
        date_of_birth=born(16, timezone.localdate()), registered_at=timezone.now() - datetime.timedelta(days=400)
    )


def test_pp38_a_guardian_is_added_unverified_then_verified_with_evidence_by_whom_and_when(minor, compliance_officer):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="li.hua@mail.example")
    assert guardian.verified_at is None and guardian.verified_by is None
    verified = guardian_verify(guardian=guardian, evidence="Household register seen at the branch",
                               verified_by=compliance_officer)
    stored = Guardian.objects.get(pk=guardian.pk)
    assert stored.verified_by == compliance_officer
    assert stored.verified_at == verified.verified_at is not None
    assert stored.verification_evidence == "Household register seen at the branch"
    assert stored.history.count() == 2  # added, verified: both in the audit history


def test_pp38_verifying_needs_evidence_and_the_permission_and_happens_once(minor, compliance_officer, agent):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="li.hua@mail.example")
    with pytest.raises(PermissionDenied):
        guardian_verify(guardian=guardian, evidence="seen", verified_by=agent)
    with pytest.raises(ValidationError) as error:
        guardian_verify(guardian=guardian, evidence="  ", verified_by=compliance_officer)
    assert "verification_evidence" in error.value.message_dict
    guardian_verify(guardian=guardian, evidence="seen", verified_by=compliance_officer)
    with pytest.raises(ValidationError) as error:
        guardian_verify(guardian=guardian, evidence="seen again", verified_by=compliance_officer)
    assert "already verified" in error.value.message_dict["verified_at"][0]


def test_pp38_guardians_are_for_minors_and_need_a_name_relation_and_contact():
    adult = MemberFactory(date_of_birth=datetime.date(1980, 1, 1))
    with pytest.raises(ValidationError) as error:
        guardian_add(member=adult, name="Li Hua", relation="father", contact="li.hua@mail.example")
    assert "adult" in error.value.message_dict["member"][0]
    minor = MemberFactory(date_of_birth=born(15, timezone.localdate()))
    with pytest.raises(ValidationError) as error:
        guardian_add(member=minor, name="", relation="", contact="")
    assert {"name", "relation", "contact"} <= set(error.value.message_dict)


def test_pp38_guardian_grants_and_withdrawals_are_consent_events_with_the_guardian_as_actor(minor, compliance_officer):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="li.hua@mail.example")
    guardian_verify(guardian=guardian, evidence="seen", verified_by=compliance_officer)
    record(minor, SMS)
    grant = guardian_consent_record(guardian=guardian, purpose=SMS, action=ConsentAction.GRANT,
                                    channel=Channel.EMAIL, evidence="signed form")
    assert (grant.actor_kind, grant.guardian, grant.member) == (ActorKind.GUARDIAN, guardian, minor)
    assert ConsentState.objects.get(member=minor, purpose__code=SMS).by_guardian
    assert may_process(member=minor, purpose=SMS).allowed

    withdrawal = guardian_consent_record(guardian=guardian, purpose=SMS, action=ConsentAction.WITHDRAW,
                                         channel=Channel.EMAIL)
    assert withdrawal.actor_kind == ActorKind.GUARDIAN and withdrawal.guardian == guardian
    assert not may_process(member=minor, purpose=SMS).allowed
    assert ConsentEvent.objects.filter(member=minor, guardian=guardian).count() == 2


def test_pp38_an_unverified_guardian_cannot_grant(minor):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="li.hua@mail.example")
    with pytest.raises(ValidationError) as error:
        guardian_consent_record(guardian=guardian, purpose=SMS, action=ConsentAction.GRANT, channel=Channel.WEB)
    assert "not verified" in error.value.message_dict["guardian"][0]
    assert not ConsentEvent.objects.exists()


def test_pp38_a_guardian_verified_after_the_event_did_not_act_for_it(minor, compliance_officer):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="li.hua@mail.example")
    guardian_verify(guardian=guardian, evidence="seen", verified_by=compliance_officer)
    with pytest.raises(ValidationError):
        guardian_consent_record(guardian=guardian, purpose=SMS, action=ConsentAction.GRANT, channel=Channel.WEB,
                                occurred_at=timezone.now() - datetime.timedelta(days=2))


def test_pp26_the_guardians_contact_is_encrypted_at_rest(minor):
    guardian = guardian_add(member=minor, name="Li Hua", relation="father", contact="canary.parent@mail.example")
    with connection.cursor() as cursor:
        cursor.execute("SELECT contact FROM consents_guardian WHERE id = %s", [guardian.pk])
        (stored,) = cursor.fetchone()
    assert "canary.parent" not in stored
    assert Guardian.objects.get(pk=guardian.pk).contact == "canary.parent@mail.example"
