"""The request desk in the Django admin (issue 6, requirement 10) for compliance officers and supervisors.

- **Requests**: filters by type, status, assignee and deadline (overdue / due soon); member data
  masked (the member by number, the requester's e-mail masked with a logged reveal); messages,
  transitions, identity checks and access packages listed read-only on the request's page. The
  status and the timestamps are never editable: every change of state goes through
  ``requests_desk.workflow.transition``.
- **Bulk actions on the filtered results** ("select all N" included): close duplicates, assign to
  an agent, extend the deadline (intermediate forms) and fulfil per type. Each request is handled
  on its own, through the state machine (``workflow.transition`` / the services and fulfilment that
  call it); a request that cannot be changed is reported by reference with the reason, and the
  others still go through. Never a 500.
- **Access packages, package downloads, reminders, transitions**: read-only.

Every changelist and change page runs a bounded number of queries (``list_select_related``,
inlines with ``select_related``/annotations), asserted by ``tests/requests_desk/test_requests_admin.py``.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.admin_mixins import MaskedHistoryMixin, SensitiveInlineMixin, SensitiveModelAdminMixin
from accounts.forms import SensitiveModelForm
from accounts.models import StaffUser
from consents.choices import PurposeKind
from consents.models import Purpose
from requests_desk import lifecycle, workflow
from requests_desk.choices import RequestType, Severity
from requests_desk.fulfilment import consent_withdrawal, correction, dispatcher, reports
from requests_desk.models import (
    AccessPackage,
    IdentityCheck,
    Message,
    PackageDownload,
    ReminderLog,
    Request,
    Transition,
)
from requests_desk.permissions import DECIDE, WORK_QUEUE
from requests_desk.states import OPEN_STATES

#: "Due soon" in the deadline filter: due within this many days (and not overdue).
DUE_SOON_DAYS = 3
#: Per-request errors listed one by one in the messages; the rest are counted.
MAX_LISTED_ERRORS = 20
EMPTY = "—"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(text for texts in exc.message_dict.values() for text in texts)
        return "; ".join(exc.messages)
    return str(exc) or type(exc).__name__


def _member_link(member) -> str:
    if member is None:
        return EMPTY
    url = reverse("admin:accounts_member_change", args=[member.pk])
    return format_html('<a href="{}">{}</a>', url, member.member_number)


# --- Filters -----------------------------------------------------------------------------------------
class DeadlineFilter(admin.SimpleListFilter):
    """Open requests past their due date, or due within ``DUE_SOON_DAYS`` (PP-34)."""

    title = _("deadline")
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return (("overdue", _("Overdue")), ("due_soon", f"Due within {DUE_SOON_DAYS} days"),
                ("open", _("Open, on time")))

    def queryset(self, request, queryset):
        now = timezone.now()
        open_ = queryset.filter(status__in=list(OPEN_STATES))
        if self.value() == "overdue":
            return open_.filter(due_at__lt=now)
        if self.value() == "due_soon":
            return open_.filter(due_at__gte=now, due_at__lt=now + datetime.timedelta(days=DUE_SOON_DAYS))
        if self.value() == "open":
            return open_.filter(due_at__gte=now)
        return queryset


# --- Inlines of the request page (read-only) -----------------------------------------------------------
class _ReadOnlyInline:
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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


# --- Intermediate forms of the bulk actions --------------------------------------------------------------
class CloseDuplicatesForm(forms.Form):
    note = forms.CharField(label=_("Why they are duplicates"), widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Recorded on each request's transition, e.g. the reference it repeats."))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=StaffUser.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Staff who work the queue (agents, compliance, supervisors): one query.
        self.fields["assignee"].queryset = (
            StaffUser.objects.filter(is_active=True)
            .filter(Q(groups__permissions__codename="work_queue") | Q(is_superuser=True))
            .distinct()
            .order_by("full_name", "pk")
        )
        self.fields["assignee"].label_from_instance = lambda user: f"{user.full_name or user} ({user})"


class ExtendForm(forms.Form):
    due_on = forms.DateField(label=_("New due date"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Told to the requester in the extension letter (PP-34)."))
    notify = forms.BooleanField(label=_("Send the extension letter"), required=False, initial=True)

    def due_at(self) -> datetime.datetime:
        day = self.cleaned_data["due_on"]
        # End of the chosen day in the site's time zone.
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(23, 59)))


class FulfilForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Added to the reply sent to each requester."))
    notify = forms.BooleanField(label=_("Send the fulfilment letter"), required=False, initial=True)


# --- Preparing a fulfilment (one request) -------------------------------------------------------------
class CorrectionPrepareForm(forms.Form):
    """The proposed change: one optional input per correctable member field (data map)."""

    title = _("Propose the correction")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in correction.correctable_fields().items():
            self.fields[name] = forms.CharField(label=label, required=False,
                                                help_text=_("YYYY-MM-DD") if name == "date_of_birth" else "")

    def apply(self, obj, user) -> None:
        changes = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        correction.correction_propose(request=obj, changes=changes, user=user)


class WithdrawalPrepareForm(forms.Form):
    title = _("Purposes the member withdraws")
    purposes = forms.ModelMultipleChoiceField(label=_("Purposes"), queryset=Purpose.objects.none(),
                                              widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Basic purposes are not withdrawn one by one (PP-04): only the additional ones are offered.
        self.fields["purposes"].queryset = Purpose.objects.filter(kind=PurposeKind.ADDITIONAL).order_by("name")

    def apply(self, obj, user) -> None:
        consent_withdrawal.consent_withdrawal_propose(request=obj, purposes=self.cleaned_data["purposes"], user=user)


class SeverityForm(forms.Form):
    title = _("Grade the security report")
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)

    def apply(self, obj, user) -> None:
        reports.security_report_set_severity(request=obj, severity=self.cleaned_data["severity"], user=user)


PREPARE_FORMS = {
    RequestType.CORRECTION: CorrectionPrepareForm,
    RequestType.CONSENT_WITHDRAWAL: WithdrawalPrepareForm,
    RequestType.SECURITY_REPORT: SeverityForm,
}


# --- Requests ------------------------------------------------------------------------------------------
class RequestAdminForm(SensitiveModelForm):
    """The few fields edited here; the requester's e-mail only through the masked "replace" input."""

    class Meta:
        model = Request
        fields = ("priority", "member", "concerns", "subject", "requester_email")

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        if instance.pk and instance.status not in OPEN_STATES:
            raise ValidationError(_("This request is closed: it is no longer edited."))
        if "member" in self.changed_data and instance.pk and instance.identity_checks.exists():
            self.add_error("member", _("The requester was already verified against the member (PP-30)."))
        if cleaned.get("concerns") is not None and instance.type != RequestType.COMPLAINT:
            self.add_error("concerns", _("Only a complaint concerns another request."))
        if cleaned.get("concerns") is not None and cleaned["concerns"].pk == instance.pk:
            self.add_error("concerns", _("A complaint cannot concern itself."))
        return cleaned


