"""Fulfilling a correction request: the proposed change (``details["changes"]``), validated when
proposed, reviewed (four eyes) and applied to the member with history."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Member
from accounts.privacy import crypto
from accounts.privacy.datamap import Category, Mask, personal_fields, sensitive_fields
from accounts.privacy.fields import EncryptedDateField
from accounts.privacy.masking import mask_value
from requests_desk.choices import RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.models import Request
from requests_desk.permissions import WORK_QUEUE, require
from requests_desk.states import Status

#: Member fields a correction may change: identity and contact data the member gave us (data map).
CORRECTABLE_CATEGORIES = frozenset({Category.IDENTITY, Category.CONTACT})


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
        raise ValidationError({name: _("This value cannot be empty.")})
    if personal.mask == Mask.EMAIL and text:
        validate_email(text)
    if name == "nationality":
        text = text.upper()
        if text and not (len(text) == 2 and text.isalpha()):
            raise ValidationError({name: _("Give the two-letter ISO 3166 country code.")})
    if isinstance(model_field, EncryptedDateField):
        try:
            cleaned = model_field.to_python(text) if text else None
        except ValueError:
            raise ValidationError({name: _("Give the date as YYYY-MM-DD.")}) from None
    elif isinstance(model_field, models.CharField | models.TextField):
        cleaned = model_field.clean(text, member)  # encrypted text too: plain text until saved
    else:
        cleaned = model_field.clean(text or None, member)
    if name == "date_of_birth" and cleaned is not None and cleaned > timezone.localdate():
        raise ValidationError({name: _("A date of birth cannot be in the future.")})
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
    require(user, WORK_QUEUE, gettext_lazy("record corrections"))
    request = load_request(request)
    expect_type(request, RequestType.CORRECTION)
    member = expect_member(request)
    allowed = correctable_fields()
    if not changes:
        raise ValidationError({"changes": _("Name at least one field to correct.")})
    unknown = sorted(set(changes) - set(allowed))
    if unknown:
        raise ValidationError({"changes": _("These fields cannot be corrected through a request: %(unknown)s. "
                                            "Correctable: %(allowed)s.") % {
            "unknown": ", ".join(unknown), "allowed": ", ".join(sorted(allowed))}})
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
            raise ValidationError(_("Cannot change the proposal: request %(reference)s is %(status)s.") % {
                "reference": locked.reference, "status": locked.get_status_display().lower()})
        locked.details = {**(locked.details or {}), "changes": proposal, "proposed_by": user.pk,
                          "proposed_at": timezone.now().isoformat()}
        locked._history_user = user
        locked._change_reason = "correction proposed"
        locked.save(update_fields=["details"])
    return locked


def correction_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Apply the reviewed correction to the member (history records who and why) and tell the member."""
    request = load_request(request)
    expect_type(request, RequestType.CORRECTION)
    expect_member(request)
    changes = (request.details or {}).get("changes") or {}
    if not changes:
        raise ValidationError({"changes": _("There is no proposed change to apply: record it first.")})
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
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
        # Labels, not values: the letter names what changed (translated when the labels are).
        reply(updated, user, note=note, notify=notify, template="correction",
              extra={"fields": [labels[name] for name in changes]})
    return updated
