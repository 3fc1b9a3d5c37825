"""Erasure runs in the admin: four eyes (prepared, approved by another officer), items and records read-only."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.privacy.admin_readonly import ReadOnlyAdmin
from retention import selectors, services
from retention.admin.common import HistoryWithoutRevert, messages_of, staff_name
from retention.choices import ItemStatus
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem


@admin.register(ErasureRun)
class ErasureRunAdmin(HistoryWithoutRevert, ReadOnlyAdmin):
    list_display = ("__str__", "trigger", "status", "prepared_name", "approved_name", "created_at", "finished_at",
                    "members", "erased", "failed")
    list_select_related = ("prepared_by", "approved_by")
    list_filter = ("status", "trigger")
    show_full_result_count = False
    actions = ("approve_runs", "reject_runs", "retry_failed")
    fields = ("trigger", "status", "dry_run", "product_line", "request_reference", "prepared_by", "approved_by",
              "created_at", "started_at", "finished_at", "item_summary", "failures", "counts")
    readonly_fields = fields

    def get_queryset(self, request):
        # Per-run item counts for the changelist in the same query (no query per row).
        return super().get_queryset(request).annotate(
            n_items=Count("items"),
            n_erased=Count("items", filter=Q(items__status=ItemStatus.ERASED)),
            n_failed=Count("items", filter=Q(items__status=ItemStatus.FAILED)),
        )

    def has_approve_erasure_permission(self, request):
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def has_prepare_erasure_permission(self, request):
        return request.user.has_perm(services.PREPARE_PERMISSION)

    @admin.display(description=_("prepared by"))
    def prepared_name(self, obj):
        return staff_name(obj.prepared_by) if obj.prepared_by else _("schedule")

    @admin.display(description=_("approved by"))
    def approved_name(self, obj):
        return staff_name(obj.approved_by) if obj.approved_by else "—"

    @admin.display(description=_("members"))
    def members(self, obj):
        return obj.n_items

    @admin.display(description=_("erased"))
    def erased(self, obj):
        return obj.n_erased

    @admin.display(description=_("failed"))
    def failed(self, obj):
        return obj.n_failed

    @admin.display(description=_("items"))
    def item_summary(self, obj):
        counts = selectors.run_item_counts(run=obj)
        url = reverse("admin:retention_erasurerunitem_changelist") + f"?run__id__exact={obj.pk}"
        parts = format_html_join(", ", "{}: {}", ((label, counts.get(value, 0)) for value, label in ItemStatus.choices))
        return format_html('{} — <a href="{}">{}</a>', parts, url, _("list the items"))

    @admin.display(description=_("failures"))
    def failures(self, obj):
        failed = selectors.run_failures(run=obj)
        if not failed:
            return "—"
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", ((i.member_number, i.error) for i in failed))
        return format_html("<table><tr><th>{}</th><th>{}</th></tr>{}</table>", _("member"), _("error"), rows)

    def _each(self, request, queryset, service, done: str) -> None:
        ok = 0
        for run in queryset:
            try:
                service(run)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, messages_of(exc), messages.ERROR)
            else:
                ok += 1
        if ok:
            self.message_user(request, gettext("%(ok)s erasure run(s) %(done)s.") % {"ok": ok, "done": done},
                              messages.SUCCESS)

    @admin.action(description=_("Approve selected prepared runs (four eyes) and queue them"),
                  permissions=["approve_erasure"])
    def approve_runs(self, request, queryset):
        self._each(request, queryset, lambda run: services.erasure_run_approve(run=run, approved_by=request.user),
                   gettext("approved and queued"))

    @admin.action(description=_("Reject selected prepared runs"), permissions=["prepare_erasure"])
    def reject_runs(self, request, queryset):
        self._each(request, queryset, lambda run: services.erasure_run_reject(run=run, rejected_by=request.user),
                   gettext("rejected"))

    @admin.action(description=_("Retry the failed members of selected runs"), permissions=["prepare_erasure"])
    def retry_failed(self, request, queryset):
        self._each(request, queryset, lambda run: services.erasure_run_retry_failed(run=run, user=request.user),
                   gettext("queued again for their failed members"))


@admin.register(ErasureRunItem)
class ErasureRunItemAdmin(ReadOnlyAdmin):
    list_display = ("member_number", "run", "status", "error", "finished_at")
    list_select_related = ("run",)
    list_filter = ("status", "run__trigger")
    search_fields = ("=member_number",)
    show_full_result_count = False
    fields = ("run", "member_number", "status", "error", "finished_at")
    readonly_fields = fields


@admin.register(ErasureRecord)
class ErasureRecordAdmin(ReadOnlyAdmin):
    """Proof of erasure (PP-02): no personal data, nothing editable."""

    list_display = ("__str__", "trigger", "finished_at", "engine_version", "request_reference", "run")
    list_select_related = ("run",)
    list_filter = ("trigger", "engine_version")
    search_fields = ("=request_reference",)
    show_full_result_count = False
    fields = ("subject_hash", "trigger", "counts", "started_at", "finished_at", "engine_version",
              "request_reference", "run")
    readonly_fields = fields
