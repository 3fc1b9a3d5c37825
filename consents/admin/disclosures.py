"""Recipients and the disclosure register: prepare, decide, export (PP-21 to PP-24)."""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.members.spreadsheets.cells import escape_formula
from accounts.privacy.admin_mixins import ReadOnlyHistoryMixin
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from accounts.privacy.large_tables import LargeTableMixin
from consents import disclosures
from consents.admin.base import (
    MemberNumberMixin,
    form_add_service_errors,
    service_messages,
    without_member_secrets,
)
from consents.choices import DisclosureStatus
from consents.forms import (
    DecisionForm,
    DisclosurePrepareForm,
)
from consents.models import (
    DisclosedMember,
    Disclosure,
    Recipient,
)


# --- Recipients and the disclosure register ------------------------------------------------------
@admin.register(Recipient)
class RecipientAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    list_display = ("name", "kind", "country", "agreement_signed_on", "agreement_expires_on", "agreement_valid_today")
    list_filter = ("kind",)
    search_fields = ("name",)
    list_select_related = ()

    @admin.display(description=_("agreement valid today"), boolean=True)
    def agreement_valid_today(self, obj) -> bool | None:
        if obj.kind != "partner" and obj.agreement_signed_on is None:
            return None
        return obj.has_valid_agreement_on(timezone.localdate())

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the register refers to recipients for ever


REGISTER_COLUMNS = (
    ("id", "Entry"), ("kind", "Kind"), ("recipient", "Recipient"), ("basis", "Basis"),
    ("legal_grounds", "Legal grounds"), ("ground_records", "Processing on legal grounds"),
    ("data_categories", "Data categories"), ("description", "Description"),
    ("member_count", "Members concerned"), ("status", "Status"), ("prepared_by", "Prepared by"),
    ("prepared_at", "Prepared at"), ("approved_by", "Approved by"), ("decided_at", "Decided at"),
    ("disclosed_on", "Disclosed on"), ("decision_note", "Decision note"),
)


