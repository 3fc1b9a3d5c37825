"""The request admin page (``RequestAdmin``): masked member data, read-only state, the prepare page
and the bulk actions that go through the state machine one request at a time."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import MaskedHistoryMixin, SensitiveModelAdminMixin
from requests_desk import lifecycle, workflow
from requests_desk.admin.base import EMPTY, error_text, member_link
from requests_desk.admin.filters import AssigneeFilter, DeadlineFilter
from requests_desk.admin.forms import (
    PREPARE_FORMS,
    AssignForm,
    CloseDuplicatesForm,
    ExtendForm,
    FulfilForm,
    RequestAdminForm,
)
from requests_desk.admin.inlines import AccessPackageInline, IdentityCheckInline, MessageInline, TransitionInline
from requests_desk.choices import RequestType
from requests_desk.fulfilment import correction, dispatcher
from requests_desk.models import Request
from requests_desk.permissions import DECIDE, WORK_QUEUE
from requests_desk.states import OPEN_STATES

#: Per-request errors listed one by one in the messages; the rest are counted.
MAX_LISTED_ERRORS = 20


@admin.register(Request)
class RequestAdmin(MaskedHistoryMixin, SensitiveModelAdminMixin, SimpleHistoryAdmin):
    form = RequestAdminForm
    list_display = ("reference", "type", "status", "priority", "member_column", "assignee", "received_at", "due_at",
                    "deadline", "is_repeat")
    list_filter = ("type", "status", ("assignee", AssigneeFilter), DeadlineFilter, "channel",
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
        "language",  # changed on the desk's request page (lifecycle.request_language_set), with history
    )
    fieldsets = (
        (None, {"fields": ("reference", "desk_page", "type", "status", "priority", "severity", "assignee")}),
        (_("Requester"), {"fields": ("requester_kind", "requester_name", "requester_email", "channel", "member",
                                     "concerns", "language")}),
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
        return member_link(obj.member)

    @admin.display(description=_("deadline"))
    def deadline(self, obj) -> str:
        if obj.status not in OPEN_STATES:
            return EMPTY
        left = obj.due_at - timezone.now()
        if left.total_seconds() < 0:
            overdue = gettext("overdue %(days)s d") % {"days": -left.days}
            return format_html('<strong class="overdue">{}</strong>', overdue)
        return gettext("%(days)s d left") % {"days": left.days}

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
            lines = [gettext("Withdraw: %(purposes)s") % {"purposes": ", ".join(purposes)} if purposes
                     else str(_("No purposes named yet."))]
        elif obj.type == RequestType.SECURITY_REPORT:
            lines = [gettext("Severity: %(severity)s") % {"severity": obj.get_severity_display() or _("not graded")}]
        elif obj.type == RequestType.UNDERAGE_REPORT and details.get("confirmed"):
            lines = [str(_("Confirmed: the member is purged by purge_under_14 (PP-37)."))]
        elif obj.type == RequestType.DELETION and details.get("erasure"):
            kept = details["erasure"].get("kept") or []
            lines = [str(_("Erased."))] + [gettext("Kept: %(records)s for %(days)s days") % k for k in kept]
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
            raise Http404(gettext("Nothing to prepare for this type of request."))
        form = form_class(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                form.apply(obj, request.user)
            except (ValidationError, PermissionDenied) as exc:
                if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
                    for field, errors in exc.message_dict.items():
                        form.add_error(field if field in form.fields else None, errors)
                else:
                    form.add_error(None, error_text(exc))
            else:
                self.log_change(request, obj, [{"changed": {"fields": ["details"]}}])
                self.message_user(request, gettext("%(reference)s: %(title)s — recorded.") % {
                    "reference": obj.reference, "title": form.title}, messages.SUCCESS)
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
                    failed.append(f"{obj.reference}: {error_text(exc)}")
                else:
                    done += 1
            if done:
                self.message_user(request, gettext("%(verb)s: %(count)s request(s).") % {"verb": verb, "count": done},
                                  messages.SUCCESS)
            for text in failed[:MAX_LISTED_ERRORS]:
                self.message_user(request, text, messages.ERROR)
            if len(failed) > MAX_LISTED_ERRORS:
                self.message_user(request, gettext("… and %(count)s more not changed.")
                                  % {"count": len(failed) - MAX_LISTED_ERRORS},
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
