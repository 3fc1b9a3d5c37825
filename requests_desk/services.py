"""Writes of the request desk: intake, identity checks, messages, fees, assignment, take-next, e-mail ingest.

Status changes are not made here: they go through ``requests_desk.workflow.transition`` (design
decision 4). Services that pair a transition with a reply (extension, refusal) call the workflow and
``requests_desk.letters`` inside one transaction, so a failed e-mail leaves the request as it was.

No personal data in exceptions or log lines (style rule 6): requests are named by reference.
"""

from __future__ import annotations

import contextlib
import datetime
import email
import email.policy
import email.utils
import fcntl
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from email.message import EmailMessage as ParsedEmail
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.html import strip_tags

from accounts import crypto
from accounts.models import Member, StaffUser
from requests_desk import letters, workflow
from requests_desk.choices import (
    IntakeChannel,
    MessageDirection,
    Priority,
    RequesterKind,
    RequestType,
    Severity,
    VerificationMethod,
)
from requests_desk.models import Attachment, IdentityCheck, Message, Request, new_reference
from requests_desk.permissions import DECIDE, WORK_QUEUE, require
from requests_desk.states import OPEN_STATES, Status

logger = logging.getLogger(__name__)

#: The statuses the "take next" partial index (``desk_request_unassigned_open``) covers, in its order.
TAKEABLE_STATES = (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS)
#: PP-28: a security report's severity decides its priority.
SEVERITY_PRIORITY = {
    Severity.LOW: Priority.NORMAL,
    Severity.MEDIUM: Priority.HIGH,
    Severity.HIGH: Priority.URGENT,
    Severity.CRITICAL: Priority.URGENT,
}
#: PP-15: requesters acting for a member prove their authority as well as their identity.
ACTING_FOR_MEMBER = frozenset({RequesterKind.GUARDIAN, RequesterKind.AGENT})
MIN_TEXT = 5


def _open(request: Request, what: str) -> None:
    if request.status not in OPEN_STATES:
        raise ValidationError(f"Cannot {what}: request {request.reference} is {request.get_status_display().lower()}.")


# --- Intake (PP-14, PP-28, PP-29, PP-31, PP-34, PP-41) -------------------------------------------------
def repeat_window() -> datetime.timedelta:
    return datetime.timedelta(days=settings.REQUEST_REPEAT_WINDOW_DAYS)


def _earlier_same_request(*, member_ref, type_ref, received_ref, exclude_ref=None) -> QuerySet[Request]:
    """Requests of the same member and type received within the window before ``received_ref`` (PP-31).

    The arguments are values or ``OuterRef`` expressions, so one definition serves the single-row
    check at intake and the set-based flagging below. Served by the ``desk_request_member_type`` index.
    """
    earlier = Request.objects.filter(
        member=member_ref, type=type_ref, received_at__lte=received_ref,
        received_at__gte=received_ref - repeat_window(),
    )
    if exclude_ref is not None:
        earlier = earlier.exclude(pk=exclude_ref)
    return earlier


def requests_flag_repeats(*, queryset: QuerySet[Request]) -> int:
    """Set ``is_repeat`` on every request of ``queryset`` that repeats an earlier one (PP-31).

    One UPDATE with an EXISTS subquery, whatever the size of the set (bulk intake, demo data, a
    member identified after intake). Writes no history rows: the flag is derived, not a decision.
    Returns the number of requests flagged.
    """
    earlier = _earlier_same_request(
        member_ref=OuterRef("member"), type_ref=OuterRef("type"), received_ref=OuterRef("received_at"),
        exclude_ref=OuterRef("pk"),
    )
    return queryset.filter(member__isnull=False, is_repeat=False).filter(Exists(earlier)).update(is_repeat=True)


def _is_repeat(member: Member | None, type_: str, received_at: datetime.datetime, exclude_pk=None) -> bool:
    if member is None:
        return False
    return _earlier_same_request(
        member_ref=member.pk, type_ref=type_, received_ref=received_at, exclude_ref=exclude_pk
    ).exists()


def _compliance_assignee() -> StaffUser | None:
    """The active compliance officer with the fewest open requests (PP-28: security reports go to compliance).

    One aggregate query; ties go to the longest-standing account (lowest id).
    """
    from accounts import roles

    return (
        StaffUser.objects.filter(is_active=True, groups__name=roles.COMPLIANCE_OFFICER)
        .annotate(load=Count("assigned_requests", filter=Q(assigned_requests__status__in=list(OPEN_STATES))))
        .order_by("load", "pk")
        .first()
    )


