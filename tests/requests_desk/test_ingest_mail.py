"""``manage.py ingest_mail DIR`` (issue 6, requirement 4; PP-14): threading, new requests, attachments
encrypted at rest, idempotency by Message-ID, quarantine with a reason, nothing personal in logs."""

import logging
from email.message import EmailMessage
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command
from django.core.management.base import CommandError

from requests_desk import letters, lifecycle
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType
from requests_desk.models import Attachment, Message, Request
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def eml(directory: Path, name: str, *, subject="Question about my account", sender="Wang Fang <wang.fang@mail.example>",
        body="Hello, I would like a copy of my data.", message_id="<m1@mail.example>", attachment: bytes | None = None,
        in_reply_to: str = "") -> Path:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "privacy@exchange.example"
    message["Subject"] = subject
    message["Date"] = "Tue, 03 Mar 2026 10:00:00 +0800"
    if message_id:
        message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
    message.set_content(body)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="pdf", filename="wang-fang-id.pdf")
    path = directory / name
    path.write_bytes(bytes(message))
    return path


def ingest(directory: Path) -> str:
    out = StringIO()
    call_command("ingest_mail", str(directory), "--no-progress", stdout=out)
    return out.getvalue()


def test_pp14_unknown_sender_opens_an_enquiry_matched_to_the_member_by_blind_index(tmp_path):
    member = MemberFactory(email="Wang.Fang@mail.example")
    eml(tmp_path, "a.eml")
    output = ingest(tmp_path)
    assert "created: 1" in output
    request = Request.objects.get()
    assert (request.type, request.channel, request.requester_kind) == (
        RequestType.ENQUIRY, IntakeChannel.EMAIL, RequesterKind.MEMBER)
    assert request.member == member
    assert request.requester_email == "wang.fang@mail.example"
    assert request.requester_name == "Wang Fang"
    assert request.received_at.isoformat().startswith("2026-03-03T02:00")
    message = request.messages.get()
    assert (message.direction, message.subject) == (MessageDirection.INBOUND, "Question about my account")
    assert "copy of my data" in message.body


def test_unknown_address_opens_a_request_without_member(tmp_path):
    eml(tmp_path, "a.eml", sender="nobody@elsewhere.example")
    ingest(tmp_path)
    assert Request.objects.get().member is None


def test_pp14_reply_with_the_reference_in_the_subject_threads_onto_the_request(tmp_path):
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB)
    eml(tmp_path, "reply.eml", subject=f"Re: [{request.reference}] Please confirm your identity",
        message_id="<reply@mail.example>")
    assert "threaded: 1" in ingest(tmp_path)
    assert Request.objects.count() == 1
    assert request.messages.get().source_message_id == "<reply@mail.example>"


def test_a_reply_to_one_of_our_letters_threads_by_in_reply_to(tmp_path, agent):
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, requester_email="wang.fang@mail.example")
    letter = letters.letter_send(request=request, template="verification_request", user=agent)
    eml(tmp_path, "reply.eml", subject="my ID card", message_id="<r2@mail.example>",
        in_reply_to=letter.source_message_id)
    ingest(tmp_path)
    assert Request.objects.count() == 1
    assert request.messages.filter(direction=MessageDirection.INBOUND).count() == 1


def test_rerun_does_not_duplicate(tmp_path):
    eml(tmp_path, "a.eml", message_id="<same@mail.example>")
    eml(tmp_path, "b.eml", message_id="", body="no message id here")
    ingest(tmp_path)
    output = ingest(tmp_path)
    assert "duplicate: 2" in output and "created: 0" in output
    assert Request.objects.count() == 2
    assert Message.objects.count() == 2


def test_pp26_attachments_are_stored_encrypted(tmp_path, settings):
    content = b"%PDF-1.4 canary-attachment-bytes"
    eml(tmp_path, "a.eml", attachment=content)
    ingest(tmp_path)
    attachment = Attachment.objects.get()
    assert (attachment.content_type, attachment.size) == ("application/pdf", len(content))
    assert "wang" not in attachment.file.name.lower()  # the sender's file name is not kept
    on_disk = (Path(settings.MEDIA_ROOT) / attachment.file.name).read_bytes()
    assert b"canary-attachment-bytes" not in on_disk
    with attachment.file.open("rb") as handle:
        assert handle.read() == content


def test_unreadable_files_are_quarantined_with_a_reason(tmp_path):
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "nosender.eml").write_bytes(b"Subject: hi\r\n\r\nbody\r\n")
    (tmp_path / "garbage.eml").write_bytes(b"\x00\x01\x02 not a mail at all")
    eml(tmp_path, "good.eml")
    output = ingest(tmp_path)
    assert "quarantined: 3" in output and "created: 1" in output
    quarantine = tmp_path / "quarantine"
    assert sorted(p.name for p in quarantine.iterdir()) == [
        "empty.eml", "empty.eml.reason.txt", "garbage.eml", "garbage.eml.reason.txt", "nosender.eml",
        "nosender.eml.reason.txt",
    ]
    assert "empty" in (quarantine / "empty.eml.reason.txt").read_text()
    assert "sender" in (quarantine / "nosender.eml.reason.txt").read_text()
    assert not (tmp_path / "empty.eml").exists()
    assert (tmp_path / "good.eml").exists()
    # A rerun leaves the quarantine alone and does not duplicate the good one.
    assert "quarantined: 0" in ingest(tmp_path)
    assert Request.objects.count() == 1


def test_undecodable_body_is_quarantined(tmp_path):
    raw = (b"From: a@mail.example\r\nSubject: x\r\nMessage-ID: <bad@x>\r\n"
           b"Content-Type: text/plain; charset=no-such-charset\r\n\r\nbody\r\n")
    (tmp_path / "bad.eml").write_bytes(raw)
    ingest(tmp_path)
    reason = (tmp_path / "quarantine" / "bad.eml.reason.txt").read_text()
    assert "cannot be decoded" in reason
    assert not Request.objects.exists()


def test_logs_carry_no_addresses_or_bodies(tmp_path, caplog):
    eml(tmp_path, "a.eml", body="my secret body text")
    with caplog.at_level(logging.DEBUG, logger="requests_desk"):
        ingest(tmp_path)
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert Request.objects.get().reference in logged
    assert "wang.fang" not in logged.lower() and "secret body" not in logged and "Wang Fang" not in logged


def test_new_requests_may_be_acknowledged(tmp_path):
    eml(tmp_path, "a.eml")
    call_command("ingest_mail", str(tmp_path), "--no-progress", "--acknowledge", stdout=StringIO())
    request = Request.objects.get()
    assert len(mail.outbox) == 1 and request.reference in mail.outbox[0].subject
    assert mail.outbox[0].to == ["wang.fang@mail.example"]


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="not a directory"):
        call_command("ingest_mail", str(tmp_path / "nope"), "--no-progress")


def test_a_failed_acknowledgement_loses_no_inbound_message(tmp_path, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionRefusedError("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", down)
    eml(tmp_path, "a.eml")
    eml(tmp_path, "b.eml", message_id="<m2@mail.example>")
    output = StringIO()
    call_command("ingest_mail", str(tmp_path), "--no-progress", "--acknowledge", stdout=output)
    assert "created: 2" in output.getvalue()
    assert Message.objects.filter(direction=MessageDirection.INBOUND).count() == 2
    assert not Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()
