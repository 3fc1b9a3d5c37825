"""The request state machine (design decision 4): every transition, who may make it, what it records.

Screens, the admin, jobs and commands call ``transition()``; nothing else writes ``Request.status``.
A transition re-reads the request with ``select_for_update()`` so two agents pressing buttons on
the same request at once are serialised: the second sees the state the first left and is refused
if its transition no longer applies (no lost update, no double fulfilment).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from consents.choices import GroundUse
from consents.grounds.selectors import ground_records_for
from requests_desk.choices import RequestType
from requests_desk.models import Request, Transition
from requests_desk.states import OPEN_STATES, Status

# Types about a member's own data: nothing is fulfilled before the requester's identity is verified
# (PP-30). Reports and enquiries may be answered without it.
NEEDS_IDENTITY = frozenset(
    {
        RequestType.ACCESS,
        RequestType.CORRECTION,
        RequestType.DELETION,
        RequestType.CONSENT_WITHDRAWAL,
        RequestType.ACCOUNT_CANCELLATION,
        RequestType.DISPUTE,
    }
)
# Types whose fulfilment a second person approves (four eyes on destructive or disclosing actions).
NEEDS_APPROVAL = frozenset({RequestType.DELETION, RequestType.ACCESS, RequestType.CORRECTION})


class TransitionError(ValidationError):
    """An illegal or unauthorised transition, with a message for the person who tried it."""


@dataclass(frozen=True)
class Spec:
    name: str
    label: str
    sources: frozenset[str]
    target: str | None  # None: the status stays (extension)
    permission: str
    needs_identity: bool = False
    needs_note: bool = False
    check: Callable[[Request, object, dict], None] | None = None


def _check_fulfil(request: Request, user, data: dict) -> None:
    if request.type in NEEDS_APPROVAL and request.status != Status.AWAITING_APPROVAL:
        raise TransitionError(_("A %(type)s request is fulfilled only after approval.")
                              % {"type": request.get_type_display().lower()})
    if request.type == RequestType.DELETION and not user.has_perm("requests_desk.approve_deletion"):
        raise PermissionDenied(_("Deletions are approved by a supervisor."))
    if request.type in NEEDS_APPROVAL and request.prepared_by_id == getattr(user, "pk", None):
        raise TransitionError(_("Four eyes: the person who prepared this request cannot approve it."))


def _check_refuse(request: Request, user, data: dict) -> None:
    grounds = data.get("grounds") or []
    records = data.get("ground_records") or []
    if not grounds and not records:
        raise TransitionError({"grounds": _("A refusal names at least one legal ground (PP-35, PP-36).")})
    wrong = [g for g in grounds if g.use not in (GroundUse.REQUEST_REJECTION, GroundUse.CANNOT_RESPOND)]
    if wrong:
        raise TransitionError({"grounds": _("Only the refusal grounds of section V(IV) may be named.")})
    if records:
        _check_refusal_records(request, records)


def _check_refusal_records(request: Request, records: list) -> None:
    """PP-17: a cited processing ground is an approved record in force now for this member (one query)."""
    if request.member_id is None:
        raise TransitionError({"ground_records": _("Only a request about a member can rest on processing on a "
                                                   "legal ground: match the request to its member first.")})
    wanted = {r.pk for r in records}
    in_force = set(ground_records_for(member=request.member_id).filter(pk__in=wanted).values_list("pk", flat=True))
    missing = sorted(wanted - in_force)
    if missing:
        names = ", ".join(f"#{pk}" for pk in missing)
        raise TransitionError({"ground_records": _("Processing on a legal ground %(names)s is not in force for this "
                                                   "request's member (recorded, approved, not ended) (PP-17).")
                                                 % {"names": names}})


def _check_extend(request: Request, user, data: dict) -> None:
    new_due = data.get("due_at")
    if not isinstance(new_due, datetime.datetime) or new_due <= request.due_at:
        raise TransitionError({"due_at": _("An extension sets a new due date later than the current one.")})


def _check_submit(request: Request, user, data: dict) -> None:
    if request.type not in NEEDS_APPROVAL:
        raise TransitionError(_("This type of request needs no approval: fulfil it directly."))


OPEN = frozenset(OPEN_STATES)
TRANSITIONS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec("request_identity", gettext_lazy("Ask for identity verification"), frozenset({Status.NEW}),
             Status.AWAITING_IDENTITY, "requests_desk.work_queue"),
        Spec("start", gettext_lazy("Start work"), frozenset({Status.NEW, Status.AWAITING_IDENTITY}), Status.IN_PROGRESS,
             "requests_desk.work_queue"),
        Spec("submit_for_approval", gettext_lazy("Submit for approval"), frozenset({Status.IN_PROGRESS}),
             Status.AWAITING_APPROVAL, "requests_desk.work_queue", needs_identity=True, check=_check_submit),
        Spec("send_back", gettext_lazy("Send back to the agent"), frozenset({Status.AWAITING_APPROVAL}),
             Status.IN_PROGRESS, "requests_desk.decide_request", needs_note=True),
        Spec("fulfil", gettext_lazy("Fulfil"), frozenset({Status.IN_PROGRESS, Status.AWAITING_APPROVAL}),
             Status.FULFILLED, "requests_desk.decide_request", needs_identity=True, check=_check_fulfil),
        Spec("refuse", gettext_lazy("Refuse with grounds"),
             frozenset({Status.AWAITING_IDENTITY, Status.IN_PROGRESS, Status.AWAITING_APPROVAL}), Status.REFUSED,
             "requests_desk.decide_request", check=_check_refuse),
        Spec("withdraw", gettext_lazy("Withdrawn by the requester"), OPEN, Status.WITHDRAWN, "requests_desk.work_queue",
             needs_note=True),
        Spec("close_duplicate", gettext_lazy("Close as a duplicate"), frozenset({Status.NEW, Status.AWAITING_IDENTITY}),
             Status.CLOSED, "requests_desk.work_queue", needs_note=True),
        Spec("close", gettext_lazy("Close"), frozenset({Status.FULFILLED, Status.REFUSED, Status.WITHDRAWN}),
             Status.CLOSED, "requests_desk.work_queue"),
        Spec("extend", gettext_lazy("Extend the deadline"), OPEN, None, "requests_desk.decide_request", needs_note=True,
             check=_check_extend),
    )
}


def allowed_transitions(request: Request, user) -> list[Spec]:
    """The transitions the screens offer this user now (the final check is in ``transition``)."""
    return [
        spec for spec in TRANSITIONS.values()
        if request.status in spec.sources and user.has_perm(spec.permission)
    ]


def has_identity_check(request: Request) -> bool:
    return request.identity_checks.exists()


def transition(*, request: Request | int, name: str, user, note: str = "", **data) -> Request:
    """Make transition ``name`` on ``request`` as ``user``; returns the updated request.

    Raises ``PermissionDenied`` when the user's role may not make it and ``TransitionError`` when
    the request is not in a state it applies to, or a rule (identity gate, four eyes, grounds) fails.
    """
    spec = TRANSITIONS.get(name)
    if spec is None:
        raise TransitionError(_("Unknown transition %(name)r.") % {"name": name})
    if user is not None and not user.has_perm(spec.permission):
        raise PermissionDenied(_("Your role may not %(action)s.") % {"action": str(spec.label).lower()})
    pk = request.pk if isinstance(request, Request) else request
    with transaction.atomic():
        # Lock the row: the state checked below is the state the update is applied to.
        current = Request.objects.select_for_update().get(pk=pk)
        if current.status not in spec.sources:
            raise TransitionError(
                _("Cannot %(action)s: the request is %(status)s.")
                % {"action": str(spec.label).lower(), "status": current.get_status_display().lower()}
            )
        if spec.needs_note and not note.strip():
            raise TransitionError({"note": _("Say why (%(action)s).") % {"action": str(spec.label).lower()}})
        if spec.needs_identity and current.type in NEEDS_IDENTITY and not has_identity_check(current):
            raise TransitionError(
                _("The requester's identity has not been verified: record a verification first (PP-30).")
            )
        if spec.check:
            spec.check(current, user, data)
        from_status = current.status
        fields = []
        if spec.target is not None:
            current.status = spec.target
            fields.append("status")
        if name == "submit_for_approval":
            current.prepared_by = user
            fields.append("prepared_by")
        if name == "fulfil" and current.type in NEEDS_APPROVAL:
            current.approved_by = user
            fields.append("approved_by")
        if name == "refuse":
            current.refusal_grounds.set(data.get("grounds") or [])
            current.refusal_ground_records.set(data.get("ground_records") or [])
            current.decision_note = note
            fields.append("decision_note")
        if name == "extend":
            current.due_at = data["due_at"]
            fields.append("due_at")
        if spec.target in (Status.CLOSED, Status.WITHDRAWN, Status.FULFILLED, Status.REFUSED):
            current.closed_at = current.closed_at or timezone.now()
            fields.append("closed_at")
        current._change_reason = f"{name}"
        # A new status or due date may open, move or end reminders (PP-34).
        fields.append(current.reminders_recheck())
        current.save(update_fields=fields)
        Transition.objects.create(
            request=current, name=name, from_status=from_status,
            to_status=current.status, actor=user, note=note,
        )
    return current


def due_date_for(received_at: datetime.datetime) -> datetime.datetime:
    """Received + REQUEST_DUE_DAYS (PP-34)."""
    return received_at + datetime.timedelta(days=settings.REQUEST_DUE_DAYS)
