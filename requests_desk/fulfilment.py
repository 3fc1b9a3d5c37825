"""Fulfilment of each type of request (issue 6, requirement 8): what "fulfil" does besides the status.

Every function here makes the ``fulfil`` transition through ``requests_desk.workflow.transition``
(so roles, the identity gate PP-30 and four eyes are checked there, once) and does the type's work
in the **same transaction**, then tells the requester with the ``fulfilment`` letter
(``requests_desk.letters``). If any step fails (a rule, the engine, the mail server) nothing is
recorded: the request stays where it was.

``request_fulfil`` picks the right one by type; screens and admin actions call it.

==========================  ===========================================================================
type                        fulfilment
==========================  ===========================================================================
access (PP-29)              the access package, generated from the data map, with an expiring link
correction                  the proposed change (``details["changes"]``) applied to the member with history
deletion (PP-29)            prepared by compliance, approved by a supervisor, erased by the retention
                            engine honouring legal holds and retention; the reply lists what was kept
consent withdrawal (PP-32)  a withdrawal event per purpose named in ``details["purposes"]``
account cancellation        the member is marked cancelled; ``anonymise_cancelled`` erases after the
(PP-33)                     grace period
underage report (PP-37)     confirmed by compliance: ``retention.jobs.under_14.purge_under_14`` reads
                            confirmed (fulfilled) reports and closes and erases the member
security report (PP-28)     needs a severity; routed to a compliance officer
complaint, dispute,         the reply
enquiry
==========================  ===========================================================================
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts import crypto, roles
from accounts.choices import MemberStatus
from accounts.datamap import Category, Erasure, Mask, personal_fields, sensitive_fields
from accounts.fields import EncryptedDateField
from accounts.masking import mask_value
from accounts.models import Member, StaffUser
from consents.choices import ActorKind, Channel, ConsentAction, PurposeKind
from consents.ledger import consent_record
from consents.models import Purpose
from requests_desk import access_package, letters, lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, Severity
from requests_desk.models import Message, Request
from requests_desk.permissions import DECIDE, WORK_QUEUE, require
from requests_desk.states import OPEN_STATES, Status
from retention.choices import ErasureTrigger, RunStatus
from retention.erasure import runner
from retention.erasure.plan import plan
from retention.models import ErasureRun, LegalHold

#: Member fields a correction may change: identity and contact data the member gave us (data map).
CORRECTABLE_CATEGORIES = frozenset({Category.IDENTITY, Category.CONTACT})


def _load(request: Request | int) -> Request:
    pk = request.pk if isinstance(request, Request) else request
    return Request.objects.select_related("member").get(pk=pk)


def _expect_type(request: Request, type_: str) -> None:
    if request.type != type_:
        raise ValidationError(f"Request {request.reference} is not a {RequestType(type_).label.lower()} request.")


def _expect_member(request: Request) -> Member:
    if request.member_id is None:
        raise ValidationError({"member": "Identify the member the request is about first."})
    return request.member


def _reply(request: Request, user, *, outcome: str, note: str, notify: bool) -> Message | None:
    """The fulfilment letter: what was done (``outcome``) and the staff member's own words."""
    if not notify:
        return None
    text = "\n\n".join(part for part in (outcome.strip(), (note or "").strip()) if part)
    return letters.letter_send(request=request, template="fulfilment", user=user, note=text)


def _fulfil(request: Request, user, note: str) -> Request:
    return workflow.transition(request=request, name="fulfil", user=user, note=note)


