"""Outbound replies rendered from templates and kept on the request (PP-14, PP-34, PP-35, PP-36, PP-41).

Each letter is a whole letter per language (issue 16, docs/decisions.md): the English one is
``templates/requests_desk/letters/<name>.txt``, the Chinese one ``.../letters/zh-hans/<name>.txt``
(and ``<name>.html`` when present, sent as the HTML alternative). It is written in the request's
language (``Request.language``: the member's preference, else detected from the message at intake,
else ``DEFAULT_LETTER_LANGUAGE``) and rendered under ``translation.override`` of it, so the labels
and dates it shows follow that language too. Every letter names the official contact addresses
from the settings (PP-41) and the request's public reference in its subject, so the requester's
reply threads back onto the request when ``ingest_mail`` reads it.

``letter_send`` records the outbound ``Message`` and sends the e-mail in one transaction: if the
mail server refuses, no message is recorded as sent. A request without an e-mail address (phone or
letter intake) gets its letter recorded on the letter channel, to be printed and posted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import make_msgid
from django.db import transaction
from django.template import TemplateDoesNotExist
from django.template.loader import select_template
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.languages import CHINESE, ENGLISH, default_letter_language, localized_templates, supported
from requests_desk import workflow
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind
from requests_desk.models import Message, Request
from requests_desk.permissions import DECIDE, WORK_QUEUE, require

LETTER_DIR = "requests_desk/letters"


@dataclass(frozen=True)
class Letter:
    name: str
    label: str  # for staff (the desk's letter list), translated by the catalogue
    #: Subject per language, formatted with the request's reference.
    subjects: dict[str, str] = field(default_factory=dict)
    #: An agent may pick it on the request page; the others carry what a fulfilment step knows
    #: (a download link, the fields corrected, what erasure kept) and are sent by that step.
    manual: bool = True

    def subject(self, language: str) -> str:
        return self.subjects.get(language) or self.subjects[ENGLISH]


#: The confirmations of a fulfilled request share the fulfilment letter's subject: the requester
#: (and their mail filters) see one kind of "done" message, whichever type the request was.
DONE_EN = "[{reference}] Your request has been completed"
DONE_ZH = "[{reference}] 您的请求已处理完毕"

LETTERS: dict[str, Letter] = {
    letter.name: letter
    for letter in (
        Letter("acknowledgement", _("Acknowledgement of receipt"), {
            ENGLISH: "[{reference}] We have received your request",
            CHINESE: "[{reference}] 我们已收到您的请求"}),
        Letter("verification_request", _("Request to verify identity"), {
            ENGLISH: "[{reference}] Please confirm your identity",
            CHINESE: "[{reference}] 请确认您的身份"}),
        Letter("fulfilment", _("Request fulfilled"), {ENGLISH: DONE_EN, CHINESE: DONE_ZH}),
        Letter("refusal", _("Refusal with grounds"), {
            ENGLISH: "[{reference}] Our decision on your request",
            CHINESE: "[{reference}] 关于您请求的处理决定"}),
        Letter("extension", _("Extension of the deadline"), {
            ENGLISH: "[{reference}] We need more time for your request",
            CHINESE: "[{reference}] 我们需要更多时间处理您的请求"}),
        Letter("fee_notice", _("Fee notice"), {
            ENGLISH: "[{reference}] A fee for your request",
            CHINESE: "[{reference}] 关于您请求的收费通知"}, manual=False),
        Letter("access_package", _("Access package ready"), {
            ENGLISH: DONE_EN,
            CHINESE: DONE_ZH}, manual=False),
        Letter("correction", _("Correction confirmation"), {
            ENGLISH: DONE_EN,
            CHINESE: DONE_ZH}, manual=False),
        Letter("deletion", _("Deletion confirmation"), {
            ENGLISH: DONE_EN,
            CHINESE: DONE_ZH}, manual=False),
        Letter("cancellation", _("Cancellation confirmation"), {
            ENGLISH: DONE_EN,
            CHINESE: DONE_ZH}, manual=False),
    )
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str | None
    language: str


def letter_language(request: Request) -> str:
    """The language of ``request``'s letters: the one recorded on it, else the platform's default."""
    return supported(request.language) or default_letter_language()


def _grounds(request: Request) -> list[dict]:
    """The refusal grounds in the active language: the policy's wording, translated by the catalogue."""
    if not request.pk:
        return []
    grounds = [{"wording": gettext(g.wording), "section": g.section, "reference": ""}
               for g in request.refusal_grounds.order_by("use", "position")]
    # PP-17: processing on a legal ground, stated with its reference.
    grounds += [
        {"wording": gettext(r.ground.wording), "section": r.ground.section, "reference": r.reference}
        for r in request.refusal_ground_records.select_related("ground").order_by("pk")
    ]
    return grounds


