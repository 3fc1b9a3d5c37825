"""The states of a request. The transitions between them are declared in ``requests_desk.workflow``."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    NEW = "new", _("New")
    AWAITING_IDENTITY = "awaiting_identity", _("Awaiting identity verification")
    IN_PROGRESS = "in_progress", _("In progress")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    FULFILLED = "fulfilled", _("Fulfilled")
    REFUSED = "refused", _("Refused")
    WITHDRAWN = "withdrawn", _("Withdrawn")
    CLOSED = "closed", _("Closed")


OPEN_STATES = frozenset({Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS, Status.AWAITING_APPROVAL})
