"""Writes on members' records: a review decision on an identity document, a verification."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.members.choices import ReviewStatus, VerificationLevel, VerificationMethod, VerificationOutcome
from accounts.members.models import Member, Verification


def identity_document_review(*, document, reviewer, status: str):
    """Record a review decision on an identity document: who decided and when (PP-06, PP-09)."""
    if status not in (ReviewStatus.ACCEPTED, ReviewStatus.REJECTED):
        raise ValidationError({"review_status": _("A review accepts or rejects the document.")})
    document.review_status = status
    document.reviewed_by = reviewer
    document.reviewed_at = timezone.now()
    document._history_user = reviewer
    document.save(update_fields=["review_status", "reviewed_by", "reviewed_at"])
    return document


_LEVEL_RANK = {"none": 0, "real_name": 1, "advanced": 2}


def verification_record(*, member: Member, level: str, method: str, outcome: str, reviewer=None):
    """Record one real-name or advanced verification and raise the member's level if it passed (PP-09, PP-10).

    A passed verification raises ``member.verification_level`` to ``level`` (never lowers it: a
    failed face check leaves an earlier advanced verification standing). Advanced certification is
    by face recognition (PP-10). Returns the new ``Verification``.
    """
    if level not in (VerificationLevel.REAL_NAME, VerificationLevel.ADVANCED):
        raise ValidationError({"level": _("A verification is real-name or advanced.")})
    if method not in VerificationMethod.values:
        raise ValidationError({"method": _("Unknown verification method.")})
    if outcome not in VerificationOutcome.values:
        raise ValidationError({"outcome": _("Unknown verification outcome.")})
    if level == VerificationLevel.ADVANCED and method != VerificationMethod.FACE_RECOGNITION:
        raise ValidationError({"method": _("Advanced certification is by face recognition (PP-10).")})
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
