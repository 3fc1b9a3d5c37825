"""The request queue: which requests can be taken, and "take next" (requirement 5).

Taking a request only assigns it (no status change); races between agents are settled by the
database (``FOR UPDATE SKIP LOCKED``), not by the application.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy

from requests_desk.choices import RequestType
from requests_desk.models import Request
from requests_desk.permissions import DECIDE, WORK_QUEUE, require
from requests_desk.states import Status

logger = logging.getLogger(__name__)

#: The statuses the "take next" partial index (``desk_request_unassigned_open``) covers, in its order.
TAKEABLE_STATES = (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS)


def takeable_requests(user) -> QuerySet[Request]:
    """Unassigned open requests in take-next order: priority, then due date, then age.

    The filter and ordering match the partial index ``desk_request_unassigned_open`` exactly, so the
    database reads the first unlocked entry of the index instead of sorting the queue. Security
    reports are compliance work (PP-28): only users who decide requests take them.
    """
    queryset = Request.objects.filter(assignee__isnull=True, status__in=list(TAKEABLE_STATES))
    if not user.has_perm(DECIDE):
        queryset = queryset.exclude(type=RequestType.SECURITY_REPORT)
    return queryset.order_by("-priority", "due_at", "id")


def take_next(*, user) -> Request | None:
    """Assign the most urgent unassigned open request to ``user``; None when the queue is empty.

    Race: eight agents pressing "take next" at once. ``FOR UPDATE SKIP LOCKED`` makes each agent
    lock a different row (a row another agent is taking is skipped, not waited for), and the
    assignment commits with the lock held, so no request is ever given to two agents.
    """
    require(user, WORK_QUEUE, gettext_lazy("take requests from the queue"))
    with transaction.atomic():
        request = takeable_requests(user).select_for_update(skip_locked=True).first()
        if request is None:
            return None
        request.assignee = user
        request._history_user = user
        request._change_reason = "taken from the queue"
        request.save(update_fields=["assignee", request.reminders_recheck()])  # the taker's reminders (PP-34)
    logger.info("request %s taken by staff user %s", request.reference, user.pk)
    return request
