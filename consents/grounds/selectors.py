"""Reads of processing on legal grounds (PP-17, PP-24): what is in force, for whom, at a moment.

One rule, said once in SQL (``in_force_q``) and once in Python (``ProcessingOnGround.status_on``):
a record is in force at ``when`` once a supervisor approved it by then, from its first day to its
last (local dates), and until it is ended. A group record (a product line) covers every member who
uses that line; the membership is resolved in the same query (a join on the line's members), so
"is anything in force for this member?" is one query whatever the size of the group.

Product-line membership is read as it is now: the member's product lines keep no dated history of
their own, and a record names the line for as long as the ground lasts.
"""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import Member
from consents.grounds.models import ProcessingOnGround

#: The I(V)3 ground (``consent-…``) a III(IV) ground (``disclosure-…``) names: the first six of
#: section I(V)3 are the six of section III(IV) (PP-24), in the same words.
CONSENT_PREFIX = "consent-"
DISCLOSURE_PREFIX = "disclosure-"


def in_force_q(when: datetime.datetime, prefix: str = "") -> Q:
    """Records in force at ``when`` (``prefix``: the lookup path to the record, e.g. ``"ground_records__"``)."""
    day = timezone.localdate(when)
    return Q(**{
        f"{prefix}approved_at__lte": when,
        f"{prefix}starts_on__lte": day,
    }) & (Q(**{f"{prefix}ends_on__isnull": True}) | Q(**{f"{prefix}ends_on__gte": day})) & (
        Q(**{f"{prefix}ended_at__isnull": True}) | Q(**{f"{prefix}ended_at__gt": when})
    )


def covering_q(member) -> Q:
    """Records about ``member`` (a member, a key or an ``OuterRef``): named, or through one of the
    member's product lines (a join)."""
    pk = member.pk if isinstance(member, Member) else member
    return Q(member_id=pk) | Q(product_line__members=pk)


def grounded_members_q(*, purpose, when: datetime.datetime) -> Exists:
    """Members (as an ``Exists`` on the member's ``pk``) covered at ``when`` by a record of ``purpose``
    in force, named or through one of their product lines: ``audience``'s set version of
    ``ground_record_in_force``, one subquery."""
    return Exists(
        ProcessingOnGround.objects.filter(covering_q(OuterRef("pk")), in_force_q(when), purpose=purpose)
    )


def ground_records_for(*, member: Member | int, at: datetime.datetime | None = None,
                       purpose=None) -> QuerySet[ProcessingOnGround]:
    """The records in force for ``member`` at ``at`` (default now), optionally of one purpose.

    With the catalogue rows joined: one query for the member page, the access package and
    ``may_process`` alike.
    """
    when = at or timezone.now()
    records = ProcessingOnGround.objects.filter(covering_q(member), in_force_q(when))
    if purpose is not None:
        records = records.filter(purpose=purpose)
    return records.select_related("ground", "purpose", "product_line").order_by("purpose__code", "starts_on", "pk")


def ground_record_in_force(
    *, member: Member, purpose, at: datetime.datetime | None = None
) -> ProcessingOnGround | None:
    """The first record in force for ``member`` and ``purpose`` at ``at``: one query (``may_process``)."""
    return ground_records_for(member=member, purpose=purpose, at=at).first()


def ground_records_all_for(*, member: Member | int) -> QuerySet[ProcessingOnGround]:
    """Every record about ``member`` (any status, named or by group), newest first: the member's page."""
    return (
        ProcessingOnGround.objects.filter(covering_q(member))
        .select_related("ground", "purpose", "product_line")
        .order_by("-recorded_at", "-pk")
    )


def disclosure_ground_code(consent_ground_code: str) -> str | None:
    """The III(IV) ground matching an I(V)3 one, or None when section III(IV) has no counterpart."""
    if not consent_ground_code.startswith(CONSENT_PREFIX):
        return None
    return DISCLOSURE_PREFIX + consent_ground_code.removeprefix(CONSENT_PREFIX)


def decision_reason(record: ProcessingOnGround) -> str:
    """What ``may_process`` says when a record is in force (the ground's words and its reference)."""
    until = gettext(" until %(day)s") % {"day": f"{record.ends_on:%Y-%m-%d}"} if record.ends_on else ""
    return gettext(
        "Processed without consent on a legal ground (PP-17): %(section)s (%(position)s) %(wording)s; "
        "reference: %(reference)s; record #%(pk)s, in force from %(start)s%(until)s."
    ) % {
        "section": record.ground.section, "position": record.ground.position, "wording": record.ground.wording_text,
        "reference": record.reference, "pk": record.pk, "start": f"{record.starts_on:%Y-%m-%d}", "until": until,
    }
