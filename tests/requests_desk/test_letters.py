"""Outbound letters (issue 6, requirements 4, 6 and 7): rendered from templates with the official
addresses (PP-41), refusal grounds stated (PP-35/36), extensions told (PP-34), every one kept (PP-14)."""

import datetime

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse

from consents.models import LegalGround
from requests_desk import letters, lifecycle, workflow
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType
from requests_desk.models import Message, Request
from requests_desk.states import Status

pytestmark = pytest.mark.django_db


def create(type_=RequestType.ACCESS, email="requester@mail.example", **kwargs) -> Request:
    return lifecycle.request_create(type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
                                    requester_name="Li Lei", requester_email=email, **kwargs)


@pytest.mark.parametrize("template", ["acknowledgement", "verification_request", "fulfilment", "extension"])
def test_pp41_every_letter_names_the_reference_and_the_official_addresses(settings, template):
    settings.OFFICIAL_REQUESTS_EMAIL = "dpo@official.example"
    settings.OFFICIAL_COMPLAINTS_EMAIL = "complaints@official.example"
    request = create()
    rendered = letters.letter_render(request=request, template=template, note="extra words")
    assert request.reference in rendered.subject
    assert request.reference in rendered.text
    assert "dpo@official.example" in rendered.text
    assert "Dear Li Lei" in rendered.text
    assert "extra words" in rendered.text
    assert "complaints@official.example" in rendered.text


def test_pp34_acknowledgement_states_the_due_date():
    request = create()
    text = letters.letter_render(request=request, template="acknowledgement").text
    assert f"{request.due_at:%Y-%m-%d}" in text
    assert "within 15 days" in text


def test_pp14_a_sent_letter_is_kept_as_an_outbound_message_encrypted_at_rest(agent, settings):
    request = create()
    message = letters.letter_send(request=request, template="verification_request", user=agent)
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["requester@mail.example"]
    assert sent.reply_to == [settings.OFFICIAL_REQUESTS_EMAIL]
    assert sent.extra_headers["Message-ID"] == message.source_message_id
    message.refresh_from_db()
    assert (message.direction, message.channel, message.template, message.sender) == (
        MessageDirection.OUTBOUND, IntakeChannel.EMAIL, "verification_request", agent)
    assert message.body == sent.body
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM requests_desk_message WHERE id = %s", [message.pk])
        assert "Li Lei" not in cursor.fetchone()[0]


def test_a_failed_send_records_no_message(agent, monkeypatch):
    request = create()

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with pytest.raises(ConnectionRefusedError):
        letters.letter_send(request=request, template="verification_request", user=agent)
    assert not Message.objects.exists()


def test_without_an_email_address_the_letter_is_kept_for_posting(agent):
    request = create(email="")
    message = letters.letter_send(request=request, template="acknowledgement", user=agent)
    assert message.channel == IntakeChannel.LETTER
    assert mail.outbox == []


def test_pp35_pp36_refusal_letter_states_each_ground_with_wording_and_section(agent, compliance_officer):
    request = create()
    workflow.transition(request=request, name="start", user=agent)
    with pytest.raises(ValidationError, match="refuse with grounds first"):
        letters.letter_render(request=request, template="refusal")
    grounds = list(LegalGround.objects.filter(code__in=["reject-unprovoked-duplicate"]))
    grounds += list(LegalGround.objects.filter(use="cannot_respond")[:1])
    assert len(grounds) == 2
    refused = lifecycle.request_refuse(request=request, user=compliance_officer, grounds=grounds, note="see below")
    assert refused.status == Status.REFUSED
    assert len(mail.outbox) == 1
    body = mail.outbox[0].body
    for ground in grounds:
        assert ground.wording in body
        assert f"section {ground.section}" in body
    assert Message.objects.get(request=request).template == "refusal"


def test_pp34_extension_sets_the_new_date_and_tells_the_requester(compliance_officer):
    request = create()
    later = request.due_at + datetime.timedelta(days=15)
    extended = lifecycle.request_extend(request=request, user=compliance_officer, due_at=later,
                                        reason="The request covers ten years of records.")
    assert extended.due_at == later
    assert len(mail.outbox) == 1
    assert f"{later:%Y-%m-%d}" in mail.outbox[0].body
    assert "ten years of records" in mail.outbox[0].body
    assert extended.transitions.get().name == "extend"


def test_pp34_extension_is_not_recorded_when_the_letter_cannot_be_sent(compliance_officer, monkeypatch):
    request = create()
    original_due = request.due_at
    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send",
                        lambda *a, **k: (_ for _ in ()).throw(ConnectionRefusedError("down")))
    with pytest.raises(ConnectionRefusedError):
        lifecycle.request_extend(request=request, user=compliance_officer,
                                 due_at=original_due + datetime.timedelta(days=5), reason="complex request")
    request.refresh_from_db()
    assert request.due_at == original_due
    assert not request.transitions.exists()


def test_reply_form_on_the_request_page_sends_the_chosen_letter(client, compliance_officer):
    # Compliance: additional text before the identity check is theirs only (PP-14, test_identity_letters.py).
    request = create()
    client.force_login(compliance_officer)
    response = client.post(reverse("requests_desk:reply", args=[request.reference]),
                           {"template": "verification_request", "note": "Please send a copy of your ID card."},
                           follow=True)
    assert b"e-mailed" in response.content
    assert "Please send a copy of your ID card." in mail.outbox[0].body
    # The letter shows in the timeline.
    assert b"verification_request" in response.content


def test_extend_and_refuse_through_the_request_page(client, agent, compliance_officer):
    request = create()
    workflow.transition(request=request, name="start", user=agent)
    client.force_login(compliance_officer)
    new_due = (request.due_at + datetime.timedelta(days=10)).date()
    client.post(reverse("requests_desk:request_transition", args=[request.reference, "extend"]),
                {"extend-due_on": new_due.isoformat(), "extend-note": "needs archive search", "extend-notify": "on"})
    request.refresh_from_db()
    assert request.due_at.date() == new_due
    ground = LegalGround.objects.get(code="reject-unprovoked-duplicate")
    response = client.post(reverse("requests_desk:request_transition", args=[request.reference, "refuse"]),
                           {"refuse-note": "", "refuse-notify": "on"}, follow=True)
    assert b"Grounds" in response.content or b"grounds" in response.content
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS
    client.post(reverse("requests_desk:request_transition", args=[request.reference, "refuse"]),
                {"refuse-grounds": [ground.pk], "refuse-note": "", "refuse-notify": "on"})
    assert Request.objects.get(pk=request.pk).status == Status.REFUSED
    assert [m.template for m in Message.objects.filter(request=request).order_by("at")] == ["extension", "refusal"]
    assert ground.wording in mail.outbox[-1].body
