"""PP-14: before the requester's identity is verified, letters cannot discuss the account.

``letters.letter_identity_gate``: until an identity check is recorded, agents send only the
acknowledgement and the verification request, without additional text; compliance may add text
and send the refusal and extension letters that go with their decisions (PP-34, PP-36).
"""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from consents.models import LegalGround
from requests_desk import letters, lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, Severity, VerificationMethod
from requests_desk.models import Message, Request
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

NOTE = "Your last deposit of 3,000 USD arrived on 2 March."


def create(type_=RequestType.ACCESS, *, member=True, requester_kind=RequesterKind.MEMBER, **kwargs) -> Request:
    return lifecycle.request_create(
        type=type_, requester_kind=requester_kind, channel=IntakeChannel.EMAIL,
        member=MemberFactory() if member is True else None, requester_email="requester@mail.example", **kwargs,
    )


def verify(request: Request, user) -> None:
    lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                    evidence="passport matched the account", user=user)


@pytest.mark.parametrize("template", ["acknowledgement", "verification_request"])
def test_pp14_before_verification_an_agent_may_send_the_acknowledgement_and_the_verification_request(
    agent, template
):
    request = create()
    message = letters.letter_send(request=request, template=template, user=agent)
    assert message.template == template and len(mail.outbox) == 1


@pytest.mark.parametrize("template", ["fulfilment", "extension", "refusal"])
def test_pp14_before_verification_an_agent_may_send_no_other_letter(agent, compliance_officer, template):
    request = create()
    if template == "refusal":  # a refusal letter needs the refusal (by compliance) first
        workflow.transition(request=request, name="start", user=agent)
        lifecycle.request_refuse(request=request, user=compliance_officer, notify=False,
                                 grounds=LegalGround.objects.filter(use="cannot_respond")[:1])
    with pytest.raises(ValidationError, match="identity is not verified yet") as raised:
        letters.letter_send(request=request, template=template, user=agent)
    assert "template" in raised.value.message_dict
    assert mail.outbox == [] and not Message.objects.exists()


def test_pp14_an_agents_free_text_before_verification_is_refused_with_the_reason(agent):
    request = create()
    with pytest.raises(ValidationError) as raised:
        letters.letter_send(request=request, template="verification_request", user=agent, note=NOTE)
    [reason] = raised.value.message_dict["note"]
    assert "could disclose account data" in reason and "record the verification first" in reason
    assert mail.outbox == [] and not Message.objects.exists()


@pytest.mark.parametrize("role", ["compliance_officer", "supervisor"])
def test_pp14_compliance_may_add_text_before_verification(request, role):
    user = request.getfixturevalue(role)
    item = create()
    letters.letter_send(request=item, template="verification_request", user=user,
                        note="Please send a copy of the identity document you registered with.")
    assert "identity document you registered with" in mail.outbox[0].body


def test_pp14_before_verification_even_compliance_sends_no_fulfilment_of_a_data_request(compliance_officer):
    request = create()
    with pytest.raises(ValidationError, match="only the \u201cAcknowledgement of receipt\u201d"):
        letters.letter_send(request=request, template="fulfilment", user=compliance_officer)
    assert mail.outbox == []


def test_pp14_after_verification_the_agent_may_write_freely(agent):
    request = create()
    verify(request, agent)
    letters.letter_send(request=request, template="fulfilment", user=agent, note=NOTE)
    assert NOTE in mail.outbox[0].body


def test_pp36_compliance_refuses_an_unverified_requester_and_the_refusal_letter_goes_out(
    agent, compliance_officer
):
    request = create()
    workflow.transition(request=request, name="request_identity", user=agent)
    ground = LegalGround.objects.filter(use="cannot_respond").first()

    refused = lifecycle.request_refuse(request=request, user=compliance_officer, grounds=[ground],
                                       note="We could not confirm that you are the account holder.")

    assert refused.status == Status.REFUSED
    assert ground.wording in mail.outbox[0].body


def test_pp34_compliance_extends_before_verification_and_the_extension_letter_goes_out(compliance_officer):
    request = create()
    later = request.due_at + datetime.timedelta(days=10)
    lifecycle.request_extend(request=request, user=compliance_officer, due_at=later,
                             reason="We are waiting for your identity document.")
    assert f"{later:%Y-%m-%d}" in mail.outbox[0].body


def test_pp14_the_system_acknowledgement_at_intake_still_goes_out():
    create(acknowledge=True)
    assert len(mail.outbox) == 1


def test_pp14_the_gate_covers_an_enquiry_about_a_known_account(agent, compliance_officer):
    enquiry = create(RequestType.ENQUIRY)
    with pytest.raises(ValidationError, match="additional text could disclose"):
        letters.letter_send(request=enquiry, template="acknowledgement", user=agent, note=NOTE)
    with pytest.raises(ValidationError, match="only the"):
        letters.letter_send(request=enquiry, template="fulfilment", user=agent)
    # Compliance fulfil enquiries without a verification (workflow): their answer goes out.
    letters.letter_send(request=enquiry, template="fulfilment", user=compliance_officer, note="General answer.")
    assert len(mail.outbox) == 1


def test_pp14_the_gate_does_not_hold_letters_that_cannot_concern_an_account(agent):
    # An enquiry from someone not (yet) linked to any member, and a third party's report.
    anonymous = create(RequestType.ENQUIRY, member=False)
    reporter = create(RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY, severity=Severity.LOW)
    for request in (anonymous, reporter):
        assert not letters.identity_gate_applies(request)
        letters.letter_send(request=request, template="fulfilment", user=agent, note="Thank you for writing.")
    assert len(mail.outbox) == 2


def test_pp14_the_reply_form_refuses_the_agents_text_and_says_why(client, agent):
    request = create()
    client.force_login(agent)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    assert b"Identity not verified yet: only the acknowledgement" in page.content

    response = client.post(reverse("requests_desk:reply", args=[request.reference]),
                           {"template": "verification_request", "note": NOTE}, follow=True)

    notices = [str(m) for m in response.context["messages"]]
    assert any("could disclose account data" in n for n in notices)
    assert mail.outbox == [] and not Message.objects.exists()
    assert NOTE.encode() not in response.content


def test_pp14_once_verified_the_page_no_longer_warns(client, agent):
    request = create()
    verify(request, agent)
    client.force_login(agent)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    assert b"Identity not verified yet" not in page.content
