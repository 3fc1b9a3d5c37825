"""List filters of the request admin: the deadline (PP-34)."""

from __future__ import annotations

import datetime

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from requests_desk.states import OPEN_STATES

#: "Due soon" in the deadline filter: due within this many days (and not overdue).
DUE_SOON_DAYS = 3


class DeadlineFilter(admin.SimpleListFilter):
    """Open requests past their due date, or due within ``DUE_SOON_DAYS`` (PP-34)."""

    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return (("overdue", _("Overdue")), ("due_soon", _("Due within %(days)s days") % {"days": DUE_SOON_DAYS}),
                ("open", _("Open, on time")))

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = queryset.filter(status__in=list(OPEN_STATES))
        if self.value() == "overdue":
            return open_.filter(due_at__lt=now)
        if self.value() == "due_soon":
            return open_.filter(due_at__gte=now, due_at__lt=now + datetime.timedelta(days=DUE_SOON_DAYS))
        if self.value() == "open":
            return open_.filter(due_at__gte=now)
        return queryset


class AssigneeFilter(admin.RelatedOnlyFieldListFilter):
    """The staff users requests are assigned to; titled in the staff user's language (the field has no
    translatable verbose name, and giving it one would need a migration)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.title = _("assignee")
