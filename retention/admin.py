"""Retention in the admin: legal holds, erasure runs (four eyes), records, job runs, reviews (issue 5, req 8).

Destructive or releasing steps are admin actions or small forms that call ``retention.services``;
no status field is editable. Records, runs, items and job runs are read-only for everyone.
"""

from __future__ import annotations

import io

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_celery_beat.admin import PeriodicTaskAdmin as BeatPeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask
from simple_history.admin import SimpleHistoryAdmin

from accounts.dispatch.outbox import periodic_tasks_run_now
from accounts.models import StaffUser
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from accounts.staff import roles
from retention import selectors, services
from retention.choices import ItemStatus
from retention.models import (
    ErasureRecord,
    ErasureRun,
    ErasureRunItem,
    ImpactAssessment,
    JobRun,
    LegalHold,
    ProcessingReview,
)


def _messages_of(exc: Exception) -> str:
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


class StaffChoiceField(forms.ModelChoiceField):
    """Staff users by name (the default label is ``Staff #id``)."""

    def label_from_instance(self, obj: StaffUser) -> str:
        return obj.full_name or obj.email


def compliance_staff(*, keep: int | None = None):
    """Who may review or assess: active compliance staff, plus ``keep`` (the current one, even if gone)."""
    staff = StaffUser.objects.filter(is_active=True, groups__name__in=(roles.COMPLIANCE_OFFICER, roles.SUPERVISOR))
    return (
        StaffUser.objects.filter(Q(pk__in=staff.values("pk")) | Q(pk=keep))
        .order_by("full_name", "email")
    )


# --- Legal holds -------------------------------------------------------------------------------------
class LegalHoldAddForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ("member", "reason", "starts_on", "ends_on")

    def clean_reason(self):
        reason = (self.cleaned_data.get("reason") or "").strip()
        if len(reason) < services.MIN_REASON_LENGTH:
            raise ValidationError(gettext(
                "Give a reason of at least %(MIN_REASON_LENGTH)s characters."
            ) % {"MIN_REASON_LENGTH": services.MIN_REASON_LENGTH})
        return reason


class LegalHoldReleaseForm(forms.Form):
    release_reason = forms.CharField(
        label=_("Reason for releasing the hold"), widget=forms.Textarea(attrs={"rows": 3}),
        min_length=services.MIN_REASON_LENGTH,
    )


class HoldStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", _("In force today")), ("released", _("Released")), ("ended", _("Ended")))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "active":
            return queryset.filter(selectors.active_hold_q(today=today))
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        if self.value() == "ended":
            return queryset.filter(released_at__isnull=True, ends_on__lt=today)
        return queryset


