"""Inbound messages on a request (PP-14): kept with their attachments encrypted at rest (PP-26),
contacts logged by hand (phone, letter, visit), and the access log of bodies read and attachments
downloaded (PP-25). Outbound messages are kept by ``requests_desk.letters``.

No personal data in exceptions or log lines (style rule 6): requests are named by reference.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import SensitiveAccessLog
from accounts.privacy.storage import protected_storage
from requests_desk.choices import IntakeChannel, MessageDirection
from requests_desk.lifecycle import MIN_TEXT
from requests_desk.models import Attachment, Message, Request
from requests_desk.permissions import WORK_QUEUE, require

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class IncomingAttachment:
    content: bytes
    content_type: str = "application/octet-stream"


def _store_attachments(message: Message, attachments: Iterable[IncomingAttachment], saved: list[str]) -> int:
    count = 0
    for item in attachments:
        attachment = Attachment(message=message, content_type=item.content_type[:100], size=len(item.content))
        # The original file name may name a person: storage gets a random name (attachment_upload_to).
        attachment.file.save("attachment.bin", ContentFile(item.content), save=False)
        saved.append(attachment.file.name)
        attachment.save()
        count += 1
    return count


def _delete_files(names: list[str]) -> None:
    for name in names:
        protected_storage.delete(name)


def message_record_inbound(
    *,
    request: Request,
    body: str,
    subject: str = "",
    channel: str = IntakeChannel.EMAIL,
    at: datetime.datetime | None = None,
    source_message_id: str = "",
    attachments: Iterable[IncomingAttachment] = (),
    user=None,
) -> Message:
    """Keep one inbound message on its request, attachments encrypted at rest (PP-14, PP-26).

    Files are written before the rows commit; if the transaction fails they are removed again,
    so no file is left that no row points to.
    """
    if channel not in IntakeChannel.values:
        raise ValidationError({"channel": _("Unknown channel.")})
    saved: list[str] = []
    try:
        with transaction.atomic():
            message = Message.objects.create(
                request=request, direction=MessageDirection.INBOUND, channel=channel, subject=subject[:300],
                body=body, sender=user, at=at or timezone.now(), source_message_id=source_message_id[:300],
            )
            _store_attachments(message, attachments, saved)
    except BaseException:
        _delete_files(saved)
        raise
    return message


#: What an agent logs by hand on an existing request: contacts that do not arrive as e-mail (PP-14).
LOGGED_CHANNELS = (IntakeChannel.PHONE, IntakeChannel.LETTER, IntakeChannel.IN_PERSON)
#: The subject a logged contact gets on the timeline (no personal data: the summary is the body).
LOGGED_SUBJECTS = {
    IntakeChannel.PHONE: "Phone call",
    IntakeChannel.LETTER: "Letter received",
    IntakeChannel.IN_PERSON: "Visit in person",
}
#: A scan of a letter or a document handed in; larger files are refused with a clear message.
MAX_LOGGED_ATTACHMENT_BYTES = 20 * 1024 * 1024


def message_log_contact(
    *,
    request: Request,
    channel: str,
    summary: str,
    user,
    at: datetime.datetime | None = None,
    attachment: IncomingAttachment | None = None,
) -> Message:
    """Log a phone call, a letter or a visit about an existing request as an inbound message (PP-14).

    Whoever works the queue (agents, compliance officers, supervisors: ``WORK_QUEUE``) may log a
    contact, on any request whatever its status: a call after a request was closed is kept on the
    same ticket, as a threaded e-mail is. The summary is the message body (encrypted, like every
    body); an attachment (a scanned letter, a document handed in) is encrypted at rest like e-mail
    attachments. ``sender`` names the staff user who logged it; ``at`` is when the contact happened
    (now by default, never in the future).
    """
    require(user, WORK_QUEUE, gettext_lazy("log contacts on requests"))
    if channel not in LOGGED_CHANNELS:
        raise ValidationError({"channel": _("Log a phone call, a letter or a visit in person (e-mail is read in "
                                          "by the mail ingest).")})
    summary = (summary or "").strip()
    if len(summary) < MIN_TEXT:
        raise ValidationError({"summary": _("Summarise what the requester said or sent.")})
    now = timezone.now()
    if at is not None and at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"at": _("A contact cannot have happened in the future.")})
    attachments = []
    if attachment is not None:
        if not attachment.content:
            raise ValidationError({"attachment": _("The attached file is empty.")})
        if len(attachment.content) > MAX_LOGGED_ATTACHMENT_BYTES:
            raise ValidationError({"attachment": "The attached file is larger than "
                                                 f"{MAX_LOGGED_ATTACHMENT_BYTES // (1024 * 1024)} MB."})
        attachments.append(attachment)
    message = message_record_inbound(
        request=request, body=summary, subject=LOGGED_SUBJECTS[channel], channel=channel, at=at or now,
        attachments=attachments, user=user,
    )
    logger.info("request %s: %s contact logged by staff user %s", request.reference, channel, user.pk)
    return message


def message_bodies_read_log(*, user, request: Request, messages: list[Message], ip_address: str | None) -> int:
    """Log that ``user`` read these messages' bodies on the request page (PP-25): one row each, one query.

    Message bodies are sensitive (declared so in the data map); the agents working a request read
    them to answer it, and the access log says who read which message, when and from where.
    """
    member_number = request.member.member_number if request.member_id else ""
    rows = [
        SensitiveAccessLog(
            staff_user=user, action=SensitiveAccessLog.Action.REVEAL, member_number=member_number,
            model_label=Message._meta.label, object_id=str(message.pk), field_name="body",
            reason=f"Working request {request.reference} in the request desk", ip_address=ip_address,
        )
        for message in messages
    ]
    SensitiveAccessLog.objects.bulk_create(rows)
    return len(rows)


def attachment_read(*, user, attachment: Attachment, ip_address: str | None) -> bytes:
    """Decrypt one message attachment for download and log it (PP-25, PP-26)."""
    require(user, WORK_QUEUE, gettext_lazy("download attachments"))
    request = attachment.message.request
    with attachment.file.open("rb") as handle:  # the protected storage decrypts
        content = handle.read()
    SensitiveAccessLog.objects.create(
        staff_user=user, action=SensitiveAccessLog.Action.DOWNLOAD,
        member_number=request.member.member_number if request.member_id else "",
        model_label=Attachment._meta.label, object_id=str(attachment.pk), field_name="file",
        reason=f"Working request {request.reference} in the request desk", ip_address=ip_address,
    )
    return content