@admin.register(Request)
class RequestAdmin(MaskedHistoryMixin, SensitiveModelAdminMixin, SimpleHistoryAdmin):
    form = RequestAdminForm
    list_display = ("reference", "type", "status", "priority", "member_column", "assignee", "received_at", "due_at",
                    "deadline", "is_repeat")
    list_filter = ("type", "status", ("assignee", admin.RelatedOnlyFieldListFilter), DeadlineFilter, "channel",
                   "requester_kind", "is_repeat", "severity")
    list_select_related = ("member", "assignee")
    raw_id_fields = ("member", "concerns")
    search_fields = ("=reference", "=member__member_number")
    search_help_text = _("Exact reference (DSR-…) or member number.")
    ordering = ("due_at", "pk")
    show_full_result_count = False
    list_per_page = 50
    inlines = (IdentityCheckInline, TransitionInline, MessageInline, AccessPackageInline)
    readonly_fields = (
        "reference", "type", "status", "requester_kind", "requester_name", "channel", "received_at", "due_at",
        "severity", "assignee", "description", "is_repeat", "fee_amount", "fee_reason",
        "grounds", "decision_note", "prepared_by", "approved_by", "closed_at", "desk_page", "to_fulfil",
    )
    fieldsets = (
        (None, {"fields": ("reference", "desk_page", "type", "status", "priority", "severity", "assignee")}),
        (_("Requester"), {"fields": ("requester_kind", "requester_name", "requester_email", "channel", "member",
                                     "concerns")}),
        (_("Deadline"), {"fields": ("received_at", "due_at", "closed_at")}),
        (_("Content"), {"fields": ("subject", "description", "to_fulfil")}),
        (_("Decision"), {"fields": ("is_repeat", "fee_amount", "fee_reason", "grounds", "decision_note",
                                    "prepared_by", "approved_by")}),
    )
    actions = ("close_duplicates", "assign", "extend", "fulfil")

    # -- display --
    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "assignee", "prepared_by", "approved_by",
                                                            "concerns")

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_column(self, obj):
        return _member_link(obj.member)

    @admin.display(description=_("deadline"))
    def deadline(self, obj) -> str:
        if obj.status not in OPEN_STATES:
            return EMPTY
        left = obj.due_at - timezone.now()
        if left.total_seconds() < 0:
            return format_html('<strong class="overdue">overdue {} d</strong>', -left.days)
        return f"{left.days} d left"

    @admin.display(description=_("refusal grounds"))
    def grounds(self, obj) -> str:
        return "; ".join(f"{g.section} ({g.position})" for g in obj.refusal_grounds.all()) or EMPTY

    @admin.display(description=_("desk page"))
    def desk_page(self, obj):
        if not obj.pk:
            return EMPTY
        return format_html('<a href="{}">{}</a>', reverse("requests_desk:request_detail", args=[obj.reference]),
                           _("Open in the request desk"))

    @admin.display(description=_("what fulfilment will do"))
    def to_fulfil(self, obj):
        """The type's prepared details (proposed correction masked, purposes, severity) and a link to edit them."""
        details = obj.details or {}
        lines: list[str] = []
        if obj.type == RequestType.CORRECTION:
            lines = [f"{label}: {value}" for label, value in correction.correction_proposal_display(obj)]
            lines = lines or [str(_("No correction proposed yet."))]
        elif obj.type == RequestType.CONSENT_WITHDRAWAL:
            purposes = details.get("purposes") or []
            lines = [f"Withdraw: {', '.join(purposes)}" if purposes else str(_("No purposes named yet."))]
        elif obj.type == RequestType.SECURITY_REPORT:
            lines = [f"Severity: {obj.get_severity_display() or _('not graded')}"]
        elif obj.type == RequestType.UNDERAGE_REPORT and details.get("confirmed"):
            lines = [str(_("Confirmed: the member is purged by purge_under_14 (PP-37)."))]
        elif obj.type == RequestType.DELETION and details.get("erasure"):
            kept = details["erasure"].get("kept") or []
            lines = [str(_("Erased."))] + [f"Kept: {k['records']} for {k['days']} days" for k in kept]
        if not lines:
            return EMPTY
        text = format_html_join(mark_safe("<br>"), "{}", ((line,) for line in lines))
        if obj.type in PREPARE_FORMS and obj.status in OPEN_STATES and obj.pk:
            url = reverse("admin:requests_desk_request_prepare", args=[obj.pk])
            return format_html('{}<br><a href="{}">{}</a>', text, url, _("Edit"))
        return text

    def get_urls(self):
        prepare = path("<int:pk>/prepare/", self.admin_site.admin_view(self.prepare_view),
                       name="requests_desk_request_prepare")
        return [prepare, *super().get_urls()]

    def prepare_view(self, request, pk: int):
        """Record what a fulfilment needs (proposed correction, purposes, severity) through the services."""
        obj = get_object_or_404(Request.objects.select_related("member"), pk=pk)
        if not self.has_view_permission(request, obj) or not request.user.has_perm(WORK_QUEUE):
            raise PermissionDenied
        form_class = PREPARE_FORMS.get(obj.type)
        if form_class is None:
            raise Http404("Nothing to prepare for this type of request.")
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                form.apply(obj, request.user)
            except (ValidationError, PermissionDenied) as exc:
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, _error_text(exc))
            else:
                self.log_change(request, obj, [{"changed": {"fields": ["details"]}}])
                self.message_user(request, f"{obj.reference}: {form.title} — recorded.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:requests_desk_request_change", args=[obj.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": f"{obj.reference}: {form.title}",
            "opts": self.model._meta,
            "original": obj,
            "form": form,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/requests_desk/request/prepare.html", context)

    # -- permissions --
    def has_add_permission(self, request):
        return False  # intake goes through the desk's form and ``lifecycle.request_create``

    def has_delete_permission(self, request, obj=None):
        return False  # requests leave only through erasure (pseudonymised, PP-02)

    def has_work_queue_permission(self, request) -> bool:
        return request.user.has_perm(WORK_QUEUE)

    def has_decide_permission(self, request) -> bool:
        return request.user.has_perm(DECIDE)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        """Member changes go through ``lifecycle.request_member_identify`` (repeat flag, PP-31)."""
        new_member = obj.member if "member" in form.changed_data else None
        if new_member is not None:
            obj.member_id = form.initial.get("member")
        obj._change_reason = "edited in the admin"
        super().save_model(request, obj, form, change)
        if new_member is not None:
            updated = lifecycle.request_member_identify(request=obj, member=new_member, user=request.user)
            obj.member, obj.is_repeat = updated.member, updated.is_repeat

    # -- bulk actions --
    def _bulk(self, request, queryset, *, name: str, title: str, form_class, apply, verb: str, intro: str = ""):
        """Show ``form_class`` for the selected (or all filtered) requests; on submit apply it to each one."""
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, failed = 0, []
            for obj in queryset.order_by("due_at", "pk"):
                try:
                    apply(obj, form)
                except (PermissionDenied, ValidationError, OSError) as exc:  # OSError: the mail server
                    failed.append(f"{obj.reference}: {_error_text(exc)}")
                else:
                    done += 1
            if done:
                self.message_user(request, f"{verb}: {done} request(s).", messages.SUCCESS)
            for text in failed[:MAX_LISTED_ERRORS]:
                self.message_user(request, text, messages.ERROR)
            if len(failed) > MAX_LISTED_ERRORS:
                self.message_user(request, f"… and {len(failed) - MAX_LISTED_ERRORS} more not changed.",
                                  messages.ERROR)
            return None  # back to the changelist, filters kept
        total = queryset.count()
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "intro": intro,
            "opts": self.model._meta,
            "form": form,
            "action_name": name,
            "total": total,
            "sample": list(queryset.order_by("due_at", "pk").values_list("reference", flat=True)[:20]),
            "select_across": request.POST.get("select_across", "0"),
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/requests_desk/request/bulk_action.html", context)

    @admin.action(description=_("Close as duplicates (state machine)"), permissions=["work_queue"])
    def close_duplicates(self, request, queryset):
        def apply(obj, form):
            workflow.transition(request=obj, name="close_duplicate", user=request.user,
                                note=form.cleaned_data["note"])

        return self._bulk(request, queryset, name="close_duplicates", title=_("Close requests as duplicates"),
                          form_class=CloseDuplicatesForm, apply=apply, verb=_("Closed as duplicates"),
                          intro=_("Only new requests and requests awaiting identity can be closed as duplicates."))

    @admin.action(description=_("Assign to an agent"), permissions=["work_queue"])
    def assign(self, request, queryset):
        def apply(obj, form):
            lifecycle.request_assign(request=obj, assignee=form.cleaned_data["assignee"], user=request.user)

        return self._bulk(request, queryset, name="assign", title=_("Assign requests"), form_class=AssignForm,
                          apply=apply, verb=_("Assigned"), intro=_("Only open requests can be assigned."))

    @admin.action(description=_("Extend the deadline (with a reason)"), permissions=["decide"])
    def extend(self, request, queryset):
        def apply(obj, form):
            lifecycle.request_extend(request=obj, user=request.user, due_at=form.due_at(),
                                     reason=form.cleaned_data["reason"], notify=form.cleaned_data["notify"])

        return self._bulk(request, queryset, name="extend", title=_("Extend the deadline"), form_class=ExtendForm,
                          apply=apply, verb=_("Extended"),
                          intro=_("Each request gets the new due date through the state machine (PP-34); a "
                                  "date before a request's current due date is refused for that request."))

    @admin.action(description=_("Fulfil (what each type requires)"), permissions=["decide"])
    def fulfil(self, request, queryset):
        def apply(obj, form):
            dispatcher.request_fulfil(request=obj, user=request.user, note=form.cleaned_data["note"],
                                      notify=form.cleaned_data["notify"])

        return self._bulk(request, queryset, name="fulfil", title=_("Fulfil requests"), form_class=FulfilForm,
                          apply=apply, verb=_("Fulfilled"),
                          intro=_("Each request is fulfilled as its type requires: access packages are built, "
                                  "corrections applied, deletions erased (supervisor, four eyes), withdrawals "
                                  "recorded, cancellations marked, underage reports confirmed."))


# --- Read-only registers --------------------------------------------------------------------------------
class ReadOnlyAdmin(admin.ModelAdmin):
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RequestColumnMixin:
    request_path = "request"

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
        return _member_link(obj.member)

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
class PackageDownloadAdmin(RequestColumnMixin, ReadOnlyAdmin):
    """Every download of an access package: when, from where, by whom (PP-29)."""

    request_path = "package__request"
    list_display = ("at", "package", "request_column", "ip_address", "user_agent", "staff_user")
    list_select_related = ("package__request", "staff_user")
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


