"""A request's life on the desk: intake, the member and the identity gate, fees, assignment, and the
transitions that tell the requester (extension, refusal).

Status changes are not made here: they go through ``requests_desk.workflow.transition`` (design
decision 4). Services that pair a transition with a reply (extension, refusal) call the workflow and
``requests_desk.letters`` inside one transaction, so a failed e-mail leaves the request as it was.

No personal data in exceptions or log lines (style rule 6): requests are named by reference.
"""

from __future__ import annotations

import datetime
import logging
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.languages import detect_language, member_language, supported
from accounts.models import Member
from requests_desk import letters, selectors, workflow
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType, Severity, VerificationMethod
from requests_desk.models import IdentityCheck, Request, new_reference
from requests_desk.permissions import DECIDE, WORK_QUEUE, require
from requests_desk.states import OPEN_STATES

logger = logging.getLogger(__name__)

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
        raise ValidationError(_("Cannot %(action)s: request %(reference)s is %(status)s.") % {
            "action": what, "reference": request.reference, "status": request.get_status_display().lower()})


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
    language: str = "",
) -> Request:
    """Record a new request (status new) with its due date, repeat flag and routing.

    - due date: received + ``REQUEST_DUE_DAYS`` (PP-34), through ``workflow.due_date_for``;
    - repeat: an earlier request of the same type by the same member within
      ``REQUEST_REPEAT_WINDOW_DAYS`` sets ``is_repeat`` (PP-31);
    - complaint: names the request it concerns (PP-34);
    - security report: needs a severity, gets a priority from it and is assigned to the least-loaded
      compliance officer (PP-28);
    - ``acknowledge``: send the acknowledgement letter with the reference and due date;
    - language of its letters (issue 16): ``intake_language``, unless the caller names one.
    """
    if type not in RequestType.values:
        raise ValidationError({"type": _("Unknown request type.")})
    if requester_kind not in RequesterKind.values:
        raise ValidationError({"requester_kind": _("Unknown requester kind.")})
    if channel not in IntakeChannel.values:
        raise ValidationError({"channel": _("Unknown intake channel.")})
    if user is not None:
        require(user, WORK_QUEUE, gettext_lazy("record requests"))
    now = timezone.now()
    received_at = received_at or now
    if received_at > now + datetime.timedelta(minutes=5):
        raise ValidationError({"received_at": _("A request cannot be received in the future.")})
    if type == RequestType.COMPLAINT and concerns is None:
        raise ValidationError({"concerns": _("A complaint names the request it concerns (PP-34).")})
    if concerns is not None and type != RequestType.COMPLAINT:
        raise ValidationError({"concerns": _("Only a complaint concerns another request.")})
    if requester_kind in ACTING_FOR_MEMBER and type in (RequestType.SECURITY_REPORT, RequestType.UNDERAGE_REPORT):
        raise ValidationError({"requester_kind": _("Reports are made by the member or a third party.")})
    assignee = None
    if type == RequestType.SECURITY_REPORT:
        if severity not in Severity.values:
            raise ValidationError({"severity": _("A security report needs a severity (PP-28).")})
        priority = max(priority or Priority.NORMAL, SEVERITY_PRIORITY[severity])
        assignee = selectors.compliance_officer_least_loaded()
    elif severity:
        raise ValidationError({"severity": _("Only security reports carry a severity.")})
    if priority is not None and priority not in Priority.values:
        raise ValidationError({"priority": _("Unknown priority.")})

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
            language=supported(language) or intake_language(member=member, text=f"{subject}\n{description}"),
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


def intake_language(*, member: Member | None, text: str = "", charsets=()) -> str:
    """The language a new request's letters use (issue 16): the member's recorded preference; for a
    request without a member or a preference, the language of the incoming message (its script, its
    declared charset: a Chinese mail gets a Chinese acknowledgement); else ``DEFAULT_LETTER_LANGUAGE``."""
    if member is not None and supported(member.preferred_language):
        return member.preferred_language
    return detect_language(text=text, charsets=charsets) or member_language(None)


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
    require(user, WORK_QUEUE, gettext_lazy("identify members on requests"))
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, gettext_lazy("change the member"))
        if locked.identity_checks.exists() and locked.member_id != member.pk:
            # The verification was made against the earlier member: it must not carry over.
            raise ValidationError({"member": _("The requester was already verified against another member.")})
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
    require(user, WORK_QUEUE, gettext_lazy("record identity checks"))
    if method not in VerificationMethod.values:
        raise ValidationError({"method": _("Unknown verification method.")})
    evidence = (evidence or "").strip()
    authority_evidence = (authority_evidence or "").strip()
    if len(evidence) < MIN_TEXT:
        raise ValidationError({"evidence": _("Describe the evidence the identity was verified with.")})
    with transaction.atomic():
        locked = Request.objects.select_for_update(of=("self",)).select_related("member").get(pk=request.pk)
        _open(locked, gettext_lazy("record an identity check"))
        if locked.requester_kind == RequesterKind.THIRD_PARTY:
            raise ValidationError(
                {"method": _("A third-party reporter is not the member: their identity does not open the gate.")}
            )
        if locked.member_id is None:
            raise ValidationError(
                {"method": _("Identify the member first: the requester is verified against the member (PP-30).")}
            )
        if locked.requester_kind in ACTING_FOR_MEMBER:
            if len(authority_evidence) < MIN_TEXT:
                raise ValidationError({
                    "authority_evidence": _("A guardian or an authorised agent must show their authority to act "
                                          "for the member (PP-15).")
                })
            if locked.requester_kind == RequesterKind.GUARDIAN:
                age = locked.member.age_on(timezone.localdate())
                if age is not None and age >= 18:
                    raise ValidationError(
                        {"authority_evidence": _("The member is an adult: a guardian cannot act for them (PP-15).")}
                    )
        elif authority_evidence:
            raise ValidationError({"authority_evidence": _("Authority evidence is for guardians and agents only.")})
        check = IdentityCheck(
            request=locked, method=method, evidence=evidence, authority_evidence=authority_evidence,
            verified_by=user, verified_at=verified_at or timezone.now(),
        )
        check._history_user = user
        check.save()
    return check