@admin.register(Disclosure)
class DisclosureAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """The register. Entries are prepared through a form that calls the service, decided with
    buttons that call the approval services, and never edited or deleted."""

    list_display = ("entry", "kind", "recipient", "basis", "status", "member_count", "prepared_by",
                    "approved_by", "prepared_at", "decided_at")
    list_filter = ("status", "kind", "basis")
    list_select_related = ("recipient", "prepared_by", "approved_by")
    raw_id_fields = ("recipient", "prepared_by", "approved_by")
    search_fields = ("recipient__name", "description")
    readonly_fields = ("members_concerned",)
    fields = ("kind", "recipient", "basis", "legal_grounds", "ground_records", "data_categories", "description",
              "members_concerned",
              "disclosed_on", "status", "prepared_by", "prepared_at", "approved_by", "decided_at", "decision_note")
    actions = ("approve_selected", "export_register_csv")

    @admin.display(description=_("entry"), ordering="pk")
    def entry(self, obj) -> str:
        return str(obj)

    @admin.display(description=_("members concerned"))
    def members_concerned(self, obj) -> str:
        # Never a row per member here: the count, and a link to a paginated list.
        url = reverse("admin:consents_disclosedmember_changelist") + "?" + urlencode({"disclosure__id__exact": obj.pk})
        return format_html('{} — <a href="{}">{}</a>', obj.member_count, url, _("list them"))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # decided through the services only; the page is read-only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm(disclosures.APPROVE_PERMISSION)

    def get_urls(self):
        view = self.admin_site.admin_view(self.decide_view)
        decide = path("<int:pk>/decide/", view, name="consents_disclosure_decide")
        return [decide, *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        """"Add disclosure" opens the preparation form, which calls ``disclosure_prepare``."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = DisclosurePrepareForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                disclosure = disclosures.disclosure_prepare(
                    kind=data["kind"], recipient=data["recipient"], basis=data["basis"],
                    data_categories=data["data_categories"], description=data["description"],
                    members_queryset=form.members_queryset(), legal_grounds=data["legal_grounds"],
                    ground_records=data["ground_records"], user=request.user, disclosed_on=data["disclosed_on"],
                )
            except ValidationError as exc:
                form_add_service_errors(form, exc)
            else:
                self.log_addition(request, disclosure, [{"added": {}}])
                self.message_user(
                    request,
                    gettext("%(disclosure)s entered for %(count)s member(s); it awaits approval by someone else.")
                    % {"disclosure": disclosure, "count": disclosure.member_count},
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:consents_disclosure_change", args=[disclosure.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Prepare a disclosure"),
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/consents/disclosure/prepare.html", context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "decision_form": DecisionForm()}
        return super().change_view(request, object_id, form_url, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        awaiting = obj is not None and obj.status == DisclosureStatus.AWAITING_APPROVAL
        is_preparer = obj is not None and obj.prepared_by_id == request.user.pk
        # The preparer may withdraw (reject) their own entry but never sees an approve button.
        context["can_approve"] = awaiting and self.has_approve_permission(request) and not is_preparer
        context["can_decide"] = awaiting and (self.has_approve_permission(request) or is_preparer)
        context["decide_url"] = reverse("admin:consents_disclosure_decide", args=[obj.pk]) if obj else ""
        return super().render_change_form(request, context, add, change, form_url, obj)

    def decide_view(self, request, pk):
        """POST only: approve or reject one disclosure through the services."""
        if request.method != "POST":
            raise PermissionDenied
        disclosure = get_object_or_404(Disclosure, pk=pk)
        if not self.has_view_permission(request, disclosure):
            raise PermissionDenied
        form = DecisionForm(request.POST)
        change_url = reverse("admin:consents_disclosure_change", args=[pk])
        if not form.is_valid():
            self.message_user(request, _("Choose approve or reject."), messages.ERROR)
            return HttpResponseRedirect(change_url)
        decision, note = form.cleaned_data["decision"], form.cleaned_data["note"]
        try:
            if decision == "approve":
                disclosures.disclosure_approve(disclosure=disclosure, user=request.user, note=note)
            else:
                disclosures.disclosure_reject(disclosure=disclosure, user=request.user, note=note)
        except (ValidationError, PermissionDenied) as exc:
            self.message_user(request, f"{disclosure}: {'; '.join(service_messages(exc))}", messages.ERROR)
        else:
            self.log_change(request, disclosure, [{"changed": {"fields": ["status"]}}])
            verb = _("approved") if decision == "approve" else _("rejected")
            self.message_user(request, f"{disclosure} {verb}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    @admin.action(description=_("Approve the selected disclosures"), permissions=["approve"])
    def approve_selected(self, request, queryset):
        for disclosure in queryset.order_by("pk"):
            try:
                disclosures.disclosure_approve(disclosure=disclosure, user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{disclosure}: {'; '.join(service_messages(exc))}", messages.ERROR)
            else:
                self.log_change(request, disclosure, [{"changed": {"fields": ["status"]}}])
                self.message_user(request, gettext("%(disclosure)s approved.") % {"disclosure": disclosure},
                                  messages.SUCCESS)

    @admin.action(description=_("Export the selected entries (CSV)"), permissions=["view"])
    def export_register_csv(self, request, queryset):
        """The register as a spreadsheet; every text cell is formula-escaped (decision 8)."""
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="disclosure-register.csv"'
        response.write("\ufeff")  # a BOM: Excel reads the file as UTF-8, Chinese names included (issue 16)
        writer = csv.writer(response)
        writer.writerow([label for _name, label in REGISTER_COLUMNS])
        rows = queryset.select_related("recipient", "prepared_by", "approved_by").prefetch_related(
            "legal_grounds", "ground_records"
        )
        for obj in rows.order_by("pk"):
            values = {
                "id": obj.pk,
                "kind": obj.get_kind_display(),
                "recipient": obj.recipient.name,
                "basis": obj.get_basis_display(),
                "legal_grounds": "; ".join(g.code for g in obj.legal_grounds.all()),
                "ground_records": "; ".join(f"#{r.pk} {r.reference}" for r in obj.ground_records.all()),
                "data_categories": ", ".join(obj.data_categories),
                "description": obj.description,
                "member_count": obj.member_count,
                "status": obj.get_status_display(),
                "prepared_by": str(obj.prepared_by),
                "prepared_at": obj.prepared_at.isoformat(),
                "approved_by": str(obj.approved_by) if obj.approved_by_id else "",
                "decided_at": obj.decided_at.isoformat() if obj.decided_at else "",
                "disclosed_on": obj.disclosed_on.isoformat() if obj.disclosed_on else "",
                "decision_note": obj.decision_note,
            }
            writer.writerow([escape_formula(str(values[name])) for name, _label in REGISTER_COLUMNS])
        return response


@admin.register(DisclosedMember)
class DisclosedMemberAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyAdmin):
    """The members of one disclosure, paginated: reached from the disclosure's page."""

    list_display = ("member_number", "disclosure")
    list_select_related = ("member", "disclosure")
    raw_id_fields = ("member", "disclosure")
    search_fields = ("=member__member_number",)
    show_full_result_count = False

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))
