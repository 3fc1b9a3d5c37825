"""Writes of the accounts app."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models

from accounts import datamap
from accounts.masking import mask_value
from accounts.models import Member, SensitiveAccessLog

REVEAL_PERMISSION = "accounts.reveal_sensitive"
MIN_REASON_LENGTH = 10


def member_number_of(obj: models.Model) -> str:
    """The member number an object is about, following its data-map subject path."""
    dm = datamap.declaration(type(obj))
    if isinstance(obj, Member):
        return obj.member_number
    if dm and dm.subject == "member":
        return obj.member.member_number
    return ""


def sensitive_value_reveal(
    *, user, obj: models.Model, field_name: str, reason: str, ip_address: str | None
) -> str:
    """Return the plaintext of one sensitive field and log who saw it and why (PP-25).

    Exactly one access-log row per reveal; the row holds no value.
    """
    if not user.has_perm(REVEAL_PERMISSION):
        raise PermissionDenied("Revealing sensitive values needs the reveal permission.")
    personal = datamap.sensitive_fields(type(obj)).get(field_name)
    if personal is None or personal.mask == datamap.Mask.FILE:
        raise ValidationError({"field": "This field is not a revealable sensitive value."})
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError({"reason": f"Give a reason of at least {MIN_REASON_LENGTH} characters."})
    value = getattr(obj, field_name)
    SensitiveAccessLog.objects.create(
        staff_user=user,
        action=SensitiveAccessLog.Action.REVEAL,
        member_number=member_number_of(obj),
        model_label=obj._meta.label,
        object_id=str(obj.pk),
        field_name=field_name,
        reason=reason,
        ip_address=ip_address,
    )
    return "" if value is None else str(value)


def masked(obj: models.Model, field_name: str) -> str:
    personal = datamap.sensitive_fields(type(obj)).get(field_name)
    value = getattr(obj, field_name)
    return mask_value(value, personal.mask) if personal else ("" if value is None else str(value))
