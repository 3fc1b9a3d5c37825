"""Fulfilling a consent withdrawal (PP-32): a withdrawal event in the ledger per purpose named in
``details["purposes"]``; basic purposes are not withdrawn one by one (PP-04)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consents.choices import ActorKind, Channel, ConsentAction, PurposeKind
from consents.ledger import consent_record
from consents.models import Purpose
from requests_desk.choices import RequesterKind, RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.models import Request
from requests_desk.permissions import WORK_QUEUE, require
from requests_desk.states import OPEN_STATES


def consent_withdrawal_propose(*, request: Request | int, purposes: Iterable, user) -> Request:
    """Record which purposes the member withdraws: ``details["purposes"]`` (codes of additional purposes)."""
    require(user, WORK_QUEUE, gettext_lazy("record consent withdrawals"))
    codes = list(dict.fromkeys(p.code if isinstance(p, Purpose) else str(p) for p in purposes))
    if not codes:
        raise ValidationError({"purposes": _("Name at least one purpose.")})
    known = dict(Purpose.objects.filter(code__in=codes).values_list("code", "kind"))
    unknown = [code for code in codes if code not in known]
    if unknown:
        raise ValidationError({"purposes": _("Unknown purposes: %(codes)s.") % {"codes": ", ".join(unknown)}})
    basic = [code for code in codes if known[code] == PurposeKind.BASIC]
    if basic:
        raise ValidationError({"purposes": _("Basic purposes cannot be withdrawn one by one (PP-04): %(codes)s.")
                               % {"codes": ", ".join(basic)}})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=load_request(request).pk)
        expect_type(locked, RequestType.CONSENT_WITHDRAWAL)
        if locked.status not in OPEN_STATES:
            raise ValidationError(_("Request %(reference)s is %(status)s.") % {
                "reference": locked.reference, "status": locked.get_status_display().lower()})
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
    request = load_request(request)
    expect_type(request, RequestType.CONSENT_WITHDRAWAL)
    member = expect_member(request)
    codes = list(dict.fromkeys((request.details or {}).get("purposes") or []))
    if not codes:
        raise ValidationError({"purposes": _("Name the purposes the member withdraws (details['purposes']).")})
    purposes = {p.code: p for p in Purpose.objects.filter(code__in=codes)}
    unknown = [code for code in codes if code not in purposes]
    if unknown:
        raise ValidationError({"purposes": _("Unknown purposes: %(codes)s.") % {"codes": ", ".join(unknown)}})
    basic = [code for code in codes if purposes[code].kind == PurposeKind.BASIC]
    if basic:
        raise ValidationError({"purposes": _("Basic purposes cannot be withdrawn one by one (PP-04): %(codes)s; the "
                                             "member may cancel the account instead.") % {"codes": ", ".join(basic)}})
    actor = ActorKind.MEMBER if request.requester_kind == RequesterKind.MEMBER else ActorKind.STAFF
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
        for code in codes:
            consent_record(
                member=member, purpose=purposes[code], action=ConsentAction.WITHDRAW, policy_version=None,
                channel=Channel.TICKET, actor_kind=actor, staff_user=user,
                evidence=f"Request {updated.reference}",
            )
        reply(updated, user, note=note, notify=notify,
              extra={"outcome": "consent_withdrawn", "purposes": [purposes[code].name for code in codes]})
    return updated