def request_create(
    *,
    type: str,
    requester_kind: str,
    channel: str,
    received_at: datetime.datetime | None = None,
    member: Member | None = None,
    requester_name: str = "",
    requester_email: str = "",
    priority: int | None = None,
    severity: str = "",
    subject: str = "",
    description: str = "",
    concerns: Request | None = None,
    details: dict | None = None,
    user=None,
    acknowledge: bool = False,
) -> Request:
    """Record a new request (status new) with its due date, repeat flag and routing.

    - due date: received + ``REQUEST_DUE_DAYS`` (PP-34), through ``workflow.due_date_for``;
    - repeat: an earlier request of the same type by the same member within
      ``REQUEST_REPEAT_WINDOW_DAYS`` sets ``is_repeat`` (PP-31);
    - complaint: names the request it concerns (PP-34);
    - security report: needs a severity, gets a priority from it and is assigned to the least-loaded
      compliance officer (PP-28);
    - ``acknowledge``: send the acknowledgement letter with the reference and due date.
    """
    if type not in RequestType.values:
        raise ValidationError({"type": "Unknown request type."})
    if requester_kind not in RequesterKind.values:
        raise ValidationError({"requester_kind": "Unknown requester kind."})
    if channel not in IntakeChannel.values:
        raise ValidationError({"channel": "Unknown intake channel."})
    if user is not None:
        require(user, WORK_QUEUE, "record requests")
    now = timezone.now()
    received_at = received_at or now
    if received_at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"received_at": "A request cannot be received in the future."})
    if type == RequestType.COMPLAINT and concerns is None:
        raise ValidationError({"concerns": "A complaint names the request it concerns (PP-34)."})
    if concerns is not None and type != RequestType.COMPLAINT:
        raise ValidationError({"concerns": "Only a complaint concerns another request."})
    if requester_kind in ACTING_FOR_MEMBER and type in (RequestType.SECURITY_REPORT, RequestType.UNDERAGE_REPORT):
        raise ValidationError({"requester_kind": "Reports are made by the member or a third party."})
    assignee = None
    if type == RequestType.SECURITY_REPORT:
        if severity not in Severity.values:
            raise ValidationError({"severity": "A security report needs a severity (PP-28)."})
        priority = max(priority or Priority.NORMAL, SEVERITY_PRIORITY[severity])
        assignee = _compliance_assignee()
    elif severity:
        raise ValidationError({"severity": "Only security reports carry a severity."})
    if priority is not None and priority not in Priority.values:
        raise ValidationError({"priority": "Unknown priority."})

    with transaction.atomic():
        request = Request(
            type=type,
            requester_kind=requester_kind,
            requester_name=requester_name.strip()[:200],
            requester_email=requester_email.strip(),
            channel=channel,
            received_at=received_at,
            due_at=workflow.due_date_for(received_at),
            priority=priority or Priority.NORMAL,
            severity=severity,
            assignee=assignee,
            member=member,
            concerns=concerns,
            subject=subject.strip()[:200],
            description=description,
            details=details or {},
            is_repeat=_is_repeat(member, type, received_at),
        )
        if user is not None:
            request._history_user = user
        request._change_reason = f"intake ({channel})"
        _save_with_fresh_reference(request)
        if acknowledge:
            letters.letter_send(request=request, template="acknowledgement", user=user)
    logger.info("request %s received (type %s, channel %s, repeat %s)", request.reference, type, channel,
                request.is_repeat)
    return request


def _save_with_fresh_reference(request: Request, attempts: int = 5) -> None:
    """Insert a new request; on the (about one in a million per request) clash of its random public
    reference with an existing one, draw another reference instead of failing the intake."""
    for attempt in range(attempts):
        try:
            with transaction.atomic():  # a savepoint: a clash leaves the outer transaction usable
                request.save(force_insert=True)
            return
        except IntegrityError:
            if attempt == attempts - 1 or not Request.objects.filter(reference=request.reference).exists():
                raise
            request.reference = new_reference()