# --- Access (PP-29) -----------------------------------------------------------------------------------
def access_request_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Approve an access request: build the package and send the requester its expiring link."""
    request = _load(request)
    _expect_type(request, RequestType.ACCESS)
    _expect_member(request)
    if not notify:
        # The link's token is never stored: the letter is the only way the requester can get it.
        raise ValidationError("An access package is delivered by its letter (the link is not kept): send it.")
    built = None
    try:
        with transaction.atomic():
            updated = _fulfil(request, user, note)
            built = access_package.access_package_build(request=updated, user=user)
            hours = settings.ACCESS_PACKAGE_LINK_HOURS
            expires = timezone.localtime(built.package.expires_at)
            outcome = (
                "A copy of your personal data is ready: one file per data category, in JSON and CSV, with a "
                "README explaining them.\n"
                f"Download it here (the link works for {hours} hours, until {expires:%Y-%m-%d %H:%M %Z}):\n"
                f"{built.link}\n"
                "Every download is recorded. Keep the file safe: it contains your identity and account details."
            )
            sent = _reply(updated, user, outcome=outcome, note=note, notify=notify)
            if sent is not None and sent.channel == IntakeChannel.EMAIL:
                # Only the token's hash is kept (PP-29): the copy of the e-mail kept on the request
                # shows where the link was, not the link. (A postal letter keeps it: it is printed.)
                body = sent.body.replace(built.token, "<link token withheld: only its hash is kept>")
                Message.objects.filter(pk=sent.pk).update(body=body)
    except BaseException:
        if built is not None:
            access_package.package_file_discard(built.package)  # its row was rolled back
        raise
    return updated


# --- Correction ---------------------------------------------------------------------------------------
def correctable_fields() -> dict[str, str]:
    """Member fields a correction may change, with their labels: from the data map (identity, contact)."""
    found = {}
    for name, personal in personal_fields(Member).items():
        model_field = Member._meta.get_field(name)
        if (
            personal.category in CORRECTABLE_CATEGORIES
            and personal.exported
            and model_field.editable
            and not model_field.is_relation
        ):
            found[name] = personal.label
    return found


def _clean_change(member: Member, name: str, value):
    model_field = Member._meta.get_field(name)
    personal = personal_fields(Member)[name]
    text = "" if value is None else str(value).strip()
    if not text and not model_field.blank:
        raise ValidationError({name: "This value cannot be empty."})
    if personal.mask == Mask.EMAIL and text:
        validate_email(text)
    if name == "nationality":
        text = text.upper()
        if text and not (len(text) == 2 and text.isalpha()):
            raise ValidationError({name: "Give the two-letter ISO 3166 country code."})
    if isinstance(model_field, EncryptedDateField):
        try:
            cleaned = model_field.to_python(text) if text else None
        except ValueError:
            raise ValidationError({name: "Give the date as YYYY-MM-DD."}) from None
    elif isinstance(model_field, models.CharField | models.TextField):
        cleaned = model_field.clean(text, member)  # encrypted text too: plain text until saved
    else:
        cleaned = model_field.clean(text or None, member)
    if name == "date_of_birth" and cleaned is not None and cleaned > timezone.localdate():
        raise ValidationError({name: "A date of birth cannot be in the future."})
    return cleaned


def proposed_value(stored) -> str:
    """A value of ``details["changes"]``: plain text, or ``{"ciphertext": …}`` for a sensitive field."""
    if isinstance(stored, dict):
        return crypto.decrypt_str(stored["ciphertext"])
    return "" if stored is None else str(stored)


def correction_proposal_display(request: Request) -> list[tuple[str, str]]:
    """(label, value) of the proposed change for review screens; sensitive values masked (PP-25)."""
    labels = correctable_fields()
    sensitive = sensitive_fields(Member)
    shown = []
    for name, stored in ((request.details or {}).get("changes") or {}).items():
        value = proposed_value(stored)
        if name in sensitive:
            value = mask_value(value, sensitive[name].mask)
        shown.append((labels.get(name, name), value))
    return shown


def correction_propose(*, request: Request | int, changes: dict, user) -> Request:
    """Record the proposed change: ``details["changes"] = {field: new value}`` for correctable fields.

    Values are validated now (field-keyed errors), so the reviewer approves something that can be
    applied. The proposal is reviewed and applied by ``correction_fulfil`` (four eyes).
    """
    require(user, WORK_QUEUE, "record corrections")
    request = _load(request)
    _expect_type(request, RequestType.CORRECTION)
    member = _expect_member(request)
    allowed = correctable_fields()
    if not changes:
        raise ValidationError({"changes": "Name at least one field to correct."})
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationError({"changes": f"These fields cannot be corrected through a request: {', '.join(unknown)}. "
                                          f"Correctable: {', '.join(sorted(allowed))}."})
    errors: dict[str, list[str]] = {}
    proposal: dict[str, str] = {}
    for name, value in changes.items():
        try:
            cleaned = _clean_change(member, name, value)
        except ValidationError as exc:
            errors.setdefault(name, []).extend(exc.messages)
            continue
        text = cleaned.isoformat() if isinstance(cleaned, datetime.date) else ("" if cleaned is None else str(cleaned))
        # Sensitive values (e-mail, phone, date of birth) stay encrypted at rest in the proposal too (PP-26).
        proposal[name] = {"ciphertext": crypto.encrypt_str(text)} if name in sensitive_fields(Member) else text
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        if locked.status not in (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS):
            raise ValidationError(f"Cannot change the proposal: request {locked.reference} is "
                                  f"{locked.get_status_display().lower()}.")
        locked.details = {**(locked.details or {}), "changes": proposal, "proposed_by": user.pk,
                          "proposed_at": timezone.now().isoformat()}
        locked._history_user = user
        locked._change_reason = "correction proposed"
        locked.save(update_fields=["details"])
    return locked


def correction_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Apply the reviewed correction to the member (history records who and why) and tell the member."""
    request = _load(request)
    _expect_type(request, RequestType.CORRECTION)
    _expect_member(request)
    changes = (request.details or {}).get("changes") or {}
    if not changes:
        raise ValidationError({"changes": "There is no proposed change to apply: record it first."})
    with transaction.atomic():
        updated = _fulfil(request, user, note)
        member = Member.objects.select_for_update().get(pk=updated.member_id)
        labels = correctable_fields()
        errors: dict[str, list[str]] = {}
        for name, stored in changes.items():
            if name not in labels:
                errors.setdefault(name, []).append("This field cannot be corrected through a request.")
                continue
            try:
                setattr(member, name, _clean_change(member, name, proposed_value(stored)))
            except ValidationError as exc:
                errors.setdefault(name, []).extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        member._history_user = user
        member._change_reason = f"correction request {updated.reference}"
        # A full save: blind indexes and the birth year follow their source fields (pre_save / save()).
        member.save()
        details = {**(updated.details or {}), "applied_at": timezone.now().isoformat(), "applied_by": user.pk}
        Request.objects.filter(pk=updated.pk).update(details=details)  # details are not in the history
        updated.details = details
        applied = ", ".join(labels[name] for name in changes)
        _reply(updated, user, outcome=f"We have corrected the following information: {applied}.", note=note,
               notify=notify)
    return updated


