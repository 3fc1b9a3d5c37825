"""Read-only inlines of a request's admin page: messages (PP-14), transitions, identity checks (PP-30),
access packages (PP-29)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.utils.translation import gettext_lazy as _

from accounts.privacy.admin_mixins import SensitiveInlineMixin
from accounts.privacy.admin_readonly import ReadOnlyMixin
from requests_desk.models import AccessPackage, IdentityCheck, Message, Transition


class _ReadOnlyInline(ReadOnlyMixin):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False


class MessageInline(_ReadOnlyInline, SensitiveInlineMixin, admin.TabularInline):
    """Every inbound and outbound message (PP-14); bodies masked, revealed through the logged page."""

    model = Message
    fields = ("at", "direction", "channel", "template", "subject", "body", "sender", "attachment_count")
    readonly_fields = ("at", "direction", "channel", "template", "subject", "sender", "attachment_count")
    verbose_name_plural = _("messages")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("sender").annotate(n_attachments=Count("attachments"))

    @admin.display(description=_("attachments"))
    def attachment_count(self, obj) -> int:
        return obj.n_attachments


class TransitionInline(_ReadOnlyInline, admin.TabularInline):
    model = Transition
    fields = ("at", "name", "from_status", "to_status", "actor", "note")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class IdentityCheckInline(_ReadOnlyInline, admin.TabularInline):
    """The verification gate (PP-30): how, by whom, when."""

    model = IdentityCheck
    fields = ("verified_at", "method", "evidence", "authority_evidence", "verified_by")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("verified_by")


class AccessPackageInline(_ReadOnlyInline, admin.TabularInline):
    model = AccessPackage
    fields = ("created_at", "expires_at", "row_counts", "download_count")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(n_downloads=Count("downloads"))

    @admin.display(description=_("downloads"))
    def download_count(self, obj) -> int:
        return obj.n_downloads