def request_member_identify(*, request: Request, member: Member, user) -> Request:
    """Link the member a request is about once identified; the repeat flag follows (PP-31)."""
    require(user, WORK_QUEUE, "identify members on requests")
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, "change the member")
        if locked.identity_checks.exists() and locked.member_id != member.pk:
            # The verification was made against the earlier member: it must not carry over.
            raise ValidationError({"member": "The requester was already verified against another member."})
        locked.member = member
        locked.is_repeat = _is_repeat(member, locked.type, locked.received_at, exclude_pk=locked.pk)
        locked._history_user = user
        locked._change_reason = "member identified"
        locked.save(update_fields=["member", "is_repeat"])
    return locked


# --- Identity verification gate (PP-30, PP-15) --------------------------------------------------------
def identity_check_record(
    *,
    request: Request,
    method: str,
    evidence: str,
    user,
    authority_evidence: str = "",
    verified_at: datetime.datetime | None = None,
) -> IdentityCheck:
    """Record how the requester's identity was verified, by whom and when (PP-30).

    The requester is verified against the member the request is about, so the member must be
    identified first. A guardian or an authorised agent also proves their authority to act for
    the member (PP-15); a guardian acts only for a member under 18.
    """
    require(user, WORK_QUEUE, "record identity checks")
    if method not in VerificationMethod.values:
        raise ValidationError({"method": "Unknown verification method."})
    evidence = (evidence or "").strip()
    authority_evidence = (authority_evidence or "").strip()
    if len(evidence) < MIN_TEXT:
        raise ValidationError({"evidence": "Describe the evidence the identity was verified with."})
    with transaction.atomic():
        locked = Request.objects.select_for_update(of=("self",)).select_related("member").get(pk=request.pk)
        _open(locked, "record an identity check")
        if locked.requester_kind == RequesterKind.THIRD_PARTY:
            raise ValidationError(
                {"method": "A third-party reporter is not the member: their identity does not open the gate."}
            )
        if locked.member_id is None:
            raise ValidationError(
                {"method": "Identify the member first: the requester is verified against the member (PP-30)."}
            )
        if locked.requester_kind in ACTING_FOR_MEMBER:
            if len(authority_evidence) < MIN_TEXT:
                raise ValidationError({
                    "authority_evidence": "A guardian or an authorised agent must show their authority to act "
                                          "for the member (PP-15)."
                })
            if locked.requester_kind == RequesterKind.GUARDIAN:
                age = locked.member.age_on(timezone.localdate())
                if age is not None and age >= 18:
                    raise ValidationError(
                        {"authority_evidence": "The member is an adult: a guardian cannot act for them (PP-15)."}
                    )
        elif authority_evidence:
            raise ValidationError({"authority_evidence": "Authority evidence is for guardians and agents only."})
        check = IdentityCheck(
            request=locked, method=method, evidence=evidence, authority_evidence=authority_evidence,
            verified_by=user, verified_at=verified_at or timezone.now(),
        )
        check._history_user = user
        check.save()
    return check


# --- Fees (PP-31) --------------------------------------------------------------------------------------
def request_fee_record(*, request: Request, amount, reason: str, user) -> Request:
    """Record a reasonable fee for a repeated or onerous request, with its reason (PP-31)."""
    require(user, DECIDE, "record fees")
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationError({"fee_amount": "Enter the fee as a number."}) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError({"fee_amount": "A fee is zero or more."})
    reason = (reason or "").strip()
    if len(reason) < MIN_TEXT:
        raise ValidationError({"fee_reason": "Say why a fee is charged: repeated or onerous (PP-31)."})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, "record a fee")
        locked.fee_amount = amount
        locked.fee_reason = reason
        locked._history_user = user
        locked._change_reason = "fee recorded"
        locked.save(update_fields=["fee_amount", "fee_reason"])
    return locked


# --- Assignment and take-next (requirement 5) ----------------------------------------------------------
def request_assign(*, request: Request, assignee, user) -> Request:
    """Give an open request to ``assignee`` (or release it with ``None``)."""
    require(user, WORK_QUEUE, "assign requests")
    if assignee is not None and not assignee.has_perm(WORK_QUEUE):
        raise ValidationError({"assignee": "The assignee does not work the request queue."})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, "assign")
        locked.assignee = assignee
        locked._history_user = user
        locked._change_reason = "assigned" if assignee else "released"
        locked.save(update_fields=["assignee"])
    return locked