# --- Deletion (PP-29) ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeptData:
    """What erasure keeps for a member, and why: a model's retained fields and their retention."""

    record_type: str
    categories: tuple[str, ...]
    fields: tuple[str, ...]
    days: int
    until: datetime.date

    def sentence(self) -> str:
        return (f"- {self.record_type} ({', '.join(self.categories)}): {', '.join(self.fields)} — kept for "
                f"{self.days} days (until {self.until:%Y-%m-%d}) because the law requires us to keep them; they are "
                "detached from your identity now and anonymised when that period ends.")


def active_hold(member: Member, today: datetime.date | None = None) -> LegalHold | None:
    today = today or timezone.localdate()
    return (
        LegalHold.objects.filter(member=member, released_at__isnull=True, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .order_by("starts_on", "pk")
        .first()
    )


def kept_after_erasure(*, counts: dict[str, int], closure: datetime.datetime) -> list[KeptData]:
    """From the data map: the member's records that erasure keeps under legal retention.

    ``counts`` are the engine's rows per model for this member (only models the member had rows in
    are listed); a model keeps rows when it declares fields ``RETAIN_THEN_PSEUDONYMISE`` in a
    category with a legal retention period (``settings.LEGAL_RETENTION_DAYS``) that still runs.
    """
    kept = []
    now = timezone.now()
    for p in plan():
        if p.is_history or not p.retention_days or not counts.get(p.label):
            continue
        until = closure + datetime.timedelta(days=p.retention_days)
        if until <= now:
            continue
        retained = [
            fp for fp in p.fields
            if fp.action == Erasure.RETAIN_THEN_PSEUDONYMISE and fp.personal.exported
            and not (p.is_subject and fp.is_identifier)  # the member number is replaced, not kept
        ]
        if not retained:
            continue
        categories = tuple(dict.fromkeys(str(Category(fp.personal.category).label) for fp in retained))
        kept.append(KeptData(
            record_type=str(p.model._meta.verbose_name_plural).capitalize(), categories=categories,
            fields=tuple(fp.personal.label for fp in retained), days=p.retention_days,
            until=timezone.localtime(until).date(),
        ))
    return kept


def _held_error(request: Request) -> ValidationError:
    return ValidationError({
        "member": f"The member of request {request.reference} is under a legal hold: their data cannot be erased "
                  "now (PP-29). Refuse the request naming the grounds (deletion_refuse_held), or wait until the "
                  "hold ends."
    })


def deletion_prepare(*, request: Request | int, user, note: str = "") -> Request:
    """Compliance prepares the deletion (``submit_for_approval``); a supervisor approves it (four eyes)."""
    require(user, DECIDE, "prepare deletions")
    request = _load(request)
    _expect_type(request, RequestType.DELETION)
    member = _expect_member(request)
    if active_hold(member) is not None:
        raise _held_error(request)
    return workflow.transition(request=request, name="submit_for_approval", user=user, note=note)


def deletion_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """A supervisor approves a prepared deletion; the retention engine erases the member (PP-02, PP-29).

    One transaction: the ``fulfil`` transition (supervisor, not the preparer, identity verified), an
    approved ``ErasureRun`` naming preparer and approver, the engine run (``DELETION_REQUEST``,
    the request's reference on the erasure record), and the reply listing what was kept and why. A
    member under a legal hold is not erased: the transaction rolls back and the error says so.
    """
    request = _load(request)
    _expect_type(request, RequestType.DELETION)
    member = _expect_member(request)
    if active_hold(member) is not None:
        raise _held_error(request)
    closure = member.cancelled_at or timezone.now()
    with transaction.atomic():
        updated = _fulfil(request, user, note)
        run = ErasureRun.objects.create(
            trigger=ErasureTrigger.DELETION_REQUEST, status=RunStatus.APPROVED, prepared_by_id=updated.prepared_by_id,
            approved_by=user, request_reference=updated.reference,
        )
        result = runner.erase_members(member_ids=[member.pk], trigger=ErasureTrigger.DELETION_REQUEST, run=run,
                                      request_reference=updated.reference)
        if result.held:  # a hold placed since the check above: the engine honoured it
            raise _held_error(updated)
        if result.failed:
            raise ValidationError(f"The erasure failed: {'; '.join(result.failed.values())}")
        kept = kept_after_erasure(counts=result.counts, closure=closure)
        summary = {
            "erasure_run": run.pk,
            "rows": dict(sorted(result.counts.items())),
            "kept": [{"records": k.record_type, "fields": list(k.fields), "days": k.days,
                      "until": k.until.isoformat()} for k in kept],
        }
        # QuerySet.update on purpose: saving the in-memory request would write its pre-erasure values
        # (name, e-mail, subject) back into a new history row. The summary holds no personal data.
        Request.objects.filter(pk=updated.pk).update(details={"erasure": summary})
        outcome = ["We have erased your personal data from our systems (PP-02)."]
        if kept:
            outcome.append("What we must keep, and why:")
            outcome.extend(k.sentence() for k in kept)
        else:
            outcome.append("Nothing was kept.")
        # The reply names nobody: the request row no longer points at a member, so the letter kept
        # on it must hold no personal data. The address is used to send it and is not stored.
        updated.requester_name = ""
        _reply(updated, user, outcome="\n".join(outcome), note=note, notify=notify)
    updated.details = {"erasure": summary}
    return updated


def deletion_refuse_held(*, request: Request | int, user, grounds: Iterable, note: str = "",
                         notify: bool = True) -> Request:
    """Refuse a deletion because the member is under a legal hold; the reply says the data is preserved.

    The hold's own reason stays internal (it may concern an investigation); the reply names its kind
    and the legal grounds chosen (PP-29, PP-36).
    """
    request = _load(request)
    _expect_type(request, RequestType.DELETION)
    member = _expect_member(request)
    if active_hold(member) is None:
        raise ValidationError({"member": "The member is under no legal hold: decide the deletion on its merits."})
    reason = ("Your personal data is under a legal hold: we are required to preserve it for legal proceedings "
              "or an authority's inquiry, and cannot delete it while the hold lasts.")
    text = "\n\n".join(part for part in (reason, (note or "").strip()) if part)
    return lifecycle.request_refuse(request=request, user=user, grounds=grounds, note=text, notify=notify)


# --- Consent withdrawal (PP-32) -----------------------------------------------------------------------
def consent_withdrawal_propose(*, request: Request | int, purposes: Iterable, user) -> Request:
    """Record which purposes the member withdraws: ``details["purposes"]`` (codes of additional purposes)."""
    require(user, WORK_QUEUE, "record consent withdrawals")
    codes = list(dict.fromkeys(p.code if isinstance(p, Purpose) else str(p) for p in purposes))
    if not codes:
        raise ValidationError({"purposes": "Name at least one purpose."})
    known = dict(Purpose.objects.filter(code__in=codes).values_list("code", "kind"))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise ValidationError({"purposes": f"Unknown purposes: {', '.join(unknown)}."})
    basic = [code for code in codes if known[code] == PurposeKind.BASIC]
    if basic:
        raise ValidationError({"purposes": f"Basic purposes cannot be withdrawn one by one (PP-04): "
                                           f"{', '.join(basic)}."})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=_load(request).pk)
        _expect_type(locked, RequestType.CONSENT_WITHDRAWAL)
        if locked.status not in OPEN_STATES:
            raise ValidationError(f"Request {locked.reference} is {locked.get_status_display().lower()}.")
        locked.details = {**(locked.details or {}), "purposes": codes}
        locked._history_user = user
        locked._change_reason = "purposes to withdraw recorded"
        locked.save(update_fields=["details"])
    return locked