# --- Fees (PP-31) --------------------------------------------------------------------------------------
def request_fee_record(*, request: Request, amount, reason: str, user, notify: bool = True) -> Request:
    """Record a reasonable fee for a repeated or onerous request, with its reason (PP-31).

    ``notify``: the fee notice tells the requester the amount and why, in the request's language, in
    the same transaction (a letter that cannot be sent leaves the fee unrecorded). A zero fee
    sends no notice.
    """
    require(user, DECIDE, gettext_lazy("record fees"))
    try:
        amount = Decimal(str(amount))
    except (InvalidOperation, ValueError):
        raise ValidationError({"fee_amount": _("Enter the fee as a number.")}) from None
    if not amount.is_finite() or amount < 0:
        raise ValidationError({"fee_amount": _("A fee is zero or more.")})
    reason = (reason or "").strip()
    if len(reason) < MIN_TEXT:
        raise ValidationError({"fee_reason": _("Say why a fee is charged: repeated or onerous (PP-31).")})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, gettext_lazy("record a fee"))
        locked.fee_amount = amount
        locked.fee_reason = reason
        locked._history_user = user
        locked._change_reason = "fee recorded"
        locked.save(update_fields=["fee_amount", "fee_reason"])
        if notify and amount > 0:
            letters.letter_send(request=locked, template="fee_notice", user=user, note=reason,
                                extra={"fee_amount": amount, "currency": settings.REQUEST_FEE_CURRENCY})
    return locked


# --- The language of the letters (issue 16) ----------------------------------------------------------
def request_language_set(*, request: Request, language: str, user) -> Request:
    """The agent changes the language of the request's next letters (history names who and when).

    Letters already sent stay as they were; the next one is written in ``language``.
    """
    require(user, WORK_QUEUE, "change the language of letters")
    code = supported(language)
    if code is None:
        raise ValidationError({"language": "Choose one of the languages letters are written in."})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        if locked.language == code:
            return locked
        locked.language = code
        locked._history_user = user
        locked._change_reason = f"letter language: {code}"
        locked.save(update_fields=["language"])
    return locked


# --- Assignment (requirement 5; "take next" is in requests_desk.queue) --------------------------------
def request_assign(*, request: Request, assignee, user) -> Request:
    """Give an open request to ``assignee`` (or release it with ``None``)."""
    require(user, WORK_QUEUE, gettext_lazy("assign requests"))
    if assignee is not None and not assignee.has_perm(WORK_QUEUE):
        raise ValidationError({"assignee": _("The assignee does not work the request queue.")})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        _open(locked, gettext_lazy("assign"))
        locked.assignee = assignee
        locked._history_user = user
        locked._change_reason = "assigned" if assignee else "released"
        locked.save(update_fields=["assignee", locked.reminders_recheck()])  # a new assignee's reminders
    return locked


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


def request_refuse(*, request: Request, user, grounds, note: str = "", notify: bool = True,
                   ground_records=(), letter_note: str | None = None, letter_extra: dict | None = None) -> Request:
    """Refuse naming legal grounds (the ``refuse`` transition); the reply states each ground (PP-35/36).

    ``ground_records``: approved processing on a legal ground in force for the member (PP-17), cited
    with its ground and reference. ``letter_note``/``letter_extra``: what the letter says when it
    differs from the transition's note (a caller whose reason the letter template words itself).
    """
    with transaction.atomic():
        updated = workflow.transition(request=request, name="refuse", user=user, note=note, grounds=list(grounds),
                                      ground_records=list(ground_records))
        if notify:
            letters.letter_send(request=updated, template="refusal", user=user,
                                note=note if letter_note is None else letter_note, extra=letter_extra)
    return updated
