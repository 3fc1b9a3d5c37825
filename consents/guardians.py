"""Guardians of members under 14: added, verified, and consenting on the child's behalf (PP-38, PP-15)."""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Member, StaffUser
from consents.choices import ActorKind
from consents.ledger import (
    consent_record,
)
from consents.models import ConsentEvent, Guardian, PolicyVersion, Purpose

logger = logging.getLogger(__name__)

GUARDIAN_VERIFY_PERMISSION = "consents.change_guardian"


def guardian_add(*, member: Member, name: str, relation: str, contact: str) -> Guardian:
    """Record a minor member's parent or guardian, not yet verified (PP-38)."""
    guardian = Guardian(member=member, name=(name or "").strip(), relation=(relation or "").strip(),
                        contact=(contact or "").strip())
    errors: dict[str, list[str]] = {}
    age = member.age_on(timezone.localdate())
    if age is None:
        errors["member"] = [gettext("Guardians are recorded for individual members with a date of birth.")]
    elif age >= 18:
        errors["member"] = [
            gettext("This member is an adult: guardians are recorded for members under 18 (PP-38).")
        ]
    try:
        guardian.full_clean(exclude=["member", "verified_by"])
    except ValidationError as exc:
        for name_, messages in exc.message_dict.items():
            errors.setdefault(name_, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    guardian.save()
    return guardian


def guardian_verify(
    *, guardian: Guardian, evidence: str, verified_by: StaffUser, verified_at: datetime.datetime | None = None
) -> Guardian:
    """Record how a guardian's identity and relation were verified, by whom and when (PP-38)."""
    if not verified_by.has_perm(GUARDIAN_VERIFY_PERMISSION):
        raise PermissionDenied(gettext("Verifying a guardian needs the permission to change guardians."))
    evidence = (evidence or "").strip()
    if not evidence:
        raise ValidationError({"verification_evidence": gettext(
            "Say how the guardian was verified (document, call…)."
        )})
    with transaction.atomic():
        # Re-read under lock: two officers verifying at once must not both record a verification.
        current = Guardian.objects.select_for_update().get(pk=guardian.pk)
        if current.verified_at is not None:
            raise ValidationError({"verified_at": gettext("This guardian is already verified.")})
        current.verification_evidence = evidence
        current.verified_by = verified_by
        current.verified_at = verified_at or timezone.now()
        current.save(update_fields=["verification_evidence", "verified_by", "verified_at"])
    return current


def guardian_consent_record(
    *,
    guardian: Guardian,
    purpose: Purpose | str,
    action: str,
    channel: str,
    policy_version: PolicyVersion | None = None,
    evidence: str = "",
    occurred_at: datetime.datetime | None = None,
    staff_user: StaffUser | None = None,
) -> ConsentEvent:
    """A guardian's grant or withdrawal for their ward: a consent event with the guardian as actor."""
    return consent_record(
        member=guardian.member, purpose=purpose, action=action, policy_version=policy_version, channel=channel,
        actor_kind=ActorKind.GUARDIAN, evidence=evidence, guardian=guardian, staff_user=staff_user,
        occurred_at=occurred_at,
    )