def letter_context(request: Request, *, note: str = "", extra: dict | None = None) -> dict:
    """What every letter may show; call it under ``translation.override`` of the letter's language."""
    return {
        "request": request,
        "reference": request.reference,
        "type_label": request.get_type_display(),
        "requester_name": request.requester_name,
        "received_on": timezone.localtime(request.received_at).date(),
        "due_on": timezone.localtime(request.due_at).date(),
        "note": (note or "").strip(),
        "grounds": _grounds(request),
        "requests_email": settings.OFFICIAL_REQUESTS_EMAIL,
        "complaints_email": settings.OFFICIAL_COMPLAINTS_EMAIL,
        "due_days": settings.REQUEST_DUE_DAYS,
        **(extra or {}),
    }


def letter_render(*, request: Request, template: str, note: str = "", extra: dict | None = None) -> Rendered:
    letter = LETTERS.get(template)
    if letter is None:
        raise ValidationError({"template": "Unknown letter template."})
    if template == "refusal" and not (request.refusal_grounds.exists() or request.refusal_ground_records.exists()):
        raise ValidationError({"template": "A refusal letter states the grounds: refuse with grounds first."})
    language = letter_language(request)
    with translation.override(language):
        context = letter_context(request, note=note, extra=extra)
        text = select_template(localized_templates(f"{LETTER_DIR}/{template}.txt", language)).render(context)
        try:
            html_template = select_template(localized_templates(f"{LETTER_DIR}/{template}.html", language))
        except TemplateDoesNotExist:
            html = None
        else:
            html = html_template.render(context)
    return Rendered(subject=letter.subject(language).format(reference=request.reference), text=text, html=html,
                    language=language)


#: Letters anyone working the queue may send before the requester's identity is verified: they
#: say that the request arrived and how to prove who one is, and nothing about the account.
BEFORE_VERIFICATION = frozenset({"acknowledgement", "verification_request"})
#: Letters that carry a compliance decision the workflow allows before verification: a refusal
#: (e.g. the identity could not be verified, PP-36), an extension of the deadline (PP-34) and the
#: notice of a fee compliance decided to charge (PP-31).
DECISION_LETTERS = frozenset({"refusal", "extension", "fee_notice"})


def identity_gate_applies(request: Request) -> bool:
    """Whether letters on ``request`` wait for the requester's identity check (PP-14, PP-30).

    They do for the types about the member's own data (``workflow.NEEDS_IDENTITY``) and for any
    request already linked to a member (an enquiry or complaint about a known account), unless the
    requester is a third-party reporter, who is not the member and can never be verified.
    """
    if request.requester_kind == RequesterKind.THIRD_PARTY:
        return False
    return request.type in workflow.NEEDS_IDENTITY or request.member_id is not None


