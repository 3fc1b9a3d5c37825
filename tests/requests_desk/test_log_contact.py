"""PP-14: phone calls, letters and visits about an existing request are kept as inbound messages on it.

"Log inbound contact" on a request's page (``requests_desk.views.log_contact``) calls
``message_log_contact``: the summary is the message body (encrypted), an optional
attachment is encrypted at rest, and the contact shows on the request's timeline.
"""

import datetime
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import SensitiveAccessLog
from requests_desk import lifecycle, workflow
from requests_desk import messages as desk_messages
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType
from requests_desk.messages import IncomingAttachment, message_log_contact
from requests_desk.models import Attachment, Message, Request
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SUMMARY = "Caller Zhao Lei asked whether the copy of his data has been sent; told him it is due by the 20th."


def create(**kwargs) -> Request:
    return lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                    channel=IntakeChannel.EMAIL, member=MemberFactory(), **kwargs)


def post_contact(client, request: Request, **data):
    fields = {"contact-channel": "phone", "contact-summary": SUMMARY, "contact-received_at": ""}
    fields.update({f"contact-{key}": value for key, value in data.items()})
    return client.post(reverse("requests_desk:log_contact", args=[request.reference]), fields, follow=True)


@pytest.mark.parametrize("role", ["agent", "compliance_officer", "supervisor"])
def test_pp14_a_phone_call_is_logged_as_an_inbound_message_and_shows_on_the_timeline(client, request, role):
    user = request.getfixturevalue(role)
    item = create()
    client.force_login(user)

    response = post_contact(client, item)

    assert "Phone logged on the timeline (PP-14)." in [str(m) for m in response.context["messages"]]
    message = Message.objects.get(request=item)
    assert (message.direction, message.channel, message.sender, message.subject) == (
        MessageDirection.INBOUND, IntakeChannel.PHONE, user, "Phone call")
    assert message.body == SUMMARY
    html = response.content.decode()
    timeline = html[html.index('<section class="timeline">'):]
    assert "Received (phone)" in timeline and "logged by" in timeline and SUMMARY in timeline


def test_pp14_the_summary_is_encrypted_at_rest(agent):
    item = create()
    message = message_log_contact(request=item, channel=IntakeChannel.PHONE, summary=SUMMARY, user=agent)
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM requests_desk_message WHERE id = %s", [message.pk])
        stored = cursor.fetchone()[0]
    assert "Zhao Lei" not in stored and "copy of his data" not in stored


def test_pp14_a_scanned_letter_is_stored_encrypted_and_downloads_with_a_logged_access(client, agent, settings):
    item = create()
    content = b"%PDF-1.4 canary-scanned-letter-bytes"
    client.force_login(agent)

    post_contact(client, item, channel="letter", summary="Signed letter asking for a paper copy of the data.",
                 attachment=SimpleUploadedFile("zhao-lei-letter.pdf", content, content_type="application/pdf"))

    message = Message.objects.get(request=item)
    assert (message.channel, message.subject) == (IntakeChannel.LETTER, "Letter received")
    attachment = Attachment.objects.get(message=message)
    assert (attachment.content_type, attachment.size) == ("application/pdf", len(content))
    assert "zhao" not in attachment.file.name.lower()  # the uploaded file name is not kept
    on_disk = (Path(settings.MEDIA_ROOT) / attachment.file.name).read_bytes()
    assert b"canary-scanned-letter-bytes" not in on_disk
    download = client.get(reverse("requests_desk:attachment", args=[item.reference, attachment.pk]))
    assert download.status_code == 200 and b"".join(download) == content
    assert SensitiveAccessLog.objects.filter(model_label="requests_desk.Attachment",
                                            object_id=str(attachment.pk)).count() == 1


