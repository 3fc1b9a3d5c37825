"""What every fulfilment shares: load the request, check its type and member, make the ``fulfil``
transition, send the ``fulfilment`` letter."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from accounts.models import Member
from requests_desk import letters, workflow
from requests_desk.choices import RequestType
from requests_desk.models import Message, Request


def load_request(request: Request | int) -> Request:
    pk = request.pk if isinstance(request, Request) else request
    return Request.objects.select_related("member").get(pk=pk)


def expect_type(request: Request, type_: str) -> None:
    if request.type != type_:
        raise ValidationError(_("Request %(reference)s is not a %(type)s request.") % {
            "reference": request.reference, "type": RequestType(type_).label.lower()})


def expect_member(request: Request) -> Member:
    if request.member_id is None:
        raise ValidationError({"member": _("Identify the member the request is about first.")})
    return request.member


def reply(request: Request, user, *, outcome: str, note: str, notify: bool) -> Message | None:
    """The fulfilment letter: what was done (``outcome``) and the staff member's own words."""
    if not notify:
        return None
    text = "\n\n".join(part for part in (outcome.strip(), (note or "").strip()) if part)
    return letters.letter_send(request=request, template="fulfilment", user=user, note=text)


def transition_fulfil(request: Request, user, note: str) -> Request:
    return workflow.transition(request=request, name="fulfil", user=user, note=note)
