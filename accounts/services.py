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


# --- Admin work on members' records (issue 3, requirements 2, 3 and 9) ----------------------------
DOWNLOAD_PERMISSION = "accounts.download_document"


def _checked_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if len(reason) < MIN_REASON_LENGTH:
        raise ValidationError({"reason": f"Give a reason of at least {MIN_REASON_LENGTH} characters."})
    return reason


def identity_document_file_read(*, user, document, reason: str, ip_address: str | None) -> bytes:
    """Decrypt one identity document's file for download and log who took it and why (PP-10, PP-25).

    Exactly one access-log row (action DOWNLOAD) per download; the row holds no content.
    """
    if not user.has_perm(DOWNLOAD_PERMISSION):
        raise PermissionDenied("Downloading identity documents needs the download permission.")
    reason = _checked_reason(reason)
    if not document.file:
        raise ValidationError({"file": "This document has no stored file."})
    with document.file.open("rb") as handle:  # the storage decrypts (accounts.storage)
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


def identity_document_review(*, document, reviewer, status: str):
    """Record a review decision on an identity document: who decided and when (PP-06, PP-09)."""
    from django.utils import timezone

    from accounts.choices import ReviewStatus

    if status not in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        raise ValidationError({"review_status": "A review accepts or rejects the document."})
    document.review_status = status
    document.reviewed_by = reviewer
    document.reviewed_at = timezone.now()
    document._history_user = reviewer
    document.save(update_fields=["review_status", "reviewed_by", "reviewed_at"])
    return document


# --- Verification (issue 3, requirement 3) ---------------------------------------------------------
_LEVEL_RANK = {"none": 0, "real_name": 1, "advanced": 2}


def verification_record(*, member: Member, level: str, method: str, outcome: str, reviewer=None):
    """Record one real-name or advanced verification and raise the member's level if it passed (PP-09, PP-10).

    A passed verification raises ``member.verification_level`` to ``level`` (never lowers it: a
    failed face check leaves an earlier advanced verification standing). Advanced certification is
    by face recognition (PP-10). Returns the new ``Verification``.
    """
    from django.db import transaction

    from accounts.choices import VerificationLevel, VerificationMethod, VerificationOutcome
    from accounts.models import Verification

    if level not in (VerificationLevel.REAL_NAME, VerificationLevel.ADVANCED):
        raise ValidationError({"level": "A verification is real-name or advanced."})
    if method not in VerificationMethod.values:
        raise ValidationError({"method": "Unknown verification method."})
    if outcome not in VerificationOutcome.values:
        raise ValidationError({"outcome": "Unknown verification outcome."})
    if level == VerificationLevel.ADVANCED and method != VerificationMethod.FACE_RECOGNITION:
        raise ValidationError({"method": "Advanced certification is by face recognition (PP-10)."})
    with transaction.atomic():
        # Lock the member: two reviewers recording at once would otherwise both read the old level
        # and the later save could write back a lower one over the other's raise.
        locked = Member.objects.select_for_update().get(pk=member.pk)
        verification = Verification.objects.create(
            member=locked, level=level, method=method, outcome=outcome, reviewer=reviewer
        )
        if outcome == VerificationOutcome.PASSED and _LEVEL_RANK[level] > _LEVEL_RANK[locked.verification_level]:
            locked.verification_level = level
            if reviewer is not None:
                locked._history_user = reviewer
            locked.save(update_fields=["verification_level"])
    member.verification_level = locked.verification_level
    return verification
