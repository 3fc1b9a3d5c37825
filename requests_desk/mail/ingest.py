"""Keeping one inbound e-mail (requirement 4): threaded onto its request, or a new enquiry for it.

Idempotent by Message-ID. No personal data in log lines (style rule 6): requests are named by reference.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction

from accounts.models import Member
from accounts.privacy import crypto
from requests_desk import letters
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType
from requests_desk.lifecycle import intake_language, request_create
from requests_desk.mail.parse import REFERENCE_RE, ParsedMail, mail_parse
from requests_desk.messages import message_record_inbound
from requests_desk.models import Message, Request

logger = logging.getLogger(__name__)


def _thread_target(parsed: ParsedMail) -> Request | None:
    """The request a message belongs to: a reference in the subject, else a reply to one of our letters."""
    match = REFERENCE_RE.search(parsed.subject)
    if match:
        found = Request.objects.filter(reference=match.group(0)).first()
        if found is not None:
            return found
    if parsed.references:
        outbound = (
            Message.objects.filter(source_message_id__in=parsed.references[-20:], direction=MessageDirection.OUTBOUND)
            .select_related("request").order_by("-at").first()
        )
        if outbound is not None:
            return outbound.request
    return None


def member_by_email(address: str) -> Member | None:
    """The one member with this e-mail, found through the blind index (nothing decrypted)."""
    matches = list(Member.objects.filter(email_bidx=crypto.blind_index("email", address))[:2])
    return matches[0] if len(matches) == 1 else None


@dataclass
class IngestOutcome:
    action: str  # "threaded", "created" or "duplicate"
    reference: str


def mail_ingest(raw: bytes, *, acknowledge: bool = False) -> IngestOutcome:
    """Keep one inbound e-mail: thread it onto its request, or open a new enquiry for it.

    Idempotent by Message-ID: a message already kept is not stored again.
    """
    parsed = mail_parse(raw)
    existing = Message.objects.filter(source_message_id=parsed.message_id).select_related("request").first()
    if existing is not None:
        return IngestOutcome("duplicate", existing.request.reference)
    with transaction.atomic():
        target = _thread_target(parsed)
        if target is None:
            member = member_by_email(parsed.sender_address)
            target = request_create(
                type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL,
                received_at=parsed.at, member=member,
                requester_name=parsed.sender_name, requester_email=parsed.sender_address,
                subject=parsed.subject, description="", acknowledge=False,
                # Issue 16: the member's preference, else the mail's own language (script, charset).
                language=intake_language(member=member, text=f"{parsed.subject}\n{parsed.body}",
                                         charsets=parsed.charsets),
            )
            action = "created"
        else:
            action = "threaded"
        message_record_inbound(
            request=target, body=parsed.body, subject=parsed.subject, channel=IntakeChannel.EMAIL, at=parsed.at,
            source_message_id=parsed.message_id, attachments=parsed.attachments,
        )
    if acknowledge and action == "created":
        # After the commit: a mail server that is down loses no inbound message; the agent can
        # send the acknowledgement from the request page.
        try:
            letters.letter_send(request=target, template="acknowledgement", user=None)
        except Exception as exc:
            logger.warning("ingest_mail: acknowledgement of request %s not sent (%s)", target.reference,
                           type(exc).__name__)
    return IngestOutcome(action, target.reference)