def consent_withdrawal_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Write a withdrawal event in the ledger for each purpose named in ``details["purposes"]`` (PP-32).

    Channel *ticket*; the actor is the member when the member asked, otherwise a staff user on the
    member's behalf. Earlier grants stay in the ledger; the purpose reads as withdrawn from now on.
    """
    request = _load(request)
    _expect_type(request, RequestType.CONSENT_WITHDRAWAL)
    member = _expect_member(request)
    codes = list(dict.fromkeys((request.details or {}).get("purposes") or []))
    if not codes:
        raise ValidationError({"purposes": "Name the purposes the member withdraws (details['purposes'])."})
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=codes)}
    unknown = [code for code in codes if code not in purposes]
    if unknown:
        raise ValidationError({"purposes": f"Unknown purposes: {', '.join(unknown)}."})
    basic = [code for code in codes if purposes[code].kind == PurposeKind.BASIC]
    if basic:
        raise ValidationError({"purposes": f"Basic purposes cannot be withdrawn one by one (PP-04): "
                                           f"{', '.join(basic)}; the member may cancel the account instead."})
    actor = ActorKind.MEMBER if request.requester_kind == RequesterKind.MEMBER else ActorKind.STAFF
    with transaction.atomic():
        updated = _fulfil(request, user, note)
        for code in codes:
            consent_record(
                member=member, purpose=purposes[code], action=ConsentAction.WITHDRAW, policy_version=None,
                channel=Channel.TICKET, actor_kind=actor, staff_user=user,
                evidence=f"Request {updated.reference}",
            )
        names = ", ".join(purposes[code].name for code in codes)
        _reply(updated, user, note=note, notify=notify,
               outcome=f"Your consent is withdrawn, from now on, for: {names}. Processing before today stays lawful "
                       "(PP-32); services that need only the basic purposes continue as before.")
    return updated


# --- Account cancellation (PP-33) ---------------------------------------------------------------------
def member_cancel(*, member: Member, user, reason: str = "") -> Member:
    """Mark the member cancelled now (status and date, with a history row naming who and why).

    The service stops; ``retention.jobs.cancelled.anonymise_cancelled`` erases the member once
    ``CANCELLATION_GRACE_DAYS`` have passed, except data under legal hold or legal retention.
    """
    require(user, DECIDE, "cancel accounts")
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if locked.status in (MemberStatus.CANCELLED, MemberStatus.CLOSED):
            raise ValidationError({"member": f"Member {locked.member_number} is already "
                                             f"{locked.get_status_display().lower()}."})
        locked.status = MemberStatus.CANCELLED
        locked.cancelled_at = timezone.now()
        locked._history_user = user
        locked._change_reason = (reason or "account cancellation (PP-33)")[:100]
        locked.save(update_fields=["status", "cancelled_at"])
    return locked


def account_cancellation_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    request = _load(request)
    _expect_type(request, RequestType.ACCOUNT_CANCELLATION)
    member = _expect_member(request)
    with transaction.atomic():
        updated = _fulfil(request, user, note)
        cancelled = member_cancel(member=member, user=user, reason=f"cancellation request {updated.reference}")
        days = settings.CANCELLATION_GRACE_DAYS
        erase_on = timezone.localtime(cancelled.cancelled_at + datetime.timedelta(days=days)).date()
        _reply(updated, user, note=note, notify=notify,
               outcome=f"Your account is cancelled and the service has stopped. After {days} days (from "
                       f"{erase_on:%Y-%m-%d}) your personal data will be deleted or anonymised, except what the law "
                       "requires us to keep or what is under a legal hold (PP-33).")
    return updated


# --- Underage report (PP-37) --------------------------------------------------------------------------
def underage_report_confirm(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Compliance confirms that the reported member is under 14 (PP-37).

    Fulfilling the report is the confirmation ``retention.jobs.under_14.underage_confirmed_member_ids``
    reads (type ``underage_report``, status ``fulfilled``, member set): the next ``purge_under_14`` run
    closes the account and erases the member, with no legal-retention exception. ``details`` also
    records ``confirmed`` with who and when.
    """
    require(user, DECIDE, "confirm underage reports")
    request = _load(request)
    _expect_type(request, RequestType.UNDERAGE_REPORT)
    _expect_member(request)
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        locked.details = {**(locked.details or {}), "confirmed": True, "confirmed_by": user.pk,
                          "confirmed_at": timezone.now().isoformat()}
        locked._history_user = user
        locked._change_reason = "underage report confirmed"
        locked.save(update_fields=["details"])
        updated = _fulfil(locked, user, note)
        # The reporter may be a third party: the reply says what we do, nothing about the member.
        _reply(updated, user, note=note, notify=notify,
               outcome="Thank you for your report. We have confirmed it: the account is being closed and its data "
                       "deleted, as our policy requires for users under 14 (PP-37).")
    return updated