@admin.register(LegalHold)
class LegalHoldAdmin(HistoryWithoutRevert):
    """Holds are placed with a reason and released with one; nothing else about them is edited."""

    list_display = ("__str__", "member_number", "state", "starts_on", "ends_on", "owner_name", "released_at")
    list_select_related = ("member", "owner")
    list_filter = (HoldStateFilter, "starts_on")
    search_fields = ("=member__member_number",)
    raw_id_fields = ("member",)
    show_full_result_count = False
    fields_on_change = ("member", "reason", "owner", "starts_on", "ends_on", "created_at", "released_at",
                        "released_by", "release_reason", "release_link")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LegalHoldAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return LegalHoldAddForm.Meta.fields if obj is None else self.fields_on_change

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.fields_on_change

    def has_change_permission(self, request, obj=None):
        # A hold's page is read-only: it changes only through the release form below.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        hold = services.legal_hold_place(
            member=form.cleaned_data["member"], reason=form.cleaned_data["reason"], owner=request.user,
            starts_on=form.cleaned_data.get("starts_on"), ends_on=form.cleaned_data.get("ends_on"),
        )
        obj.pk = hold.pk
        obj.owner = hold.owner
        obj._state.adding = False

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_number(self, obj: LegalHold) -> str:
        return obj.member.member_number

    @admin.display(description=_("owner"))
    def owner_name(self, obj: LegalHold) -> str:
        return obj.owner.full_name or obj.owner.email

    @admin.display(description=_("state"))
    def state(self, obj: LegalHold) -> str:
        today = timezone.localdate()
        if obj.released_at:
            return _("released")
        if obj.is_active_on(today):
            return _("in force")
        return _("ended") if obj.ends_on and obj.ends_on < today else _("starts later")

    @admin.display(description=_("release"))
    def release_link(self, obj: LegalHold) -> str:
        if obj.released_at:
            return "—"
        url = reverse("admin:retention_legalhold_release", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Release this hold…"))

    def get_urls(self):
        return [
            path("<int:hold_id>/release/", self.admin_site.admin_view(self.release_view),
                 name="retention_legalhold_release"),
            *super().get_urls(),
        ]

    def release_view(self, request, hold_id: int):
        """End a hold with a reason (PP-29): the only way a hold changes after it is placed."""
        hold = get_object_or_404(LegalHold.objects.select_related("member"), pk=hold_id)
        if not super().has_change_permission(request, hold):
            raise PermissionDenied
        form = LegalHoldReleaseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.legal_hold_release(hold=hold, released_by=request.user,
                                            reason=form.cleaned_data["release_reason"])
            except ValidationError as exc:
                self.message_user(request, _messages_of(exc), messages.ERROR)
            else:
                self.log_change(request, hold, [{"changed": {"fields": ["released_at", "release_reason"]}}])
                self.message_user(request, gettext(
                    "%(hold)s released; erasure of the member may resume."
                ) % {"hold": hold}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:retention_legalhold_change", args=[hold.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Release {hold}",
            "hold": hold,
            "form": form,
        }
        return TemplateResponse(request, "admin/retention/legalhold/release.html", context)


# --- Erasure runs (four eyes) ------------------------------------------------------------------------
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
        return (obj.prepared_by.full_name or obj.prepared_by.email) if obj.prepared_by else _("schedule")

    @admin.display(description=_("approved by"))
    def approved_name(self, obj):
        return (obj.approved_by.full_name or obj.approved_by.email) if obj.approved_by else "—"

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
                self.message_user(request, _messages_of(exc), messages.ERROR)
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


# --- Records and job runs ----------------------------------------------------------------------------
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


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "job", "started_at", "finished_at", "summary", "failed")
    list_filter = ("job",)
    show_full_result_count = False
    fields = ("job", "dry_run", "started_at", "finished_at", "counts", "error")
    readonly_fields = fields

    @admin.display(description=_("counts"))
    def summary(self, obj: JobRun) -> str:
        flat = {k: v for k, v in (obj.counts or {}).items() if not isinstance(v, dict) and k != "dry_run"}
        return ", ".join(f"{k}: {v}" for k, v in flat.items()) or "—"

    @admin.display(description=_("failed"), boolean=True)
    def failed(self, obj: JobRun) -> bool:
        return bool(obj.error)


# --- Reviews and assessments (PP-27) -----------------------------------------------------------------
class ProcessingReviewForm(forms.ModelForm):
    reviewer = StaffChoiceField(queryset=StaffUser.objects.none(), label=_("reviewer"))

    class Meta:
        model = ProcessingReview
        fields = ("processing", "reviewer", "reviewed_on", "outcome", "findings", "next_due")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewer"].queryset = compliance_staff(keep=self.instance.reviewer_id)


@admin.register(ProcessingReview)
class ProcessingReviewAdmin(HistoryWithoutRevert):
    form = ProcessingReviewForm
    list_display = ("__str__", "processing", "outcome", "reviewer_name", "reviewed_on", "next_due", "reminded_on")
    list_select_related = ("reviewer",)
    list_filter = ("outcome",)
    search_fields = ("processing",)
    readonly_fields = ("reminded_on",)
    show_full_result_count = False

    def get_changeform_initial_data(self, request):
        return {"reviewer": request.user.pk, "reviewed_on": timezone.localdate(), **super().get_changeform_initial_data(
            request)}

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        services.processing_review_save(review=obj)

    @admin.display(description=_("reviewer"))
    def reviewer_name(self, obj):
        return obj.reviewer.full_name or obj.reviewer.email


