"""The sensitive-data access log (PP-25): read-only evidence of who saw what, when and why."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from accounts.privacy.admin_readonly import ReadOnlyMixin
from accounts.privacy.large_tables import LargeTableMixin
from accounts.privacy.models import SensitiveAccessLog


@admin.register(SensitiveAccessLog)
class SensitiveAccessLogAdmin(LargeTableMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Evidence of every unmasked view and download (PP-25): read-only for everyone, superusers too."""

    list_display = (
        "at", "staff_user", "action", "member_number", "model_label", "object_id", "field_name", "ip_address"
    )
    list_filter = ("action",)
    list_select_related = ("staff_user",)
    search_fields = ("=member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("staff_user",)
    readonly_fields = (
        "at", "staff_user", "action", "member_number", "model_label", "object_id", "field_name", "reason",
        "ip_address",
    )
    fields = readonly_fields
    actions = None