# --- Security report (PP-28) --------------------------------------------------------------------------
def compliance_officer_least_loaded() -> StaffUser | None:
    """The active compliance officer with the fewest open requests (one aggregate query)."""
    return (
        StaffUser.objects.filter(is_active=True, groups__name=roles.COMPLIANCE_OFFICER)
        .annotate(load=Count("assigned_requests", filter=Q(assigned_requests__status__in=list(OPEN_STATES))))
        .order_by("load", "pk")
        .first()
    )


def security_report_set_severity(*, request: Request | int, severity: str, user) -> Request:
    """Compliance grades a security report (PP-28); the severity decides its priority."""
    require(user, DECIDE, "grade security reports")
    if severity not in Severity.values:
        raise ValidationError({"severity": "Choose low, medium, high or critical."})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=_load(request).pk)
        _expect_type(locked, RequestType.SECURITY_REPORT)
        locked.severity = severity
        locked.priority = max(locked.priority, lifecycle.SEVERITY_PRIORITY[severity])
        locked._history_user = user
        locked._change_reason = "severity graded"
        locked.save(update_fields=["severity", "priority"])
    return locked


def security_report_route(*, request: Request | int, user) -> Request:
    """Make sure a compliance officer holds the report (PP-28); an agent's report is handed over."""
    request = _load(request)
    _expect_type(request, RequestType.SECURITY_REPORT)
    if request.assignee_id is not None and request.assignee.has_perm(DECIDE):
        return request
    officer = compliance_officer_least_loaded()
    if officer is None:
        raise ValidationError({"assignee": "No active compliance officer to route the security report to."})
    return lifecycle.request_assign(request=request, assignee=officer, user=user)


