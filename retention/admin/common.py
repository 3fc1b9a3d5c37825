"""What the retention admin pages share: history without revert, staff choices, error messages."""

from __future__ import annotations

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils.translation import gettext
from simple_history.admin import SimpleHistoryAdmin

from accounts.models import StaffUser
from accounts.staff import roles


def messages_of(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    return str(exc) or gettext("Not allowed.")


class HistoryWithoutRevert(SimpleHistoryAdmin):
    """History is shown, never reverted: a revert would bypass the services (and their checks)."""

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method == "POST":
            raise PermissionDenied(gettext("History is read-only here."))
        return super().history_form_view(request, object_id, version_id, extra_context)


def staff_name(user: StaffUser) -> str:
    """How the retention pages name a staff user: the full name, else the e-mail address."""
    return user.full_name or user.email


class StaffChoiceField(forms.ModelChoiceField):
    """Staff users by name (the default label is ``Staff #id``)."""

    def label_from_instance(self, obj: StaffUser) -> str:
        return staff_name(obj)


def compliance_staff(*, keep: int | None = None):
    """Who may review or assess: active compliance staff, plus ``keep`` (the current one, even if gone)."""
    staff = StaffUser.objects.filter(is_active=True, groups__name__in=(roles.COMPLIANCE_OFFICER, roles.SUPERVISOR))
    return (
        StaffUser.objects.filter(Q(pk__in=staff.values("pk")) | Q(pk=keep))
        .order_by("full_name", "email")
    )