def letter_identity_gate(*, request: Request, template: str, note: str, user) -> None:
    """Refuse a letter that could disclose account data to someone whose identity is not verified.

    PP-14 promises that identity is verified before account data is discussed; the workflow only
    enforced it at fulfilment (PP-30). A letter is where data leaves the building, and the free
    text of a letter is where an agent could tell an impostor something about the account. So,
    until an identity check is recorded on a request the gate applies to
    (``identity_gate_applies``):

    - only the acknowledgement and the verification request may be sent by anyone who works the
      queue. The refusal and extension letters go out only from a user who decides requests
      (compliance), as their decisions do. The fulfilment letter is never sent for a type that
      needs verification (nothing is fulfilled before it, PP-30); for other types (an enquiry
      about a known account) only compliance, who fulfil them, send it;
    - a free-text note on any letter is refused unless the sender decides requests (compliance
      officers and supervisors): they are trained and accountable for what is disclosed, and need
      it, e.g. to say which document to send or why the deadline moves. An agent is refused with
      the reason, and the system (no user) never adds free text before verification.

    Raises ``ValidationError`` keyed by the form field (``template`` or ``note``).
    """
    if not identity_gate_applies(request) or request.identity_checks.exists():
        return
    may_decide = user is not None and user.has_perm(DECIDE)
    decided = may_decide and (template in DECISION_LETTERS or request.type not in workflow.NEEDS_IDENTITY)
    if template not in BEFORE_VERIFICATION and not decided:
        allowed = " and ".join(f"\u201c{LETTERS[name].label}\u201d" for name in sorted(BEFORE_VERIFICATION))
        raise ValidationError({"template": (
            f"The requester's identity is not verified yet: only the {allowed} letters may be sent until "
            "a verification is recorded (PP-14, PP-30)."
        )})
    if (note or "").strip() and not may_decide:
        raise ValidationError({"note": (
            "The requester's identity is not verified yet: additional text could disclose account data to "
            "someone who is not the member, so only compliance (who decide requests) may add it before a "
            "verification is recorded (PP-14). Send the letter without it, or record the verification first."
        )})


def message_record_outbound(
    *, request: Request, subject: str, body: str, template: str, user, channel: str,
    source_message_id: str = "",
) -> Message:
    """Keep one outbound letter on its request (called by ``letter_send``)."""
    return Message.objects.create(
        request=request, direction=MessageDirection.OUTBOUND, channel=channel, template=template,
        subject=subject[:300], body=body, sender=user, at=timezone.now(), source_message_id=source_message_id[:300],
    )


def letter_send(
    *, request: Request, template: str, user, note: str = "", extra: dict | None = None
) -> Message:
    """Render letter ``template`` for ``request``, keep it as an outbound message and e-mail it.

    Sent from ``DEFAULT_FROM_EMAIL`` with the official requests address as Reply-To (PP-41). The
    recipient is the requester's stored address; it is never shown or logged. Before the requester's
    identity is verified, ``letter_identity_gate`` limits which letters and whose free text go out.
    """
    if user is not None:
        require(user, WORK_QUEUE, "send replies")
    rendered = letter_render(request=request, template=template, note=note, extra=extra)
    letter_identity_gate(request=request, template=template, note=note, user=user)
    address = request.requester_email
    with transaction.atomic():
        if not address:
            return message_record_outbound(
                request=request, subject=rendered.subject, body=rendered.text, template=template, user=user,
                channel=IntakeChannel.LETTER,
            )
        message_id = make_msgid(domain="requests.invalid")
        message = message_record_outbound(
            request=request, subject=rendered.subject, body=rendered.text, template=template, user=user,
            channel=IntakeChannel.EMAIL, source_message_id=message_id,
        )
        mail = EmailMultiAlternatives(
            subject=rendered.subject, body=rendered.text, from_email=settings.DEFAULT_FROM_EMAIL, to=[address],
            reply_to=[settings.OFFICIAL_REQUESTS_EMAIL], headers={"Message-ID": message_id},
        )
        if rendered.html:
            mail.attach_alternative(rendered.html, "text/html")
        # Raises on failure: the transaction rolls the recorded message back.
        mail.send(fail_silently=False)
    return message


def letter_choices() -> list[tuple[str, str]]:
    """The letters an agent may pick on the request page."""
    return [(letter.name, letter.label) for letter in LETTERS.values() if letter.manual]