def takeable_requests(user) -> QuerySet[Request]:
    """Unassigned open requests in take-next order: priority, then due date, then age.

    The filter and ordering match the partial index ``desk_request_unassigned_open`` exactly, so the
    database reads the first unlocked entry of the index instead of sorting the queue. Security
    reports are compliance work (PP-28): only users who decide requests take them.
    """
    queryset = Request.objects.filter(assignee__isnull=True, status__in=list(TAKEABLE_STATES))
    if not user.has_perm(DECIDE):
        queryset = queryset.exclude(type=RequestType.SECURITY_REPORT)
    return queryset.order_by("-priority", "due_at", "id")


def take_next(*, user) -> Request | None:
    """Assign the most urgent unassigned open request to ``user``; None when the queue is empty.

    Race: eight agents pressing "take next" at once. ``FOR UPDATE SKIP LOCKED`` makes each agent
    lock a different row (a row another agent is taking is skipped, not waited for), and the
    assignment commits with the lock held, so no request is ever given to two agents.
    """
    require(user, WORK_QUEUE, "take requests from the queue")
    with transaction.atomic():
        request = takeable_requests(user).select_for_update(skip_locked=True).first()
        if request is None:
            return None
        request.assignee = user
        request._history_user = user
        request._change_reason = "taken from the queue"
        request.save(update_fields=["assignee"])
    logger.info("request %s taken by staff user %s", request.reference, user.pk)
    return request


# --- Messages (PP-14) ----------------------------------------------------------------------------------
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
    from accounts.storage import protected_storage

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
        raise ValidationError({"channel": "Unknown channel."})
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
    require(user, WORK_QUEUE, "log contacts on requests")
    if channel not in LOGGED_CHANNELS:
        raise ValidationError({"channel": "Log a phone call, a letter or a visit in person (e-mail is read in "
                                          "by the mail ingest)."})
    summary = (summary or "").strip()
    if len(summary) < MIN_TEXT:
        raise ValidationError({"summary": "Summarise what the requester said or sent."})
    now = timezone.now()
    if at is not None and at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"at": "A contact cannot have happened in the future."})
    attachments = []
    if attachment is not None:
        if not attachment.content:
            raise ValidationError({"attachment": "The attached file is empty."})
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
    from accounts.models import SensitiveAccessLog

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
    from accounts.models import SensitiveAccessLog

    require(user, WORK_QUEUE, "download attachments")
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


# --- Transitions that tell the requester (PP-34, PP-35, PP-36) ---------------------------------------
def request_extend(*, request: Request, user, due_at: datetime.datetime, reason: str, notify: bool = True) -> Request:
    """Extend the deadline with a reason (the ``extend`` transition) and tell the requester (PP-34).

    One transaction: if the letter cannot be sent, the extension is not recorded either.
    """
    with transaction.atomic():
        updated = workflow.transition(request=request, name="extend", user=user, note=reason, due_at=due_at)
        if notify:
            letters.letter_send(request=updated, template="extension", user=user, note=reason)
    return updated


def request_refuse(*, request: Request, user, grounds, note: str = "", notify: bool = True) -> Request:
    """Refuse naming legal grounds (the ``refuse`` transition); the reply states each ground (PP-35/36)."""
    with transaction.atomic():
        updated = workflow.transition(request=request, name="refuse", user=user, note=note, grounds=list(grounds))
        if notify:
            letters.letter_send(request=updated, template="refusal", user=user, note=note)
    return updated


# --- E-mail ingest (requirement 4) ---------------------------------------------------------------------
REFERENCE_RE = re.compile(r"\bDSR-[A-HJ-NP-Z2-9]{8}\b")
#: Message-IDs in In-Reply-To / References: a reply to one of our letters threads onto its request.
REFERENCE_ID_RE = re.compile(r"<[^<>\s]+>")
#: A message larger than this is quarantined rather than stored (a mail loop or an abuse).
MAX_MESSAGE_BYTES = 25 * 1024 * 1024
QUARANTINE_DIR = "quarantine"


class UnreadableMail(Exception):
    """An e-mail file that cannot be read into a message; the text is a reason without personal data."""


@dataclass
class ParsedMail:
    message_id: str
    subject: str
    sender_address: str
    sender_name: str
    at: datetime.datetime
    body: str
    references: list[str]
    attachments: list[IncomingAttachment]


