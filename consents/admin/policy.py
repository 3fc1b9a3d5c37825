"""Policy versions with their re-consent campaigns, and the notices a campaign sends (PP-39, PP-40)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import ReadOnlyHistoryMixin
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from accounts.privacy.large_tables import LargeTableMixin
from consents import campaigns
from consents.admin.base import (
    MemberNumberMixin,
    service_messages,
    without_member_secrets,
)
from consents.choices import NoticeStatus
from consents.forms import (
    PolicyVersionForm,
)
from consents.models import (
    PolicyVersion,
    ReconsentNotice,
)


# --- Policy versions and campaigns ----------------------------------------------------------------
@admin.register(PolicyVersion)
class PolicyVersionAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Drafts are edited; publishing is an action that calls the service; published versions are read-only."""

    form = PolicyVersionForm
    list_display = (
        "version", "major", "published_at", "effective_at", "published_by",
        "queued", "notified", "seen", "accepted",
    )
    list_select_related = ("published_by",)
    raw_id_fields = ("published_by",)
    readonly_fields = ("published_at", "published_by", "campaign_progress")
    search_fields = ("version",)
    actions = ("publish_selected",)
    fieldsets = (
        (None, {"fields": ("version", "summary", "change_kinds", "text")}),
        (_("Publication"), {"fields": ("effective_at", "published_at", "published_by")}),
        (_("Re-consent campaign (PP-39)"), {"fields": ("campaign_progress",)}),
    )

    def get_queryset(self, request):
        # Campaign counts for the whole page in the page's own query (conditional aggregation).
        return campaigns.with_campaign_counts(super().get_queryset(request))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # versions are a register, not a scratch list
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_published:
            return False  # PP-39: what was published stays as it was published
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.is_published:
            return False
        return super().has_delete_permission(request, obj)

    def has_publish_permission(self, request) -> bool:
        return request.user.has_perm(campaigns.PUBLISH_PERMISSION)

    @admin.action(description=_("Publish the selected versions (a major one starts a re-consent campaign)"),
                  permissions=["publish"])
    def publish_selected(self, request, queryset):
        for version in queryset.order_by("pk"):
            try:
                result = campaigns.policy_version_publish(version=version, user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{version}: {'; '.join(service_messages(exc))}", messages.ERROR)
                continue
            if result.notices_queued:
                text = gettext("%(version)s published: %(count)s member(s) will be notified (PP-39).") % {
                    "version": version, "count": result.notices_queued,
                }
            else:
                text = gettext("%(version)s published (minor: no re-consent campaign).") % {"version": version}
            self.message_user(request, text, messages.SUCCESS)

    def _progress(self, obj) -> campaigns.CampaignProgress:
        return campaigns.CampaignProgress.of_annotated(obj)

    @admin.display(description=_("major"), boolean=True)
    def major(self, obj) -> bool:
        return obj.is_major

    @admin.display(description=_("queued"), ordering="notices_queued")
    def queued(self, obj) -> int:
        return obj.notices_queued

    @admin.display(description=_("notified"), ordering="notices_notified")
    def notified(self, obj) -> str:
        progress = self._progress(obj)
        return f"{progress.notified} ({progress.notified_percent}%)" if progress.queued else "—"

    @admin.display(description=_("seen"), ordering="notices_seen")
    def seen(self, obj) -> str:
        progress = self._progress(obj)
        return f"{progress.seen} ({progress.seen_percent}%)" if progress.queued else "—"

    @admin.display(description=_("accepted"), ordering="notices_accepted")
    def accepted(self, obj) -> str:
        progress = self._progress(obj)
        return f"{progress.accepted} ({progress.accepted_percent}%)" if progress.queued else "—"

    @admin.display(description=_("progress"))
    def campaign_progress(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "—"
        if not obj.is_major:
            return _("A minor version: no campaign; continued use is acceptance (PP-39).")
        if not obj.is_published:
            return _("Starts when this major version is published.")
        progress = self._progress(obj)
        notices = reverse("admin:consents_reconsentnotice_changelist") + "?" + urlencode(
            {"policy_version__id__exact": obj.pk}
        )
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td><td>{}%</td></tr>",
            (
                (_("Queued"), progress.queued, 100.0 if progress.queued else 0.0),
                (_("Notified"), progress.notified, progress.notified_percent),
                (_("Seen"), progress.seen, progress.seen_percent),
                (_("Accepted"), progress.accepted, progress.accepted_percent),
            ),
        )
        return format_html('<table class="campaign-progress">{}</table><p><a href="{}">{}</a></p>',
                           rows, notices, _("List the notices"))


class NoticeStatusFilter(admin.SimpleListFilter):
    title = _("furthest step")
    parameter_name = "step"

    def lookups(self, request, model_admin):
        return NoticeStatus.choices

    def queryset(self, request, queryset):
        value = self.value()
        if value == NoticeStatus.QUEUED:
            return queryset.filter(notified_at__isnull=True, seen_at__isnull=True, accepted_at__isnull=True)
        if value == NoticeStatus.NOTIFIED:
            return queryset.filter(notified_at__isnull=False, seen_at__isnull=True, accepted_at__isnull=True)
        if value == NoticeStatus.SEEN:
            return queryset.filter(seen_at__isnull=False, accepted_at__isnull=True)
        if value == NoticeStatus.ACCEPTED:
            return queryset.filter(accepted_at__isnull=False)
        return queryset


@admin.register(ReconsentNotice)
class ReconsentNoticeAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyAdmin):
    list_display = ("id", "member_number", "policy_version", "queued_at", "notified_at", "seen_at", "accepted_at")
    list_filter = ("policy_version", NoticeStatusFilter)
    list_select_related = ("member", "policy_version")
    raw_id_fields = ("member", "policy_version")
    search_fields = ("=member__member_number",)
    show_full_result_count = False
    fields = ("policy_version", "member", "queued_at", "notified_at", "seen_at", "accepted_at")

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))
