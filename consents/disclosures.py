"""The disclosure register (PP-21, PP-22, PP-23, PP-24): prepare, approve, reject.

A disclosure is prepared by one staff user and decided by another (four eyes; the database
refuses ``approved_by = prepared_by`` too). Transfers and public disclosures need a supervisor.
A partner without a valid confidentiality agreement on the disclosure date is never approved.
The members concerned are inserted in one ``INSERT … SELECT``: 100k members is a normal size.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Member
from accounts.privacy.datamap import Category
from consents.campaigns import insert_member_rows
from consents.choices import DisclosureBasis, DisclosureKind, DisclosureStatus, GroundUse, RecipientKind
from consents.grounds.selectors import covering_q, disclosure_ground_code, in_force_q
from consents.models import DisclosedMember, Disclosure, LegalGround, ProcessingOnGround, Recipient

logger = logging.getLogger(__name__)

PREPARE_PERMISSION = "consents.add_disclosure"
APPROVE_PERMISSION = "consents.approve_disclosure"
APPROVE_TRANSFER_PERMISSION = "consents.approve_transfer_disclosure"

#: Which bases each kind of disclosure may rest on.
#: Sharing (III(I)): law, consent, the member's own choice, a partner under agreement.
#: Transfer (III(II), PP-22): consent, or a merger, acquisition or liquidation.
#: Public disclosure (III(III), PP-23): express consent, or a serious violation.
#: The six exceptions of III(IV) (PP-24) apply to all three.
ALLOWED_BASES: dict[str, frozenset[str]] = {
    DisclosureKind.SHARE: frozenset(
        {DisclosureBasis.CONSENT, DisclosureBasis.LAW, DisclosureBasis.MEMBER_CHOICE,
         DisclosureBasis.PARTNER_AGREEMENT, DisclosureBasis.LEGAL_GROUND}
    ),
    DisclosureKind.TRANSFER: frozenset(
        {DisclosureBasis.CONSENT, DisclosureBasis.MERGER, DisclosureBasis.LEGAL_GROUND}
    ),
    DisclosureKind.PUBLIC_DISCLOSURE: frozenset(
        {DisclosureBasis.CONSENT, DisclosureBasis.SERIOUS_VIOLATION, DisclosureBasis.LEGAL_GROUND}
    ),
}
#: Kinds that need ``approve_transfer_disclosure`` (the supervisor) to approve.
SUPERVISOR_KINDS = frozenset({DisclosureKind.TRANSFER, DisclosureKind.PUBLIC_DISCLOSURE})


def needs_partner_agreement(*, recipient: Recipient, basis: str) -> bool:
    """PP-21: data goes to a partner only under a confidentiality agreement."""
    return recipient.kind == RecipientKind.PARTNER or basis == DisclosureBasis.PARTNER_AGREEMENT


def _check_terms(*, kind: str, recipient: Recipient, basis: str, grounds: Iterable[LegalGround],
                 data_categories: list[str]) -> None:
    """Rules that hold for a disclosure whoever looks at it: field-keyed errors."""
    errors: dict[str, str] = {}
    if kind not in DisclosureKind.values:
        errors["kind"] = gettext("Unknown kind of disclosure: %(kind)s.") % {"kind": f"{kind!r}"}
    elif basis not in ALLOWED_BASES[kind]:
        allowed = ", ".join(str(DisclosureBasis(b).label) for b in sorted(ALLOWED_BASES[kind]))
        errors["basis"] = gettext(
            "A %(value)s may rest only on: %(allowed)s."
        ) % {"value": DisclosureKind(kind).label.lower(), "allowed": allowed}
    if basis == DisclosureBasis.PARTNER_AGREEMENT and recipient.kind != RecipientKind.PARTNER:
        errors["recipient"] = gettext("Only an authorised partner can receive data under a partner agreement.")
    if basis == DisclosureBasis.MERGER and recipient.kind != RecipientKind.SUCCESSOR:
        errors["recipient"] = gettext("A merger, acquisition or liquidation transfers data to the successor only.")
    grounds = list(grounds)
    wrong = [g for g in grounds if g.use != GroundUse.AUTHORISATION_EXCEPTION]
    if wrong:
        errors["legal_grounds"] = gettext("Only the exceptions of section III(IV) apply to a disclosure (PP-24).")
    elif basis == DisclosureBasis.LEGAL_GROUND and not grounds:
        errors["legal_grounds"] = gettext(
            "Name at least one ground of section III(IV) for a disclosure on a legal ground."
        )
    if not data_categories:
        errors["data_categories"] = gettext("Say which categories of data are disclosed.")
    else:
        unknown = sorted(set(data_categories) - set(Category.values))
        if unknown:
            errors["data_categories"] = gettext(
                "Not data-map categories: %(value)s."
            ) % {"value": ', '.join(unknown)}
    if errors:
        raise ValidationError(errors)


def _check_ground_records(*, records: list[ProcessingOnGround], grounds: list[LegalGround],
                          members_queryset: models.QuerySet[Member], day: datetime.date) -> list[LegalGround]:
    """PP-24: a disclosure on a legal ground may cite the approved records of processing on it.

    Each record must be in force on the disclosure day and rest on one of the six I(V)3 grounds that
    section III(IV) repeats; the III(IV) grounds it stands for are added to the entry. Every member
    concerned must be covered by a cited record (named, or through the record's product line): one
    ``EXISTS`` query, whatever the number of members. Returns the grounds, completed.
    """
    if not records:
        return grounds
    when = timezone.make_aware(datetime.datetime.combine(day, datetime.time.max))
    pks = [r.pk for r in records]
    in_force = list(
        ProcessingOnGround.objects.filter(in_force_q(when), pk__in=pks).select_related("ground")
    )
    missing = sorted(set(pks) - {r.pk for r in in_force})
    if missing:
        names = ", ".join(f"#{pk}" for pk in missing)
        raise ValidationError({"ground_records": gettext(
            "Not approved and in force on %(day)s: processing on a legal ground %(names)s."
        ) % {"day": f"{day:%Y-%m-%d}", "names": names}})
    codes = {r.pk: disclosure_ground_code(r.ground.code) for r in in_force}
    catalogue = {g.code: g for g in LegalGround.objects.filter(code__in=[c for c in codes.values() if c])}
    unmatched = sorted(pk for pk, code in codes.items() if code not in catalogue)
    if unmatched:
        names = ", ".join(f"#{pk}" for pk in unmatched)
        raise ValidationError({"ground_records": gettext(
            "Section III(IV) allows a disclosure on only six of the eleven grounds (PP-24); processing on a legal "
            "ground %(names)s rests on another one."
        ) % {"names": names}})
    uncovered = members_queryset.exclude(
        models.Exists(ProcessingOnGround.objects.filter(covering_q(models.OuterRef("pk")), pk__in=pks))
    )
    if uncovered.exists():
        raise ValidationError({"ground_records": gettext(
            "Some members concerned are not covered by the processing on a legal ground cited: name a record for "
            "them, or leave them out (PP-24)."
        )})
    known = {g.pk for g in grounds}
    return grounds + [g for g in catalogue.values() if g.pk not in known]


def disclosure_prepare(
    *,
    kind: str,
    recipient: Recipient,
    basis: str,
    data_categories: list[str],
    description: str,
    members_queryset: models.QuerySet[Member],
    legal_grounds: Iterable[LegalGround] = (),
    ground_records: Iterable[ProcessingOnGround] = (),
    user,
    disclosed_on: datetime.date | None = None,
) -> Disclosure:
    """Enter a disclosure in the register, awaiting another person's approval.

    ``members_queryset`` may hold 100k members: their links are inserted by the database in one
    statement, and ``member_count`` records how many there are. ``ground_records``: approved
    processing on a legal ground the disclosure rests on (PP-24, ``_check_ground_records``).
    """
    if not user.has_perm(PREPARE_PERMISSION):
        raise PermissionDenied(gettext("Preparing a disclosure needs the permission to add register entries."))
    if members_queryset.model is not Member:
        raise TypeError("members_queryset must be a queryset of members.")
    grounds = list(legal_grounds)
    records = list(ground_records)
    data_categories = list(data_categories)
    if records and basis != DisclosureBasis.LEGAL_GROUND:
        raise ValidationError({"ground_records": gettext(
            "Cite processing on a legal ground only for a disclosure on a legal ground of section III(IV)."
        )})
    grounds = _check_ground_records(records=records, grounds=grounds, members_queryset=members_queryset,
                                    day=disclosed_on or timezone.localdate())
    _check_terms(kind=kind, recipient=recipient, basis=basis, grounds=grounds, data_categories=data_categories)
    description = (description or "").strip()
    if not description:
        raise ValidationError({"description": gettext("Describe what is disclosed and why.")})
    with transaction.atomic():
        disclosure = Disclosure(
            kind=kind,
            recipient=recipient,
            basis=basis,
            data_categories=data_categories,
            description=description,
            disclosed_on=disclosed_on,
            status=DisclosureStatus.AWAITING_APPROVAL,
            prepared_by=user,
        )
        disclosure._history_user = user
        disclosure.save()
        if grounds:
            disclosure.legal_grounds.set(grounds)
        if records:
            disclosure.ground_records.set(records)
        count = insert_member_rows(
            model=DisclosedMember,
            member_ids=members_queryset.values("pk").distinct(),
            constants={"disclosure": disclosure.pk},
        )
        if count < 0:  # a driver that cannot report rowcount
            count = DisclosedMember.objects.filter(disclosure=disclosure).count()
        if count == 0:
            raise ValidationError({"members": gettext(
                "A disclosure concerns at least one member; none were selected."
            )})
        disclosure.member_count = count
        disclosure.save(update_fields=["member_count"])
    logger.info("disclosure %s prepared for %s member(s)", disclosure.pk, count)
    return disclosure


def _lock_awaiting(disclosure: Disclosure, action: str) -> Disclosure:
    # Two approvers deciding the same entry at once: the second waits on this lock, then reads
    # the decided status and is refused, so an entry is decided once.
    locked = Disclosure.objects.select_for_update().get(pk=disclosure.pk)
    if locked.status != DisclosureStatus.AWAITING_APPROVAL:
        raise ValidationError(
            gettext(
                "%(locked)s is %(value)s: only a disclosure awaiting approval can be %(action)s."
            ) % {"locked": locked, "value": locked.get_status_display().lower(), "action": action}
        )
    return locked


def disclosure_approve(
    *, disclosure: Disclosure, user, note: str = "", today: datetime.date | None = None
) -> Disclosure:
    """Approve a disclosure prepared by someone else (PP-21 … PP-24)."""
    if not user.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(gettext("Approving disclosures needs the approval permission."))
    today = today or timezone.localdate()
    with transaction.atomic():
        locked = _lock_awaiting(disclosure, "approved")
        if locked.prepared_by_id == user.pk:
            raise ValidationError(gettext("You prepared this disclosure: someone else must approve it (four eyes)."))
        if locked.kind in SUPERVISOR_KINDS and not user.has_perm(APPROVE_TRANSFER_PERMISSION):
            raise PermissionDenied(gettext(
                "Transfers and public disclosures need a supervisor's approval (PP-22, PP-23)."
            ))
        recipient = locked.recipient
        grounds = list(locked.legal_grounds.all())
        _check_terms(kind=locked.kind, recipient=recipient, basis=locked.basis, grounds=grounds,
                     data_categories=list(locked.data_categories))
        day = locked.disclosed_on or today
        # PP-24: the records it rests on must still be in force on the day (one may have ended since).
        _check_ground_records(records=list(locked.ground_records.all()), grounds=grounds, day=day,
                              members_queryset=Member.objects.filter(disclosures__disclosure=locked))
        if needs_partner_agreement(recipient=recipient, basis=locked.basis) and not recipient.has_valid_agreement_on(
            day
        ):
            raise ValidationError(
                {"recipient": gettext(
                    "%(recipient)s has no valid confidentiality agreement on %(day)s (PP-21)."
                ) % {"recipient": recipient, "day": f"{day:%Y-%m-%d}"}}
            )
        locked.status = DisclosureStatus.APPROVED
        locked.approved_by = user
        locked.decided_at = timezone.now()
        locked.decision_note = (note or "").strip()
        locked.disclosed_on = day
        locked._history_user = user
        locked.save()
    logger.info("disclosure %s approved by staff %s", locked.pk, user.pk)
    return locked


def disclosure_reject(*, disclosure: Disclosure, user, note: str) -> Disclosure:
    """Reject a disclosure with a reason. Its author may withdraw it the same way."""
    if not (user.has_perm(APPROVE_PERMISSION) or user.pk == disclosure.prepared_by_id):
        raise PermissionDenied(gettext("Rejecting disclosures needs the approval permission."))
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": gettext("Say why the disclosure is rejected.")})
    with transaction.atomic():
        locked = _lock_awaiting(disclosure, "rejected")
        locked.status = DisclosureStatus.REJECTED
        locked.decided_at = timezone.now()
        locked.decision_note = note
        # Who rejected is kept in the history row (approved_by names approvers only).
        locked._history_user = user
        locked.save()
    logger.info("disclosure %s rejected by staff %s", locked.pk, user.pk)
    return locked
