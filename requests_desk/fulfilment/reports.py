"""Fulfilling reports: an underage report confirmed by compliance (PP-37), a security report graded
with a severity and routed to a compliance officer (PP-28)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from requests_desk import selectors
from requests_desk.choices import RequestType, Severity
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.lifecycle import SEVERITY_PRIORITY, request_assign
from requests_desk.models import Request
from requests_desk.permissions import DECIDE, require
from requests_desk.states import OPEN_STATES


def underage_report_confirm(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Compliance confirms that the reported member is under 14 (PP-37).

    Fulfilling the report is the confirmation ``retention.jobs.under_14.underage_confirmed_member_ids`` reads
    (type ``underage_report``, status ``fulfilled``, member set): the next ``purge_under_14`` run
    closes the account and erases the member, with no legal-retention exception. ``details`` also
    records ``confirmed`` with who and when.
    """
    require(user, DECIDE, gettext_lazy("confirm underage reports"))
    request = load_request(request)
    expect_type(request, RequestType.UNDERAGE_REPORT)
    expect_member(request)
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=request.pk)
        locked.details = {**(locked.details or {}), "confirmed": True, "confirmed_by": user.pk,
                          "confirmed_at": timezone.now().isoformat()}
        locked._history_user = user
        locked._change_reason = "underage report confirmed"
        locked.save(update_fields=["details"])
        updated = transition_fulfil(locked, user, note)
        # The reporter may be a third party: the reply says what we do, nothing about the member.
        reply(updated, user, note=note, notify=notify, extra={"outcome": "underage_confirmed"})
    return updated


# --- Security report (PP-28) --------------------------------------------------------------------------
def security_report_set_severity(*, request: Request | int, severity: str, user) -> Request:
    """Compliance grades a security report (PP-28); the severity decides its priority."""
    require(user, DECIDE, gettext_lazy("grade security reports"))
    if severity not in Severity.values:
        raise ValidationError({"severity": _("Choose low, medium, high or critical.")})
    with transaction.atomic():
        locked = Request.objects.select_for_update().get(pk=load_request(request).pk)
        expect_type(locked, RequestType.SECURITY_REPORT)
        locked.severity = severity
        locked.priority = max(locked.priority, SEVERITY_PRIORITY[severity])
        locked._history_user = user
        locked._change_reason = "severity graded"
        locked.save(update_fields=["severity", "priority"])
    return locked


def security_report_route(*, request: Request | int, user) -> Request:
    """Make sure a compliance officer holds the report (PP-28); an agent's report is handed over."""
    request = load_request(request)
    expect_type(request, RequestType.SECURITY_REPORT)
    if request.assignee_id is not None and request.assignee.has_perm(DECIDE):
        return request
    officer = selectors.compliance_officer_least_loaded()
    if officer is None:
        raise ValidationError({"assignee": _("No active compliance officer to route the security report to.")})
    return request_assign(request=request, assignee=officer, user=user)


def security_report_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Close a security report as handled: it needs a severity and a compliance officer (PP-28)."""
    request = load_request(request)
    expect_type(request, RequestType.SECURITY_REPORT)
    if request.severity not in Severity.values:
        raise ValidationError(
            {"severity": _("A security report is fulfilled only once graded with a severity (PP-28).")})
    require(user, DECIDE, gettext_lazy("fulfil security reports"))
    with transaction.atomic():
        if request.status in OPEN_STATES:
            request = security_report_route(request=request, user=user)
        updated = transition_fulfil(request, user, note)
        reply(updated, user, note=note, notify=notify, extra={"outcome": "security_handled"})
    return updated
