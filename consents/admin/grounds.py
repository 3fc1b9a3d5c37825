"""Processing on legal grounds (PP-17): record, approve (a supervisor, four eyes), end with a reason.

The page is a register: the record form calls ``processing_ground_record``; approving and ending
are buttons on the record's page and an approval action on the list, each calling its service and
showing its errors. A record is never edited or deleted; its history shows who did what.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import ReadOnlyHistoryMixin
from accounts.privacy.large_tables import LargeTableMixin
from consents.admin.base import MemberNumberMixin, form_add_service_errors, service_messages, without_member_secrets
from consents.grounds import services
from consents.grounds.models import GroundStatus, ProcessingOnGround

RECORD_FIELDS = ("purpose", "member", "product_line", "ground", "reference", "starts_on", "ends_on")


class ProcessingOnGroundForm(forms.ModelForm):
    """The record's terms, checked by the service's own rules before anything is saved."""

    class Meta:
        model = ProcessingOnGround
        fields = RECORD_FIELDS

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                services.processing_ground_check(
                    purpose=cleaned.get("purpose"), member=cleaned.get("member"),
                    product_line=cleaned.get("product_line"), ground=cleaned.get("ground"),
                    reference=(cleaned.get("reference") or "").strip(), starts_on=cleaned.get("starts_on"),
                    ends_on=cleaned.get("ends_on"),
                )
            except ValidationError as exc:
                form_add_service_errors(self, exc)
        return cleaned


class EndForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("Why it ends (e.g. the order was lifted, the contract ended)."))


@admin.register(ProcessingOnGround)
class ProcessingOnGroundAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    form = ProcessingOnGroundForm
    list_display = ("entry", "member_number", "product_line", "purpose", "ground_label", "starts_on", "ends_on",
                    "status_label", "recorded_by", "approved_by")
    list_filter = ("purpose", "ground", "product_line")
    list_select_related = ("member", "product_line", "purpose", "ground", "recorded_by", "approved_by")
    raw_id_fields = ("member",)
    search_fields = ("=member__member_number", "reference")
    show_full_result_count = False
    readonly_fields = ("status_label", "recorded_by", "recorded_at", "approved_by", "approved_at", "ended_by",
                       "ended_at", "end_reason")
    actions = ("approve_selected",)

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))

    def get_fields(self, request, obj=None):
        return RECORD_FIELDS if obj is None else (*RECORD_FIELDS, *self.readonly_fields)

    def get_readonly_fields(self, request, obj=None):
        # Recorded terms are fixed: a changed ground is a new record (and a new approval).
        return self.readonly_fields if obj is None else (*RECORD_FIELDS, *self.readonly_fields)

    @admin.display(description=_("entry"), ordering="pk")
    def entry(self, obj) -> str:
        return str(obj)

    @admin.display(description=_("ground"), ordering="ground__position")
    def ground_label(self, obj) -> str:
        return f"{obj.ground.section} ({obj.ground.position})"

    @admin.display(description=_("status"))
    def status_label(self, obj) -> str:
        return str(GroundStatus(obj.status).label) if obj and obj.pk else "—"

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # approved and ended through the services only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # history: a record is ended, never deleted

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(services.APPROVE_PERMISSION)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        created = services.processing_ground_record(
            purpose=data["purpose"], ground=data["ground"], reference=data["reference"], user=request.user,
            starts_on=data["starts_on"], ends_on=data.get("ends_on"), member=data.get("member"),
            product_line=data.get("product_line"),
        )
        obj.pk, obj.recorded_by, obj.recorded_at = created.pk, created.recorded_by, created.recorded_at
        obj._state.adding = False

    def get_urls(self):
        approve = path("<int:pk>/approve/", self.admin_site.admin_view(self.approve_view),
                       name="consents_processingonground_approve")
        end = path("<int:pk>/end/", self.admin_site.admin_view(self.end_view), name="consents_processingonground_end")
        return [approve, end, *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            open_ = obj.ended_at is None
            context["can_approve"] = (open_ and obj.approved_at is None and self.has_approve_permission(request)
                                      and obj.recorded_by_id != request.user.pk)
            context["can_end"] = open_ and request.user.has_perm(services.END_PERMISSION)
            context["approve_url"] = reverse("admin:consents_processingonground_approve", args=[obj.pk])
            context["end_url"] = reverse("admin:consents_processingonground_end", args=[obj.pk])
            context["end_form"] = EndForm()
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _decided(self, request, pk, act) -> HttpResponseRedirect:
        if request.method != "POST":
            raise PermissionDenied
        record = get_object_or_404(ProcessingOnGround, pk=pk)
        if not self.has_view_permission(request, record):
            raise PermissionDenied
        try:
            done = act(record)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"{record}: {'; '.join(service_messages(exc))}", messages.ERROR)
        else:
            self.log_change(request, record, [{"changed": {"fields": [done]}}])
            self.message_user(request, f"{record}: {gettext(done)}.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:consents_processingonground_change", args=[pk]))

    def approve_view(self, request, pk):
        def act(record):
            services.processing_ground_approve(record=record, user=request.user)
            return gettext_noop("approved")
        return self._decided(request, pk, act)

    def end_view(self, request, pk):
        form = EndForm(request.POST)

        def act(record):
            services.processing_ground_end(record=record, user=request.user,
                                           reason=form.data.get("reason", ""))
            return gettext_noop("ended")
        return self._decided(request, pk, act)

    @admin.action(description=_("Approve the selected records (four eyes)"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        for record in queryset.order_by("pk"):
            try:
                services.processing_ground_approve(record=record, user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{record}: {'; '.join(service_messages(exc))}", messages.ERROR)
            else:
                self.log_change(request, record, [{"changed": {"fields": ["approved"]}}])
                self.message_user(request, gettext("%(record)s approved.") % {"record": record}, messages.SUCCESS)

