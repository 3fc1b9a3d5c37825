"""Seeing what is masked: one sensitive value revealed, or one identity document downloaded, each
with a reason and one access-log row that holds no value (PP-10, PP-25)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.privacy import children, datamap
from accounts.privacy.masking import mask_value
from accounts.privacy.models import SensitiveAccessLog

REVEAL_PERMISSION = "accounts.reveal_sensitive"
DOWNLOAD_PERMISSION = "accounts.download_document"
MIN_REASON_LENGTH = 10


def member_number_of(obj: models.Model) -> str:
    """The member number an object is about, following its data-map subject path."""
    dm = datamap.declaration(type(obj))
    if dm and dm.subject == "self":
        return obj.member_number
    if dm and dm.subject == "member":
        return obj.member.member_number
    return ""


def _checked_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError(
            {"reason": _("Give a reason of at least %(count)s characters.") % {"count": MIN_REASON_LENGTH}}
        )
    return reason


def sensitive_value_reveal(
    *, user, obj: models.Model, field_name: str, reason: str, ip_address: str | None
) -> str:
    """Return the plaintext of one sensitive field and log who saw it and why (PP-25).

    Exactly one access-log row per reveal; the row holds no value. On a record of a member under 14
    today every personal field is sensitive (PP-01), so each can be revealed only this way.
    """
    if not user.has_perm(REVEAL_PERMISSION):
        raise PermissionDenied(_("Revealing sensitive values needs the reveal permission."))
    personal = children.sensitive_fields_of(obj, timezone.localdate()).get(field_name)
    if personal is None or personal.mask == datamap.Mask.FILE:
        raise ValidationError({"field": _("This field is not a revealable sensitive value.")})
    reason = _checked_reason(reason)
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
    personal = children.sensitive_fields_of(obj, timezone.localdate()).get(field_name)
    value = getattr(obj, field_name)
    return mask_value(value, personal.mask) if personal else ("" if value is None else str(value))


def identity_document_file_read(*, user, document, reason: str, ip_address: str | None) -> bytes:
    """Decrypt one identity document's file for download and log who took it and why (PP-10, PP-25).

    Exactly one access-log row (action DOWNLOAD) per download; the row holds no content.
    """
    if not user.has_perm(DOWNLOAD_PERMISSION):
        raise PermissionDenied(_("Downloading identity documents needs the download permission."))
    reason = _checked_reason(reason)
    if not document.file:
        raise ValidationError({"file": _("This document has no stored file.")})
    with document.file.open("rb") as handle:  # the storage decrypts (accounts.privacy.storage)
        content = handle.read()
    SensitiveAccessLog.objects.create(
        staff_user=user,
        action=SensitiveAccessLog.Action.DOWNLOAD,
        member_number=member_number_of(document),
        model_label=document._meta.label,
        object_id=str(document.pk),
        field_name="file",
        reason=reason,
        ip_address=ip_address,
    )
    return content