def test_pp14_a_visit_logged_later_keeps_the_time_it_happened(client, agent):
    item = create(received_at=timezone.now() - datetime.timedelta(days=3))
    client.force_login(agent)
    when = timezone.localtime() - datetime.timedelta(days=1)

    post_contact(client, item, channel="in_person", summary="Came to the office with the signed form.",
                 received_at=when.strftime("%Y-%m-%d %H:%M"))

    message = Message.objects.get(request=item)
    assert message.channel == IntakeChannel.IN_PERSON
    assert abs(message.at - when) < datetime.timedelta(minutes=1)


def test_pp14_a_contact_on_a_closed_request_is_kept_on_it(agent):
    item = create()
    workflow.transition(request=item, name="withdraw", user=agent, note="requester withdrew by phone")
    workflow.transition(request=item, name="close", user=agent)
    assert Request.objects.get(pk=item.pk).status == Status.CLOSED

    message_log_contact(request=item, channel=IntakeChannel.PHONE, summary=SUMMARY, user=agent)

    assert item.messages.filter(direction=MessageDirection.INBOUND).count() == 1


def test_pp14_auditors_may_not_log_contacts_and_see_no_form(client, auditor):
    item = create()
    client.force_login(auditor)

    assert client.post(reverse("requests_desk:log_contact", args=[item.reference]),
                       {"contact-channel": "phone", "contact-summary": SUMMARY}).status_code == 403
    page = client.get(reverse("requests_desk:request_detail", args=[item.reference]))
    assert page.status_code == 200 and b"Log inbound contact" not in page.content
    with pytest.raises(PermissionDenied):
        message_log_contact(request=item, channel=IntakeChannel.PHONE, summary=SUMMARY, user=auditor)
    with pytest.raises(PermissionDenied):
        message_log_contact(request=item, channel=IntakeChannel.PHONE, summary=SUMMARY, user=None)
    assert not Message.objects.exists()


def test_pp14_the_page_offers_the_form_to_agents(client, agent):
    item = create()
    client.force_login(agent)
    html = client.get(reverse("requests_desk:request_detail", args=[item.reference])).content.decode()
    assert "Log inbound contact" in html
    assert reverse("requests_desk:log_contact", args=[item.reference]) in html
    assert 'enctype="multipart/form-data"' in html


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": IntakeChannel.EMAIL}, "channel"),  # e-mail arrives through the ingest
        ({"channel": IntakeChannel.WEB}, "channel"),
        ({"summary": "  ok "}, "summary"),
        ({"at": timezone.now() + datetime.timedelta(days=1)}, "at"),
        ({"attachment": IncomingAttachment(content=b"")}, "attachment"),
    ],
)
def test_pp14_the_service_refuses_what_is_not_a_contact_with_a_reason(agent, changes, field):
    item = create()
    kwargs = {"channel": IntakeChannel.PHONE, "summary": SUMMARY, **changes}
    with pytest.raises(ValidationError) as raised:
        message_log_contact(request=item, user=agent, **kwargs)
    assert field in raised.value.message_dict
    assert not Message.objects.exists()


def test_pp14_the_form_reports_a_missing_summary_and_logs_nothing(client, agent):
    item = create()
    client.force_login(agent)

    response = post_contact(client, item, summary="")

    assert any(str(m).startswith("Summary:") for m in response.context["messages"])
    assert not Message.objects.exists()


def test_pp14_an_oversized_attachment_is_refused(agent, monkeypatch):
    monkeypatch.setattr(desk_messages, "MAX_LOGGED_ATTACHMENT_BYTES", 10)
    item = create()
    with pytest.raises(ValidationError, match="larger than"):
        message_log_contact(request=item, channel=IntakeChannel.LETTER, summary=SUMMARY, user=agent,
                            attachment=IncomingAttachment(content=b"x" * 11))
    assert not Message.objects.exists() and not Attachment.objects.exists()


def test_pp14_the_log_line_names_the_request_not_the_summary(agent, caplog):
    item = create()
    with caplog.at_level("INFO", logger="requests_desk"):
        message_log_contact(request=item, channel=IntakeChannel.PHONE, summary=SUMMARY, user=agent)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert item.reference in logged and "Zhao" not in logged