def security_report_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Close a security report as handled: it needs a severity and a compliance officer (PP-28)."""
    request = _load(request)
    _expect_type(request, RequestType.SECURITY_REPORT)
    if request.severity not in Severity.values:
        raise ValidationError({"severity": "A security report is fulfilled only once graded with a severity (PP-28)."})
    require(user, DECIDE, "fulfil security reports")
    with transaction.atomic():
        if request.status in OPEN_STATES:
            request = security_report_route(request=request, user=user)
        updated = _fulfil(request, user, note)
        _reply(updated, user, note=note, notify=notify,
               outcome="Thank you for reporting this security issue. Our compliance team has assessed and handled it.")
    return updated


# --- Other types --------------------------------------------------------------------------------------
def reply_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Complaints, disputes and enquiries: the answer is the reply itself."""
    request = _load(request)
    with transaction.atomic():
        updated = _fulfil(request, user, note)
        _reply(updated, user, outcome="", note=note, notify=notify)
    return updated


FULFILMENT = {
    RequestType.ACCESS: access_request_fulfil,
    RequestType.CORRECTION: correction_fulfil,
    RequestType.DELETION: deletion_fulfil,
    RequestType.CONSENT_WITHDRAWAL: consent_withdrawal_fulfil,
    RequestType.ACCOUNT_CANCELLATION: account_cancellation_fulfil,
    RequestType.UNDERAGE_REPORT: underage_report_confirm,
    RequestType.SECURITY_REPORT: security_report_fulfil,
    RequestType.COMPLAINT: reply_fulfil,
    RequestType.DISPUTE: reply_fulfil,
    RequestType.ENQUIRY: reply_fulfil,
}


def request_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Fulfil ``request`` the way its type needs (see the module docstring); one call for every screen."""
    request = _load(request)
    return FULFILMENT[RequestType(request.type)](request=request, user=user, note=note, notify=notify)
