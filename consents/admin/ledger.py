"""The consent ledger (read-only), the per-member timeline, consent states, guardians and SMS replies."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import MaskedHistoryMixin
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from accounts.privacy.large_tables import LargeTableMixin
from accounts.privacy.reveal import masked
from consents.admin.base import (
    TIMELINE_PAGE_SIZE,
    MemberNumberMixin,
    service_messages,
    without_member_secrets,
)
from consents.forms import (
    GuardianForm,
    TimelineForm,
)
from consents.guardians import guardian_add, guardian_verify
from consents.models import (
    ConsentEvent,
    ConsentState,
    Guardian,
    Purpose,
    ReconsentNotice,
    SmsReply,
)
from consents.selectors import may_process


# --- The ledger (read-only) -----------------------------------------------------------------------
@admin.register(ConsentEvent)
class ConsentEventAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyAdmin):
    """Append-only (design decision 3): nobody adds, changes or deletes an event here."""

    list_display = ("occurred_at", "member_number", "purpose", "action", "channel", "actor_kind",
                    "policy_version")
    list_filter = ("action", "channel", "actor_kind", "purpose")
    list_select_related = ("member", "purpose", "policy_version")
    raw_id_fields = ("member", "purpose", "policy_version", "guardian", "staff_user")
    search_fields = ("=member__member_number",)
    show_full_result_count = False
    fields = ("member", "purpose", "action", "policy_version", "channel", "actor_kind", "guardian", "staff_user",
              "evidence", "source", "occurred_at", "recorded_at")

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))

    def get_urls(self):
        timeline = path("timeline/", self.admin_site.admin_view(self.timeline_view), name="consents_timeline")
        return [timeline, *super().get_urls()]

    def timeline_view(self, request):
        """One member's consent history in order, and what it means now (read-only)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = TimelineForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Consent timeline"),
            "form": form,
        }
        if form.is_valid():
            context.update(member_timeline(form.cleaned_data["member"], page=request.GET.get("page")))
        return TemplateResponse(request, "admin/consents/timeline.html", context)


def member_timeline(member, *, page=None) -> dict:
    """The timeline's content: a bounded number of queries whatever the number of events."""
    events = (
        ConsentEvent.objects.filter(member=member)
        .select_related("purpose", "policy_version", "guardian", "staff_user")
        .defer("guardian__contact")
        .order_by("occurred_at", "pk")
    )
    page_obj = Paginator(events, TIMELINE_PAGE_SIZE).get_page(page)
    states = {
        s.purpose_id: s
        for s in ConsentState.objects.filter(member=member).select_related("policy_version")
    }
    current = []
    for purpose in Purpose.objects.select_related("introduced_in").order_by("kind", "code"):
        current.append({
            "purpose": purpose,
            "state": states.get(purpose.pk),
            "decision": may_process(member=member, purpose=purpose),
        })
    today = timezone.localdate()
    if member.is_child_on(today):
        age_band = _("under 14: can grant nothing (PP-03)")
    elif member.is_minor_on(today):
        age_band = _("14 to 17: a guardian's grant is needed too (PP-38)")
    elif member.date_of_birth is None:
        age_band = _("no date of birth (institution)")
    else:
        age_band = _("adult")
    return {
        "member": member,
        "age_band": age_band,
        "page_obj": page_obj,
        "events": page_obj.object_list,
        "current": current,
        "notices": ReconsentNotice.objects.filter(member=member).select_related("policy_version"),
        "guardians": Guardian.objects.filter(member=member).only("pk", "relation", "verified_at", "member_id"),
    }


@admin.register(ConsentState)
class ConsentStateAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyAdmin):
    """Derived from the ledger in the same transaction; never edited by hand."""

    list_display = ("member_number", "purpose", "granted", "by_guardian", "policy_version", "changed_at")
    list_filter = ("purpose", "granted", "by_guardian")
    list_select_related = ("member", "purpose", "policy_version")
    raw_id_fields = ("member", "purpose", "policy_version", "last_event")
    search_fields = ("=member__member_number",)
    show_full_result_count = False

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))


@admin.register(Guardian)
class GuardianAdmin(MaskedHistoryMixin, MemberNumberMixin, SimpleHistoryAdmin):
    """Guardians of members aged 14-17 (PP-38): added and verified through the services."""

    form = GuardianForm
    list_display = ("id", "member_number", "relation", "masked_contact", "verified")
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    readonly_fields = ("masked_contact", "verification_evidence", "verified_at", "verified_by")
    search_fields = ("=member__member_number",)
    show_full_result_count = False

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))

    def get_fields(self, request, obj=None):
        fields = ["member", "name", "relation", "masked_contact", "new_contact", "verification_evidence",
                  "verify_with_evidence", "verified_at", "verified_by"]
        if obj is None:
            fields.remove("masked_contact")
        if not self.has_change_permission(request, obj):
            fields = [f for f in fields if f not in ("new_contact", "verify_with_evidence")]
        elif obj is not None and obj.verified_at is not None:
            fields.remove("verify_with_evidence")
        return fields

    def get_readonly_fields(self, request, obj=None):
        # The ward is fixed once recorded: the guardian's events name this member.
        return (*self.readonly_fields, "member") if obj is not None else self.readonly_fields

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if obj is None and "member" in form.base_fields:
            form.base_fields["member"].help_text = _("A member aged under 18 (PP-38).")
        return form

    @admin.display(description=_("contact"))
    def masked_contact(self, obj) -> str:
        return masked(obj, "contact") if obj and obj.pk else "—"

    @admin.display(description=_("verified"), boolean=True)
    def verified(self, obj) -> bool:
        return obj.verified_at is not None

    def save_model(self, request, obj, form, change):
        contact = (form.cleaned_data.get("new_contact") or "").strip()
        if change:
            if contact:
                obj.contact = contact
            super().save_model(request, obj, form, change)
        else:
            created = guardian_add(member=obj.member, name=obj.name, relation=obj.relation, contact=contact)
            obj.pk = created.pk
            obj.contact = created.contact
            obj._state.adding = False
        evidence = (form.cleaned_data.get("verify_with_evidence") or "").strip()
        if evidence:
            try:
                verified = guardian_verify(guardian=obj, evidence=evidence, verified_by=request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{obj}: {'; '.join(service_messages(exc))}", messages.ERROR)
            else:
                obj.verified_at, obj.verified_by = verified.verified_at, verified.verified_by

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # guardians' events refer to them; erasure removes them with the member


@admin.register(SmsReply)
class SmsReplyAdmin(LargeTableMixin, MemberNumberMixin, ReadOnlyAdmin):
    list_display = ("received_at", "member_number", "keyword", "outcome", "message_id")
    list_filter = ("outcome",)
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    search_fields = ("=message_id", "=member__member_number")
    show_full_result_count = False
    # The sender's blind index is a keyed hash: of no use on screen.
    fields = ("message_id", "member", "keyword", "outcome", "received_at")

    def get_queryset(self, request):
        return without_member_secrets(super().get_queryset(request))
