"""The consents admin: purposes, policy versions with their campaigns, the ledger (read-only), the
per-member consent timeline, guardians, recipients and the disclosure register.

Nothing important happens here: publishing, preparing, approving and rejecting call the services
(``consents.campaigns``, ``consents.disclosures``) and show their errors with ``message_user``.
Every list sets ``list_select_related`` and reads a bounded number of queries per page; the big
tables (ledger, states, notices, disclosed members, SMS replies) skip the full ``COUNT(*)``.
"""

from __future__ import annotations

import csv

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.admin_mixins import LargeTableMixin, MaskedHistoryMixin, ReadOnlyHistoryMixin
from accounts.services import masked
from accounts.spreadsheet import escape_formula
from consents import campaigns, disclosures
from consents.choices import DisclosureStatus, NoticeStatus
from consents.forms import (
    DecisionForm,
    DisclosurePrepareForm,
    GuardianForm,
    PolicyVersionForm,
    PurposeForm,
    TimelineForm,
)
from consents.models import (
    ConsentEvent,
    ConsentState,
    DisclosedMember,
    Disclosure,
    Guardian,
    LegalGround,
    PolicyVersion,
    Purpose,
    Recipient,
    ReconsentNotice,
    SmsReply,
)
from consents.services import guardian_add, guardian_verify

#: Encrypted member columns that list pages never show: not loaded, so never decrypted.
MEMBER_SECRETS = ("email", "phone", "date_of_birth", "legal_name", "local_name")
TIMELINE_PAGE_SIZE = 100


def _without_member_secrets(queryset: QuerySet, prefix: str = "member__") -> QuerySet:
    return queryset.defer(*(prefix + name for name in MEMBER_SECRETS))


def timeline_url(member_number: str) -> str:
    return reverse("admin:consents_timeline") + "?" + urlencode({"member": member_number})


class MemberNumberMixin:
    """A member-number column that links to the member's consent timeline."""

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_number(self, obj) -> str:
        if obj.member_id is None:
            return "—"
        number = obj.member.member_number
        return format_html('<a href="{}" title="{}">{}</a>', timeline_url(number), _("Consent timeline"), number)


class ReadOnlyAdmin(admin.ModelAdmin):
    """No add, change or delete for anyone, superusers included: view permission only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- Catalogues ------------------------------------------------------------------------------------
@admin.register(LegalGround)
class LegalGroundAdmin(ReadOnlyAdmin):
    """The fixed catalogue of PP-17/PP-24/PP-35/PP-36, written by a data migration."""

    list_display = ("section", "position", "use", "wording", "code")
    list_filter = ("use",)
    search_fields = ("code", "wording")
    list_select_related = ()
    ordering = ("use", "position")


@admin.register(Purpose)
class PurposeAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    form = PurposeForm
    list_display = ("code", "name", "kind", "is_biometric", "introduced_in")
    list_filter = ("kind", "is_biometric")
    search_fields = ("code", "name")
    list_select_related = ("introduced_in",)
    raw_id_fields = ("introduced_in",)

    def get_readonly_fields(self, request, obj=None):
        # Code refers to a purpose from code and from the ledger's readers: fixed once created.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger refers to purposes for ever


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
                self.message_user(request, f"{version}: {'; '.join(_messages(exc))}", messages.ERROR)
                continue
            if result.notices_queued:
                text = f"{version} published: {result.notices_queued} member(s) will be notified (PP-39)."
            else:
                text = f"{version} published (minor: no re-consent campaign)."
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
    list_display = ("pk", "member_number", "policy_version", "queued_at", "notified_at", "seen_at", "accepted_at")
    list_filter = ("policy_version", NoticeStatusFilter)
    list_select_related = ("member", "policy_version")
    raw_id_fields = ("member", "policy_version")
    search_fields = ("=member__member_number",)
    show_full_result_count = False
    fields = ("policy_version", "member", "queued_at", "notified_at", "seen_at", "accepted_at")

    def get_queryset(self, request):
        return _without_member_secrets(super().get_queryset(request))


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
        return _without_member_secrets(super().get_queryset(request))

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
    from consents.selectors import may_process

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
        return _without_member_secrets(super().get_queryset(request))


@admin.register(Guardian)
class GuardianAdmin(MaskedHistoryMixin, MemberNumberMixin, SimpleHistoryAdmin):
    """Guardians of members aged 14-17 (PP-38): added and verified through the services."""

    form = GuardianForm
    list_display = ("pk", "member_number", "relation", "masked_contact", "verified")
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    readonly_fields = ("masked_contact", "verification_evidence", "verified_at", "verified_by")
    search_fields = ("=member__member_number",)
    show_full_result_count = False

    def get_queryset(self, request):
        return _without_member_secrets(super().get_queryset(request))

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
                self.message_user(request, f"{obj}: {'; '.join(_messages(exc))}", messages.ERROR)
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
        return _without_member_secrets(super().get_queryset(request))


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
    ("legal_grounds", "Legal grounds"), ("data_categories", "Data categories"), ("description", "Description"),
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
    fields = ("kind", "recipient", "basis", "legal_grounds", "data_categories", "description", "members_concerned",
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
                    user=request.user, disclosed_on=data["disclosed_on"],
                )
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                self.log_addition(request, disclosure, [{"added": {}}])
                self.message_user(
                    request, f"{disclosure} entered for {disclosure.member_count} member(s); it awaits approval "
                    "by someone else.", messages.SUCCESS,
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
            self.message_user(request, f"{disclosure}: {'; '.join(_messages(exc))}", messages.ERROR)
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
                self.message_user(request, f"{disclosure}: {'; '.join(_messages(exc))}", messages.ERROR)
            else:
                self.log_change(request, disclosure, [{"changed": {"fields": ["status"]}}])
                self.message_user(request, f"{disclosure} approved.", messages.SUCCESS)

    @admin.action(description=_("Export the selected entries (CSV)"), permissions=["view"])
    def export_register_csv(self, request, queryset):
        """The register as a spreadsheet; every text cell is formula-escaped (decision 8)."""
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="disclosure-register.csv"'
        writer = csv.writer(response)
        writer.writerow([label for _name, label in REGISTER_COLUMNS])
        rows = queryset.select_related("recipient", "prepared_by", "approved_by").prefetch_related("legal_grounds")
        for obj in rows.order_by("pk"):
            values = {
                "id": obj.pk,
                "kind": obj.get_kind_display(),
                "recipient": obj.recipient.name,
                "basis": obj.get_basis_display(),
                "legal_grounds": "; ".join(g.code for g in obj.legal_grounds.all()),
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
        return _without_member_secrets(super().get_queryset(request))


# --- Helpers ------------------------------------------------------------------------------------------
def _messages(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [str(message) for message in exc.messages]
    return [str(exc) or "Not allowed."]


def _add_errors(form, exc: ValidationError) -> None:
    """Put a service's field-keyed errors on the form's fields (others at the top)."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            target = field if field in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        for message in exc.messages:
            form.add_error(None, message)
