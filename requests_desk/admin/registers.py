"""Read-only registers in the admin: access packages, package downloads (PP-29), reminders (PP-34),
transitions (design decision 4)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.privacy.admin_mixins import SensitiveModelAdminMixin
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from requests_desk.admin.base import EMPTY, member_link
from requests_desk.models import AccessPackage, PackageDownload, ReminderLog, Transition


class RequestColumnMixin:
    """A "request" column linking to the request; registers that grow with the desk skip the full count."""

    request_path = "request"
    show_full_result_count = False

    @admin.display(description=_("request"))
    def request_column(self, obj):
        target = obj
        for part in self.request_path.split("__"):
            target = getattr(target, part)
        url = reverse("admin:requests_desk_request_change", args=[target.pk])
        return format_html('<a href="{}">{}</a>', url, target.reference)


@admin.register(AccessPackage)
class AccessPackageAdmin(RequestColumnMixin, ReadOnlyAdmin):
    """Generated access packages (PP-29): the file is encrypted and reachable only through the member's link."""

    list_display = ("__str__", "request_column", "member_column", "created_at", "expires_at", "link_state",
                    "download_count")
    list_select_related = ("request", "member")
    list_filter = ("created_at", "expires_at")
    raw_id_fields = ("request", "member")
    search_fields = ("=request__reference", "=member__member_number")
    fields = ("request_column", "member_column", "created_at", "expires_at", "link_state", "row_counts",
              "stored_file", "download_count")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_downloads=Count("downloads"))

    @admin.display(description=_("member"))
    def member_column(self, obj):
        return member_link(obj.member)

    @admin.display(description=_("link"))
    def link_state(self, obj) -> str:
        return _("expired") if obj.expires_at <= timezone.now() else _("valid")

    @admin.display(description=_("file"))
    def stored_file(self, obj) -> str:
        return _("Encrypted ZIP; downloaded only through the link sent to the requester") if obj.file else EMPTY

    @admin.display(description=_("downloads"))
    def download_count(self, obj) -> int:
        return obj.n_downloads


@admin.register(PackageDownload)
class PackageDownloadAdmin(RequestColumnMixin, SensitiveModelAdminMixin, ReadOnlyAdmin):
    """Every download of an access package: when, from where, by whom (PP-29)."""

    request_path = "package__request"
    list_display = ("at", "package", "request_column", "ip_address", "user_agent", "staff_user")
    list_select_related = ("package__request", "package__member", "staff_user")
    list_filter = ("at",)
    raw_id_fields = ("package", "staff_user")
    fields = ("at", "package", "request_column", "ip_address", "user_agent", "staff_user")
    readonly_fields = fields


@admin.register(ReminderLog)
class ReminderLogAdmin(RequestColumnMixin, ReadOnlyAdmin):
    """Deadline reminders and escalations sent (PP-34), each exactly once."""

    list_display = ("created_at", "request_column", "staff_user", "kind", "days_before", "due_at", "sent_at")
    list_select_related = ("request", "staff_user")
    list_filter = ("kind", "days_before", "sent_at")
    raw_id_fields = ("request", "staff_user")
    fields = ("request_column", "staff_user", "kind", "days_before", "due_at", "created_at", "sent_at")
    readonly_fields = fields


@admin.register(Transition)
class TransitionAdmin(RequestColumnMixin, ReadOnlyAdmin):
    """Every state change of every request, with actor and time (design decision 4)."""

    list_display = ("at", "request_column", "name", "from_status", "to_status", "actor")
    list_select_related = ("request", "actor")
    list_filter = ("name", "to_status", "from_status")
    raw_id_fields = ("request", "actor")
    search_fields = ("=request__reference",)
    fields = ("request_column", "name", "from_status", "to_status", "actor", "at", "note")
    readonly_fields = fields