class ImpactAssessmentForm(forms.ModelForm):
    assessor = StaffChoiceField(queryset=StaffUser.objects.none(), label=_("assessor"))

    class Meta:
        model = ImpactAssessment
        fields = ("scope", "risk_level", "assessed_on", "assessor", "report", "next_due")
        # The report lives in protected storage, which has no URL: never render a link to it here.
        widgets = {"report": forms.FileInput}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assessor"].queryset = compliance_staff(keep=self.instance.assessor_id)

    def clean(self):
        data = super().clean()
        if data.get("next_due") and data.get("assessed_on") and data["next_due"] <= data["assessed_on"]:
            self.add_error("next_due", gettext("The next assessment must fall after this one."))
        return data


@admin.register(ImpactAssessment)
class ImpactAssessmentAdmin(HistoryWithoutRevert):
    form = ImpactAssessmentForm
    list_display = ("__str__", "scope", "risk_level", "assessor_name", "assessed_on", "next_due", "has_report")
    list_select_related = ("assessor",)
    list_filter = ("risk_level",)
    search_fields = ("scope",)
    readonly_fields = ("report_download", "reminded_on")
    show_full_result_count = False

    def get_changeform_initial_data(self, request):
        return {"assessor": request.user.pk, "assessed_on": timezone.localdate(),
                **super().get_changeform_initial_data(request)}

    def has_delete_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Shown read-only, the admin would link the file by its storage URL, which protected storage
            # refuses (a 500 for auditors): "report file" links the permission-checked download instead.
            return [name for name in fields if name != "report"]
        return fields

    def save_model(self, request, obj, form, change):
        services.impact_assessment_save(assessment=obj)

    @admin.display(description=_("assessor"))
    def assessor_name(self, obj):
        return obj.assessor.full_name or obj.assessor.email

    @admin.display(description=_("report"), boolean=True)
    def has_report(self, obj) -> bool:
        return bool(obj.report)

    @admin.display(description=_("report file"))
    def report_download(self, obj) -> str:
        if not obj or not obj.report:
            return "—"
        url = reverse("admin:retention_impactassessment_report", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Download the report"))

    def get_urls(self):
        return [
            path("<int:assessment_id>/report/", self.admin_site.admin_view(self.report_view),
                 name="retention_impactassessment_report"),
            *super().get_urls(),
        ]

    def report_view(self, request, assessment_id: int):
        """Serve the decrypted report to those who may view the assessment (never by URL to storage)."""
        assessment = get_object_or_404(ImpactAssessment, pk=assessment_id)
        if not self.has_view_permission(request, assessment):
            raise PermissionDenied
        if not assessment.report:
            raise Http404(gettext("No report file."))
        content = assessment.report.storage.open(assessment.report.name).read()
        # Stored under a random name without extension: name the download after the assessment.
        extension = "pdf" if content.startswith(b"%PDF-") else "bin"
        return FileResponse(io.BytesIO(content), as_attachment=True,
                            filename=f"impact-assessment-{assessment.pk}.{extension}")


# --- The beat schedule (design decision 6) ---------------------------------------------------------------
class PeriodicTaskAdmin(BeatPeriodicTaskAdmin):
    """django-celery-beat's actions (enable, disable, toggle, run now) declare no permission, so anyone
    who may only *view* the schedule (auditors) could stop a retention job or run an erasure at once:
    they are offered, and run, only with the change permission on periodic tasks."""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not self.has_change_permission(request):
            for name in ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"):
                actions.pop(name, None)
        return actions

    @admin.action(description=_("Run selected tasks now"))
    def run_tasks(self, request, queryset):
        """Run now, through the task outbox (issue 12): with the broker down the run waits and is sent
        when it is back, instead of an error page. Sent without the schedule's slot header, so a run
        asked for by hand always runs, even in a slot the schedule already used."""
        sent, waiting = periodic_tasks_run_now(queryset)
        if waiting:
            self.message_user(request, _("%(count)s task(s) recorded; the task broker is unreachable, so they wait "
                                         "in the outbox and start as soon as it is back.") % {"count": waiting},
                              level=messages.WARNING)
        else:
            self.message_user(request, _("%(count)s task(s) sent to the workers.") % {"count": sent})


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, PeriodicTaskAdmin)
