"""What every fulfilment shares: load the request, check its type and member, make the ``fulfil``
transition, send the letter that confirms it."""

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


def reply(request: Request, user, *, note: str, notify: bool, template: str = "fulfilment",
          extra: dict | None = None) -> Message | None:
    """The letter that tells the requester what was done: ``template`` (a whole letter per language,
    issue 16) with what the step knows in ``extra``, and the staff member's own words (``note``)."""
    if not notify:
        return None
    return letters.letter_send(request=request, template=template, user=user, note=note, extra=extra)


def transition_fulfil(request: Request, user, note: str) -> Request:
    return workflow.transition(request=request, name="fulfil", user=user, note=note)
