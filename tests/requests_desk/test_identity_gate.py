"""The identity verification gate (PP-30) and guardians' and agents' authority (PP-15), through the
services and through the queue's pages."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
from requests_desk.models import IdentityCheck, Message, Request
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def create(type_=RequestType.DISPUTE, *, requester_kind=RequesterKind.MEMBER, member=True) -> Request:
    return lifecycle.request_create(
        type=type_, requester_kind=requester_kind, channel=IntakeChannel.WEB,
        member=MemberFactory() if member is True else member or None,
    )


def started(agent, **kwargs) -> Request:
    request = create(**kwargs)
    return workflow.transition(request=request, name="start", user=agent)


def test_pp30_fulfilment_without_a_recorded_check_is_refused_with_the_reason(agent, compliance_officer):
    request = started(agent)
    with pytest.raises(workflow.TransitionError, match="identity has not been verified"):
        workflow.transition(request=request, name="fulfil", user=compliance_officer)
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS
    lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                    evidence="passport matched the account", user=agent)
    assert workflow.transition(request=request, name="fulfil", user=compliance_officer).status == Status.FULFILLED


def test_pp30_check_records_method_evidence_who_and_when(agent):
    request = started(agent)
    before = timezone.now()
    check = lifecycle.identity_check_record(request=request, method=VerificationMethod.KNOWLEDGE_CHECK,
                                            evidence="answered three account questions", user=agent)
    check.refresh_from_db()
    assert (check.method, check.evidence, check.verified_by) == (
        VerificationMethod.KNOWLEDGE_CHECK, "answered three account questions", agent)
    assert check.verified_at >= before


def test_pp30_the_member_must_be_identified_before_the_requester_is_verified(agent):
    request = started(agent, member=None)
    with pytest.raises(ValidationError, match="Identify the member first"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                        evidence="passport matched", user=agent)
    assert not IdentityCheck.objects.exists()


def test_pp30_evidence_is_required_and_roles_are_checked(agent, auditor):
    request = started(agent)
    with pytest.raises(ValidationError, match="evidence"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH, evidence=" ",
                                        user=agent)
    with pytest.raises(PermissionDenied):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                        evidence="passport matched", user=auditor)


@pytest.mark.parametrize("kind", [RequesterKind.GUARDIAN, RequesterKind.AGENT])
def test_pp15_guardian_or_agent_check_needs_authority_evidence(agent, compliance_officer, kind):
    child = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=365 * 12))
    request = started(agent, requester_kind=kind, member=child)
    with pytest.raises(ValidationError, match="authority to act"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                        evidence="requester's own ID card matched", user=agent)
    assert not IdentityCheck.objects.exists()
    with pytest.raises(workflow.TransitionError, match="identity has not been verified"):
        workflow.transition(request=request, name="fulfil", user=compliance_officer)
    lifecycle.identity_check_record(
        request=request, method=VerificationMethod.GUARDIAN_PROOF if kind == RequesterKind.GUARDIAN
        else VerificationMethod.AGENT_AUTHORITY,
        evidence="requester's own ID card matched", authority_evidence="birth certificate / signed mandate", user=agent,
    )
    assert workflow.transition(request=request, name="fulfil", user=compliance_officer).status == Status.FULFILLED


def test_pp15_a_guardian_cannot_act_for_an_adult_member(agent):
    adult = MemberFactory(date_of_birth=datetime.date(1980, 1, 1))
    request = started(agent, requester_kind=RequesterKind.GUARDIAN, member=adult)
    with pytest.raises(ValidationError, match="adult"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.GUARDIAN_PROOF,
                                        evidence="parent's ID card matched", authority_evidence="birth certificate",
                                        user=agent)


def test_pp15_a_third_party_reporter_does_not_open_the_gate(agent):
    request = create(RequestType.UNDERAGE_REPORT, requester_kind=RequesterKind.THIRD_PARTY)
    with pytest.raises(ValidationError, match="third-party"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                        evidence="reporter's ID card", user=agent)


def test_pp30_closed_requests_take_no_new_checks(agent):
    request = create()
    workflow.transition(request=request, name="close_duplicate", user=agent, note="duplicate of another")
    with pytest.raises(ValidationError, match="closed"):
        lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                        evidence="passport matched", user=agent)


def test_pp30_through_the_pages_fulfil_without_a_check_is_refused_with_the_reason(client, agent,
                                                                                 compliance_officer):
    request = started(agent)
    client.force_login(compliance_officer)
    url = reverse("requests_desk:request_transition", args=[request.reference, "fulfil"])
    response = client.post(url, {"fulfil-note": ""}, follow=True)
    assert response.status_code == 200
    assert b"identity has not been verified" in response.content
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS
    detail = client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    assert b"cannot be fulfilled until a verification is recorded" in detail.content

    client.force_login(agent)
    client.post(reverse("requests_desk:identity_check", args=[request.reference]),
                {"method": VerificationMethod.DOCUMENT_MATCH, "evidence": "passport matched the account"})
    assert IdentityCheck.objects.filter(request=request, verified_by=agent).count() == 1
    client.force_login(compliance_officer)
    response = client.post(url, {"fulfil-note": "Resolved in your favour.", "fulfil-notify": "on"}, follow=True)
    assert b"Fulfil: done" in response.content
    assert Request.objects.get(pk=request.pk).status == Status.FULFILLED
    # The page fulfils through the type's fulfilment, which replies with the fulfilment letter.
    assert "Resolved in your favour." in Message.objects.get(request=request, template="fulfilment").body


def test_pp15_through_the_pages_a_guardian_check_without_authority_is_refused(client, agent):
    child = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=365 * 10))
    request = started(agent, requester_kind=RequesterKind.GUARDIAN, member=child)
    client.force_login(agent)
    response = client.post(reverse("requests_desk:identity_check", args=[request.reference]),
                           {"method": VerificationMethod.GUARDIAN_PROOF, "evidence": "mother's ID card matched"},
                           follow=True)
    assert b"authority to act for the member (PP-15)" in response.content
    assert not IdentityCheck.objects.exists()


def test_pp30_a_verification_does_not_carry_over_to_another_member(agent):
    request = started(agent)
    lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                    evidence="passport matched the account", user=agent)
    with pytest.raises(ValidationError, match="already verified against another member"):
        lifecycle.request_member_identify(request=request, member=MemberFactory(), user=agent)
