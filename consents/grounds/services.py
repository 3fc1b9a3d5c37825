"""Writes of processing on legal grounds (PP-17): record, approve (four eyes), end.

A compliance officer records; a supervisor, another person, approves; a compliance officer (or
the supervisor) ends it early with a reason. Each step writes a history row naming who did it.
A decided step re-reads the record under ``select_for_update()``: two supervisors approving the
same record at once are serialised, and the second is refused.
"""

from __future__ import annotations

import datetime
import logging

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Member, ProductLine
from consents.choices import GroundUse
from consents.grounds.models import ProcessingOnGround
from consents.models import LegalGround, Purpose

logger = logging.getLogger(__name__)

RECORD_PERMISSION = "consents.add_processingonground"
APPROVE_PERMISSION = "consents.approve_processingonground"
END_PERMISSION = "consents.end_processingonground"


def processing_ground_check(
    *, purpose: Purpose | None, member: Member | None, product_line: ProductLine | None,
    ground: LegalGround | None, reference: str, starts_on, ends_on,
) -> None:
    """The rules of a record whoever enters it (the admin form asks before saving): field-keyed errors."""
    errors: dict[str, str] = {}
    if purpose is None:
        errors["purpose"] = gettext("Name the purpose processed on this ground.")
    if (member is None) == (product_line is None):
        errors["member"] = gettext("Name one member, or a product line whose members it covers (not both).")
    if ground is None:
        errors["ground"] = gettext("Name the legal ground of section I(V)3 (PP-17).")
    elif ground.use != GroundUse.CONSENT_EXCEPTION:
        errors["ground"] = (gettext(
            "%(section)s (%(position)s) is not one of the eleven grounds of section I(V)3 for processing without "
            "consent (PP-17)."
        ) % {"section": ground.section, "position": ground.position})
    if not reference:
        errors["reference"] = gettext(
            "Give the law, contract or request this rests on (e.g. an article or case number)."
        )
    if not isinstance(starts_on, datetime.date):
        errors["starts_on"] = gettext("Say from which day it applies.")
    elif ends_on is not None and ends_on < starts_on:
        errors["ends_on"] = gettext(
            "The last day (%(ends_on)s) is before the first (%(starts_on)s)."
        ) % {"ends_on": f"{ends_on:%Y-%m-%d}", "starts_on": f"{starts_on:%Y-%m-%d}"}
    if errors:
        raise ValidationError(errors)


def processing_ground_record(
    *,
    purpose: Purpose,
    ground: LegalGround,
    reference: str,
    user,
    starts_on: datetime.date,
    ends_on: datetime.date | None = None,
    member: Member | None = None,
    product_line: ProductLine | None = None,
) -> ProcessingOnGround:
    """Record that ``purpose`` is processed on ``ground`` for a member or a product line's members.

    Not in force until another person with the supervisor's permission approves it.
    """
    if not user.has_perm(RECORD_PERMISSION):
        raise PermissionDenied(gettext("Recording processing on a legal ground is compliance work."))
    reference = (reference or "").strip()
    processing_ground_check(purpose=purpose, member=member, product_line=product_line, ground=ground,
                            reference=reference, starts_on=starts_on, ends_on=ends_on)
    record = ProcessingOnGround(
        purpose=purpose, member=member, product_line=product_line, ground=ground, reference=reference,
        starts_on=starts_on, ends_on=ends_on, recorded_by=user,
    )
    record._history_user = user
    record.save()
    logger.info("processing on ground %s recorded by staff %s", record.pk, user.pk)
    return record


def _lock(record: ProcessingOnGround | int) -> ProcessingOnGround:
    pk = record.pk if isinstance(record, ProcessingOnGround) else record
    return ProcessingOnGround.objects.select_for_update().get(pk=pk)


def processing_ground_approve(*, record: ProcessingOnGround | int, user,
                              now: datetime.datetime | None = None) -> ProcessingOnGround:
    """A supervisor approves a record someone else made (four eyes); it is in force from then."""
    if not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(gettext("Processing on a legal ground is approved by a supervisor."))
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(record)
        if locked.ended_at is not None:
            raise ValidationError(gettext("%(locked)s was ended: it cannot be approved.") % {"locked": locked})
        if locked.approved_at is not None:
            raise ValidationError(gettext("%(locked)s is already approved.") % {"locked": locked})
        if locked.recorded_by_id == user.pk:
            raise ValidationError(gettext(
                "You recorded %(locked)s: another person must approve it (four eyes)."
            ) % {"locked": locked})
        if locked.ends_on is not None and locked.ends_on < timezone.localdate(now):
            raise ValidationError({"ends_on": gettext(
                "%(locked)s ended on %(ends_on)s: record it anew."
            ) % {"locked": locked, "ends_on": f"{locked.ends_on:%Y-%m-%d}"}})
        locked.approved_by = user
        locked.approved_at = now
        locked._history_user = user
        locked._change_reason = "approved"
        locked.save(update_fields=["approved_by", "approved_at"])
    logger.info("processing on ground %s approved by staff %s", locked.pk, user.pk)
    return locked


def processing_ground_end(*, record: ProcessingOnGround | int, user, reason: str,
                          now: datetime.datetime | None = None) -> ProcessingOnGround:
    """End a record early (the ground no longer holds): the member's own consent applies again."""
    if not user.has_perm(END_PERMISSION):
        raise PermissionDenied(gettext("Ending processing on a legal ground is compliance work."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("Say why it ends (e.g. the order was lifted, the contract ended).")})
    now = now or timezone.now()
    with transaction.atomic():
        locked = _lock(record)
        if locked.ended_at is not None:
            raise ValidationError(gettext(
                "%(locked)s was already ended on %(value)s."
            ) % {"locked": locked, "value": f"{timezone.localdate(locked.ended_at):%Y-%m-%d}"})
        locked.ended_by = user
        locked.ended_at = now
        locked.end_reason = reason
        locked._history_user = user
        locked._change_reason = "ended"
        locked.save(update_fields=["ended_by", "ended_at", "end_reason"])
    logger.info("processing on ground %s ended by staff %s", locked.pk, user.pk)
    return locked
