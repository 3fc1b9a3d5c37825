"""Who may do what on the request desk: its two permissions and the check the services make.

The permissions are declared on ``requests_desk.models.Request`` and given to the role groups by
``accounts.staff.roles``; the services (``requests_desk.lifecycle``, ``requests_desk.queue``,
``requests_desk.messages``, ``requests_desk.fulfilment``, ``requests_desk.letters``), screens and admin
name them from here.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

#: "Can work the agents' request queue": intake, identity checks, messages, letters, assignment.
WORK_QUEUE = "requests_desk.work_queue"
#: "Can fulfil or refuse requests (compliance)".
DECIDE = "requests_desk.decide_request"


def require(user, permission: str, what: str) -> None:
    """Raise ``PermissionDenied`` ("Your role may not <what>.") unless ``user`` holds ``permission``."""
    if user is None or not user.has_perm(permission):
        raise PermissionDenied(_("Your role may not %(action)s.") % {"action": what})
