"""Fulfilling an account cancellation (PP-33): the member is marked cancelled; ``anonymise_cancelled``
erases after the grace period."""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.members.choices import MemberStatus
from accounts.models import Member
from requests_desk.choices import RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.models import Request
from requests_desk.permissions import DECIDE, require


def member_cancel(*, member: Member, user, reason: str = "") -> Member:
    """Mark the member cancelled now (status and date, with a history row naming who and why).

    The service stops; ``retention.jobs.cancelled.anonymise_cancelled`` erases the member once
    ``CANCELLATION_GRACE_DAYS`` have passed, except data under legal hold or legal retention.
    """
    require(user, DECIDE, gettext_lazy("cancel accounts"))
    with transaction.atomic():
        locked = Member.objects.select_for_update().get(pk=member.pk)
        if locked.status in (MemberStatus.CANCELLED, MemberStatus.CLOSED):
            raise ValidationError({"member": _("Member %(number)s is already %(status)s.") % {
                "number": locked.member_number, "status": locked.get_status_display().lower()}})
        locked.status = MemberStatus.CANCELLED
        locked.cancelled_at = timezone.now()
        locked._history_user = user
        locked._change_reason = (reason or "account cancellation (PP-33)")[:100]
        locked.save(update_fields=["status", "cancelled_at"])
    return locked


def account_cancellation_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    request = load_request(request)
    expect_type(request, RequestType.ACCOUNT_CANCELLATION)
    member = expect_member(request)
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
        cancelled = member_cancel(member=member, user=user, reason=f"cancellation request {updated.reference}")
        days = settings.CANCELLATION_GRACE_DAYS
        erase_on = timezone.localtime(cancelled.cancelled_at + datetime.timedelta(days=days)).date()
        reply(updated, user, note=note, notify=notify, template="cancellation",
              extra={"grace_days": days, "erase_on": erase_on})
    return updated
