"""``request_fulfil``: fulfil a request the way its type needs (see ``requests_desk.fulfilment``);
one call for every screen and admin action. Complaints, disputes and enquiries are answered by the reply."""

from __future__ import annotations

from django.db import transaction

from requests_desk.choices import RequestType
from requests_desk.fulfilment.access import access_request_fulfil
from requests_desk.fulfilment.base import load_request, reply, transition_fulfil
from requests_desk.fulfilment.cancellation import account_cancellation_fulfil
from requests_desk.fulfilment.consent_withdrawal import consent_withdrawal_fulfil
from requests_desk.fulfilment.correction import correction_fulfil
from requests_desk.fulfilment.deletion import deletion_fulfil
from requests_desk.fulfilment.reports import security_report_fulfil, underage_report_confirm
from requests_desk.models import Request


def reply_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Complaints, disputes and enquiries: the answer is the reply itself."""
    request = load_request(request)
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
        reply(updated, user, note=note, notify=notify)
    return updated


FULFILMENT = {
    RequestType.ACCESS: access_request_fulfil,
    RequestType.CORRECTION: correction_fulfil,
    RequestType.DELETION: deletion_fulfil,
    RequestType.CONSENT_WITHDRAWAL: consent_withdrawal_fulfil,
    RequestType.ACCOUNT_CANCELLATION: account_cancellation_fulfil,
    RequestType.UNDERAGE_REPORT: underage_report_confirm,
    RequestType.SECURITY_REPORT: security_report_fulfil,
    RequestType.COMPLAINT: reply_fulfil,
    RequestType.DISPUTE: reply_fulfil,
    RequestType.ENQUIRY: reply_fulfil,
}


def request_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Fulfil ``request`` the way its type needs (see ``requests_desk.fulfilment``); one call for every screen."""
    request = load_request(request)
    return FULFILMENT[RequestType(request.type)](request=request, user=user, note=note, notify=notify)