def _header(message: ParsedEmail, name: str) -> str:
    try:
        value = message.get(name)
    except Exception as exc:  # a malformed header the parser defers until access
        raise UnreadableMail(f"the {name} header cannot be parsed ({type(exc).__name__})") from None
    return "" if value is None else _plain_text(str(value))


def _plain_text(text: str) -> str:
    """Header text as plain columns can hold it.

    Fuzz finding (tests/requests_desk/test_fuzz_mail.py): a NUL byte in a header reached the
    subject, name and Message-ID columns, which PostgreSQL refuses (the ingest failed with a
    ValueError). NUL is not allowed in a header (RFC 5322): it is kept visible as U+FFFD.
    """
    return text.replace("\x00", "\ufffd")


#: The reason a message nested deeper than the parser can follow is refused.
TOO_DEEP = "the MIME structure is nested too deeply"
#: Main types ``email``'s content manager reads; a part of any other type is kept as its bytes.
_CONTENT_MANAGED = frozenset({"text", "audio", "image", "video", "application", "message"})


def _leaf_parts(item: ParsedEmail):
    """The parts an attachment is kept as: a multipart among the attachments gives its sub-parts.

    Fuzz finding: a multipart nested in the top-level multipart (a forwarded bundle, a list footer
    around the original, a signed message) has no content of its own; ``get_content`` raised
    KeyError and the whole message was quarantined instead of kept.
    """
    payload = item.get_payload()
    if item.get_content_maintype() == "multipart" and isinstance(payload, list):
        for sub in payload:
            yield from _leaf_parts(sub)
    else:
        yield item


def _part_bytes(item: ParsedEmail) -> bytes:
    if item.get_content_maintype() not in _CONTENT_MANAGED:
        # Fuzz finding: font/*, model/* or a multipart without parts has no reader (KeyError
        # quarantined the message): kept as its bytes, decoded from base64 or quoted-printable.
        return item.get_payload(decode=True) or b""
    content = item.get_content()
    if isinstance(content, str):
        return content.encode("utf-8")
    if isinstance(content, ParsedEmail):
        return content.as_bytes()
    return content


