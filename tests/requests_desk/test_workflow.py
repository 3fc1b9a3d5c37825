"""Design decision 4: one state machine, roles per transition, the identity gate (PP-30), four eyes."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from consents.models import LegalGround
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
from requests_desk.models import IdentityCheck, Request, Transition
from requests_desk.states import Status
from requests_desk.workflow import TRANSITIONS, TransitionError, allowed_transitions, due_date_for, transition

pytestmark = pytest.mark.django_db


def make_request(type_=RequestType.ENQUIRY, **kwargs) -> Request:
    now = timezone.now()
    return Request.objects.create(
        type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
        received_at=now, due_at=due_date_for(now), **kwargs,
    )


def verify(request, user):
    IdentityCheck.objects.create(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                 evidence="passport matched", verified_by=user)


def test_pp34_due_date_is_fifteen_days_after_receipt(settings):
    received = timezone.now()
    assert due_date_for(received) - received == datetime.timedelta(days=15)
    settings.REQUEST_DUE_DAYS = 10
    assert due_date_for(received) - received == datetime.timedelta(days=10)


def test_every_transition_is_recorded_with_actor_and_time(agent):
    request = make_request()
    transition(request=request, name="start", user=agent)
    record = Transition.objects.get(request=request)
    assert (record.from_status, record.to_status, record.actor) == (Status.NEW, Status.IN_PROGRESS, agent)
    assert request.history.count() >= 2


def test_illegal_transition_is_a_clear_error(agent):
    request = make_request()
    with pytest.raises(TransitionError, match="Cannot close: the request is new"):
        transition(request=request, name="close", user=agent)
    request.refresh_from_db()
    assert request.status == Status.NEW
    assert not Transition.objects.exists()


def test_pp30_nothing_is_fulfilled_before_identity_is_verified(agent, compliance_officer):
    request = make_request(RequestType.DISPUTE)
    transition(request=request, name="start", user=agent)
    with pytest.raises(TransitionError, match="identity has not been verified"):
        transition(request=request, name="fulfil", user=compliance_officer)
    verify(request, agent)
    assert transition(request=request, name="fulfil", user=compliance_officer).status == Status.FULFILLED


def test_agent_may_not_fulfil_or_refuse(agent):
    request = make_request()
    transition(request=request, name="start", user=agent)
    with pytest.raises(PermissionDenied):
        transition(request=request, name="fulfil", user=agent)
    assert "fulfil" not in {spec.name for spec in allowed_transitions(request, agent)}


def test_auditor_may_make_no_transition(auditor):
    request = make_request()
    assert allowed_transitions(request, auditor) == []
    with pytest.raises(PermissionDenied):
        transition(request=request, name="start", user=auditor)


def test_four_eyes_deletion_needs_a_supervisor_who_did_not_prepare_it(compliance_officer, supervisor, agent):
    request = make_request(RequestType.DELETION)
    transition(request=request, name="start", user=agent)
    verify(request, agent)
    with pytest.raises(TransitionError, match="only after approval"):
        transition(request=request, name="fulfil", user=supervisor)
    transition(request=request, name="submit_for_approval", user=supervisor)
    with pytest.raises(TransitionError, match="Four eyes"):
        transition(request=request, name="fulfil", user=supervisor)
    with pytest.raises(PermissionDenied, match="supervisor"):
        transition(request=request, name="fulfil", user=compliance_officer)
    request = transition(request=request, name="send_back", user=compliance_officer, note="needs a look")
    transition(request=request, name="submit_for_approval", user=agent)
    done = transition(request=request, name="fulfil", user=supervisor)
    assert (done.status, done.prepared_by, done.approved_by) == (Status.FULFILLED, agent, supervisor)


def test_pp35_refusal_needs_grounds_from_section_v(compliance_officer, agent):
    request = make_request(RequestType.ACCESS)
    transition(request=request, name="start", user=agent)
    with pytest.raises(TransitionError):
        transition(request=request, name="refuse", user=compliance_officer, grounds=[])
    consent_ground = LegalGround.objects.get(code="consent-contract")
    with pytest.raises(TransitionError, match="V\\(IV\\)"):
        transition(request=request, name="refuse", user=compliance_officer, grounds=[consent_ground])
    ground = LegalGround.objects.get(code="reject-unprovoked-duplicate")
    refused = transition(request=request, name="refuse", user=compliance_officer, grounds=[ground], note="dup")
    assert refused.status == Status.REFUSED
    assert list(refused.refusal_grounds.all()) == [ground]


def test_pp34_extension_is_a_transition_with_a_reason_and_a_later_date(compliance_officer):
    request = make_request()
    later = request.due_at + datetime.timedelta(days=10)
    with pytest.raises(TransitionError):
        transition(request=request, name="extend", user=compliance_officer, due_at=later)
    with pytest.raises(TransitionError):
        transition(request=request, name="extend", user=compliance_officer, note="x", due_at=request.due_at)
    extended = transition(request=request, name="extend", user=compliance_officer, note="complex", due_at=later)
    assert (extended.status, extended.due_at) == (Status.NEW, later)


def test_every_declared_transition_targets_a_state_and_starts_from_known_states():
    for spec in TRANSITIONS.values():
        assert spec.sources <= set(Status.values)
        assert spec.target is None or spec.target in Status.values
