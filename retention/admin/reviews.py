"""Processing reviews and impact assessments in the admin (the report served only through the admin)."""

from __future__ import annotations

import io

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import StaffUser
from retention import services
from retention.admin.common import HistoryWithoutRevert, StaffChoiceField, compliance_staff, staff_name
from retention.models import ImpactAssessment, ProcessingReview


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
        return staff_name(obj.reviewer)


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
        return staff_name(obj.assessor)

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