def mail_parse(raw: bytes) -> ParsedMail:
    """Read one RFC 5322 message (``email`` with ``policy.default``); raises ``UnreadableMail``."""
    if not raw.strip():
        raise UnreadableMail("the file is empty")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise UnreadableMail(f"the message is larger than {MAX_MESSAGE_BYTES // (1024 * 1024)} MB")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError:
        # Fuzz finding (tests/requests_desk/test_fuzz_mail.py): a MIME tree nested about a thousand
        # levels deep overflowed the parser's recursion and the ingest stopped with a RecursionError.
        raise UnreadableMail(TOO_DEEP) from None
    if not message.keys():
        raise UnreadableMail("no e-mail headers found")
    sender = _header(message, "From")
    name, address = email.utils.parseaddr(sender)
    if "@" not in address:
        raise UnreadableMail("no sender address in the From header")
    message_id = _header(message, "Message-ID").strip()
    if not message_id:
        # Without a Message-ID the content itself identifies the message, so a rerun still skips it.
        message_id = f"<sha256-{hashlib.sha256(raw).hexdigest()}@ingest.invalid>"
    at = timezone.now()
    date_header = _header(message, "Date")
    if date_header:
        try:
            parsed = email.utils.parsedate_to_datetime(date_header)
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            if timezone.is_naive(parsed):
                parsed = timezone.make_aware(parsed, datetime.UTC)
            at = min(parsed, at)  # a sender's clock in the future does not shorten the deadline
    try:
        part = message.get_body(preferencelist=("plain", "html"))
        body = "" if part is None else part.get_content()
        if part is not None and part.get_content_type() == "text/html":
            body = strip_tags(body)
        if message.get_content_maintype() == "multipart":
            items = list(message.iter_attachments())
        else:
            items = [] if part is not None else [message]  # a message that is one file, e.g. a scan
        attachments = [
            IncomingAttachment(content=_part_bytes(leaf), content_type=_plain_text(leaf.get_content_type()))
            for item in items for leaf in _leaf_parts(item)
        ]
    except RecursionError:
        raise UnreadableMail(TOO_DEEP) from None
    except (LookupError, UnicodeError, ValueError, KeyError, AttributeError) as exc:
        raise UnreadableMail(f"the body cannot be decoded ({type(exc).__name__})") from None
    references = REFERENCE_ID_RE.findall(_header(message, "In-Reply-To") + " " + _header(message, "References"))
    return ParsedMail(
        message_id=message_id[:300], subject=_header(message, "Subject").strip(), sender_address=address.strip(),
        sender_name=name.strip(), at=at, body=body, references=references, attachments=attachments,
    )



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
            target = request_create(
                type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL,
                received_at=parsed.at, member=member_by_email(parsed.sender_address),
                requester_name=parsed.sender_name, requester_email=parsed.sender_address,
                subject=parsed.subject, description="", acknowledge=False,
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


@dataclass
class IngestReport:
    files: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    #: Another run held the directory's lock: this one read nothing.
    busy: bool = False
    #: Files removed from the directory after their message was kept (``remove_processed``).
    removed: int = 0

    def add(self, action: str) -> None:
        self.counts[action] = self.counts.get(action, 0) + 1

    def as_dict(self) -> dict:
        """Counts only (a Celery result): no file names, which may name a person."""
        return {"files": self.files, **self.counts, "removed": self.removed, "busy": self.busy}


def _quarantine(path: Path, reason: str) -> Path:
    """Move an unreadable file aside with a ``.reason.txt`` beside it; nothing is lost."""
    folder = path.parent / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    path.replace(target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


LOCK_FILE = ".ingest_mail.lock"


@contextlib.contextmanager
def _directory_lock(directory: Path):
    """Hold the directory's lock file for a run; yields False when another run holds it.

    Race: the scheduled job every few minutes, a run that takes longer than that, and someone
    running the command by hand. Two runs reading the same file at once could both find its
    Message-ID not yet kept and open two requests for one e-mail. ``flock`` is released by the
    kernel when the process ends, so a killed worker leaves no stale lock.
    """
    with open(directory / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_after_commit(path: Path, report: IngestReport) -> None:
    """Delete an ingested file once the transaction that kept its message has committed."""

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            report.removed += 1

    transaction.on_commit(remove)


def mail_directory_ingest(
    directory: Path, *, acknowledge: bool = False, on_file: Callable[[], None] | None = None,
    remove_processed: bool = False,
) -> IngestReport:
    """Ingest every ``*.eml`` file of ``directory`` (not its quarantine) in name order.

    Unreadable files are moved to ``directory/quarantine/`` with a ``.reason.txt`` beside each.
    Log lines carry counts and references only, never an address or a body.

    Without ``remove_processed`` the files stay where they are and a rerun skips them by
    Message-ID (reported as duplicates). With it (the scheduled job), a file whose message is
    kept, or was kept already, is deleted once that is committed: the message and its attachments
    are then stored encrypted on the request, and a plaintext copy left in a folder would escape
    encryption at rest (PP-26) and erasure (PP-02). A file that fails for another reason stays for
    the next run. One run at a time per directory (a lock file); a run that finds the lock held
    reads nothing and reports ``busy``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory.")
    report = IngestReport()
    with _directory_lock(directory) as locked:
        if not locked:
            report.busy = True
            logger.info("ingest_mail: another run is reading this directory; nothing done")
            return report
        _ingest_files(directory, report, acknowledge=acknowledge, on_file=on_file,
                      remove_processed=remove_processed)
    logger.info("ingest_mail: %s files, %s, %s removed", report.files, report.counts, report.removed)
    return report


def _ingest_files(directory: Path, report: IngestReport, *, acknowledge: bool, on_file, remove_processed: bool):
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
    for path in paths:
        report.files += 1
        try:
            raw = path.read_bytes()
            outcome = mail_ingest(raw, acknowledge=acknowledge)
        except UnreadableMail as exc:
            _quarantine(path, str(exc))
            report.quarantined.append((path.name, str(exc)))
            report.add("quarantined")
        except OSError as exc:
            reason = f"the file cannot be read ({type(exc).__name__})"
            if path.exists():
                _quarantine(path, reason)
            report.quarantined.append((path.name, reason))
            report.add("quarantined")
        else:
            report.add(outcome.action)
            logger.info("ingest_mail: message %s onto request %s", outcome.action, outcome.reference)
            if remove_processed:
                _remove_after_commit(path, report)
        if on_file:
            on_file()
