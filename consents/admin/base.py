"""What every consents admin page shares: member-number links, read-only pages, service errors."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

#: Encrypted member columns that list pages never show: not loaded, so never decrypted. The date of
#: birth is loaded: a row about a member under 14 is masked whole (PP-01, ``accounts.privacy.children``),
#: and deferring it would cost a query per row.
MEMBER_SECRETS = ("email", "phone", "legal_name", "local_name")
TIMELINE_PAGE_SIZE = 100


def without_member_secrets(queryset: QuerySet, prefix: str = "member__") -> QuerySet:
    return queryset.defer(*(prefix + name for name in MEMBER_SECRETS))


def timeline_url(member_number: str) -> str:
    return reverse("admin:consents_timeline") + "?" + urlencode({"member": member_number})


class MemberNumberMixin:
    """A member-number column that links to the member's consent timeline."""

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_number(self, obj) -> str:
        if obj.member_id is None:
            return "—"
        number = obj.member.member_number
        return format_html('<a href="{}" title="{}">{}</a>', timeline_url(number), _("Consent timeline"), number)



def service_messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [str(message) for message in exc.messages]
    return [str(exc) or gettext("Not allowed.")]


def form_add_service_errors(form, exc: ValidationError) -> None:
    """Put a service's field-keyed errors on the form's fields (others at the top)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)
