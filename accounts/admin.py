"""The compliance officers' admin: staff users, members and everything kept about them (issue 3, req. 9).

- Sensitive values are masked everywhere (list, change pages, inlines, history); revealing one is a
  logged, reason-checked page (``accounts.views.reveal_value``), downloading a document file too
  (``accounts.views.document_file``). See ``accounts.admin_mixins``.
- Every changelist and change page runs a bounded number of queries whatever the number of rows
  (``list_select_related``, ``raw_id_fields``/``autocomplete_fields``, select_related inlines);
  members, devices, transactions and the access log never run a full ``COUNT(*)``.
- Nobody deletes members' records here: erasure (retention) does, honouring legal holds (PP-02, PP-29).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts import services
from accounts.admin_import import (
    MemberImportExportMixin,
    RelatedPersonImportExportMixin,
    TransactionImportExportMixin,
)
from accounts.admin_mixins import (
    LargeTableMixin,
    LinksDisplay,
    MaskedHistoryMixin,
    ReadOnlyHistoryMixin,
    SensitiveInlineMixin,
    SensitiveModelAdminMixin,
    TokenSearchMixin,
)
from accounts.choices import MemberKind, ReviewStatus, VerificationLevel, VerificationMethod
from accounts.forms import SensitiveModelForm
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    SensitiveAccessLog,
    StaffUser,
    TransactionRecord,
    Verification,
)
from accounts.selectors import member_ids_by_exact_value, members_needing_advanced_verification

#: At most this many members matched by an exact e-mail/phone/document/card number (a shared phone
#: number could match several; thousands would mean the search term is not a real identifier).
SEARCH_EXACT_LIMIT = 1000


# --- Staff users -----------------------------------------------------------------------------------
class StaffUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = StaffUser
        fields = ("email", "full_name")


class StaffUserChangeForm(UserChangeForm):
    class Meta:
        model = StaffUser
        fields = "__all__"


@admin.register(StaffUser)
class StaffUserAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin, UserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "role_names", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "is_superuser", "groups")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ("groups",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Person"), {"fields": ("full_name",)}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )

    def get_queryset(self, request):
        # role_names reads groups: one prefetch for the page instead of a query per row.
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def role_names(self, obj: StaffUser) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "—"


# --- Shared pieces ---------------------------------------------------------------------------------
class NoDeleteMixin:
    """Members' records leave only through erasure (retention), which honours legal holds (PP-02)."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoDeleteMixin):
    """Append-only or imported records (devices, transactions, the access log): nobody edits them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MemberColumnMixin:
    """A "member" column naming the member by number, linked to its page (needs select_related)."""

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_column(self, obj):
        url = reverse("admin:accounts_member_change", args=[obj.member_id])
        return format_html('<a href="{}">{}</a>', url, obj.member.member_number)


def member_filtered_url(model, member_pk) -> str:
    url = reverse(f"admin:accounts_{model._meta.model_name}_changelist")
    return f"{url}?member__id__exact={member_pk}"


# --- Inlines of the member page ---------------------------------------------------------------------
class InstitutionProfileInline(NoDeleteMixin, SensitiveInlineMixin, admin.StackedInline):
    model = InstitutionProfile
    max_num = 1
    extra = 0
    fields = (
        ("legal_name", "local_name"),
        ("registration_number", "business_phone"),
        "registration_info",
        "main_place_of_business",
        "company_structure",
        "funding_sources",
    )

    def get_queryset(self, request):
        # __str__ names the member: joined here, not fetched per row.
        return super().get_queryset(request).select_related("member")


class RelatedPersonInline(NoDeleteMixin, SensitiveInlineMixin, admin.StackedInline):
    model = RelatedPerson
    extra = 0
    show_change_link = True  # their identity documents are on the person's own page
    fields = (
        ("role", "ownership_share"),
        ("legal_name", "local_name", "nationality"),
        ("date_of_birth", "email", "phone"),
    )


class IdentityDocumentInline(NoDeleteMixin, SensitiveInlineMixin, admin.StackedInline):
    model = IdentityDocument
    extra = 0
    show_change_link = True
    fields = (
        ("kind", "issuing_country", "expires_on"),
        "number",
        "file",
        "related_person",
        ("review_status", "reviewed_by", "reviewed_at", "uploaded_at"),
    )
    # related_person is read-only here: an editable raw-id widget would look its label up once per
    # row. Documents of related persons are added on the person's page.
    readonly_fields = ("related_person", "review_status", "reviewed_by", "reviewed_at", "uploaded_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("related_person", "reviewed_by")


class VerificationForm(SensitiveModelForm):
    def clean(self):
        cleaned = super().clean()
        # Said here so the officer sees it on the field; services.verification_record enforces it too.
        if cleaned.get("level") == VerificationLevel.NONE:
            self.add_error("level", _("A verification is real-name or advanced."))
        if (
            cleaned.get("level") == VerificationLevel.ADVANCED
            and cleaned.get("method") != VerificationMethod.FACE_RECOGNITION
        ):
            self.add_error("method", _("Advanced certification is by face recognition (PP-10)."))
        return cleaned


class VerificationInline(NoDeleteMixin, admin.TabularInline):
    """Verifications are facts: recorded (through the service) and never edited afterwards."""

    model = Verification
    form = VerificationForm
    extra = 0
    fields = ("level", "method", "outcome", "reviewer", "verified_at")
    readonly_fields = ("reviewer", "verified_at")

    def has_change_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewer")


class PaymentInstrumentInline(NoDeleteMixin, SensitiveInlineMixin, admin.TabularInline):
    model = PaymentInstrument
    extra = 0
    fields = ("kind", "bank_name", "number", "added_at")
    readonly_fields = ("added_at",)


# --- Members --------------------------------------------------------------------------------------
class NeedsAdvancedVerificationFilter(admin.SimpleListFilter):
    """Members above the trading-volume threshold without advanced verification (PP-10)."""

    title = _("needs advanced verification")
    parameter_name = "needs_advanced"

    def lookups(self, request, model_admin):
        return (("yes", _("Yes")),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            # One aggregate subquery inside the page's query (accounts.selectors).
            return queryset.filter(pk__in=members_needing_advanced_verification().values("pk"))
        return queryset


@admin.register(Member)
class MemberAdmin(
    MemberImportExportMixin,
    TokenSearchMixin,
    LargeTableMixin,
    NoDeleteMixin,
    MaskedHistoryMixin,
    SensitiveModelAdminMixin,
    SimpleHistoryAdmin,
):
    list_display = ("member_number", "kind", "status", "verification_level", "registered_at", "email", "phone")
    list_filter = (
        "kind",
        "status",
        "verification_level",
        NeedsAdvancedVerificationFilter,
        ("product_lines", admin.RelatedFieldListFilter),
    )
    list_select_related = False  # no foreign keys in the list
    search_fields = ("member_number",)  # see get_search_results
    search_help_text = _(
        "Member number (or its beginning), or an exact e-mail, phone, document or card number."
    )
    autocomplete_fields = ("product_lines",)
    readonly_fields = ("status", "verification_level", "registered_at", "cancelled_at", "birth_year")
    fieldsets = (
        (None, {"fields": ("member_number", "kind", "status", "verification_level", "product_lines")}),
        (_("Dates"), {"fields": ("registered_at", "cancelled_at")}),
        (
            _("Identity (individuals)"),
            {"fields": ("nationality", "legal_name", "local_name", "date_of_birth", "birth_year")},
        ),
        (_("Contact"), {"fields": ("email", "phone")}),
    )
    inlines = (
        InstitutionProfileInline,
        RelatedPersonInline,
        IdentityDocumentInline,
        VerificationInline,
        PaymentInstrumentInline,
    )

    def get_inlines(self, request, obj):
        if obj is not None and obj.kind != MemberKind.INSTITUTION:
            return [i for i in self.inlines if i not in (InstitutionProfileInline, RelatedPersonInline)]
        return self.inlines

    def _records_links(self, request) -> LinksDisplay:
        """Devices and transactions are large: linked, filtered by member, rather than inlined."""
        links = tuple(
            (str(model._meta.verbose_name_plural).capitalize(), member_filtered_url(model, "{pk}"))
            for model in (DeviceRecord, TransactionRecord)
            if request.user.has_perm(f"accounts.view_{model._meta.model_name}")
        )
        return LinksDisplay("records_links", _("records"), links)

    def get_fieldsets(self, request, obj=None):
        fieldsets = list(super().get_fieldsets(request, obj))
        if obj is not None:
            fieldsets.append((_("Records"), {"fields": (self._records_links(request),)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The member number is the identifier other systems and records use.
            readonly += ["member_number", self._records_links(request)]
        return readonly

    def get_search_results(self, request, queryset, search_term):
        """Member number by prefix, or an exact e-mail/phone/document/card number by blind index.

        Nothing is decrypted: every branch is an indexed lookup (accounts.selectors).
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        # The exact-value matches are few: fetch their keys first (indexed equalities), so the
        # changelist's query is a prefix range OR a short key list, which the planner answers with
        # two index scans instead of filtering every member against a subquery.
        exact = member_ids_by_exact_value(term, limit=SEARCH_EXACT_LIMIT)
        match = Q(member_number__startswith=term.upper()) | Q(pk__in=exact)
        return queryset.filter(match), False

    def save_formset(self, request, form, formset, change):
        if formset.model is not Verification:
            return super().save_formset(request, form, formset, change)
        # New verifications go through the service: it records the reviewer and raises the
        # member's level when one passes (PP-09, PP-10). Existing ones are never edited.
        created = []
        for inline_form in formset.extra_forms:
            if not inline_form.has_changed() or not inline_form.is_valid():
                continue
            data = inline_form.cleaned_data
            try:
                created.append(
                    services.verification_record(
                        member=form.instance,
                        level=data["level"],
                        method=data["method"],
                        outcome=data["outcome"],
                        reviewer=request.user,
                    )
                )
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
        # What the admin's change message reads (field names and labels only).
        formset.new_objects, formset.changed_objects, formset.deleted_objects = created, [], []
        return None


# --- Member records on their own pages -------------------------------------------------------------
class IdentityDocumentOfPersonFormSet(forms.BaseInlineFormSet):
    """A related person's documents belong to the person's institution too."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        form.instance.member_id = self.instance.member_id
        return form

    @property
    def empty_form(self):
        form = super().empty_form
        form.instance.member_id = self.instance.member_id
        return form


class RelatedPersonDocumentInline(NoDeleteMixin, SensitiveInlineMixin, admin.StackedInline):
    model = IdentityDocument
    fk_name = "related_person"
    formset = IdentityDocumentOfPersonFormSet
    extra = 0
    show_change_link = True
    fields = (
        ("kind", "issuing_country", "expires_on"),
        "number",
        "file",
        ("review_status", "reviewed_by", "reviewed_at", "uploaded_at"),
    )
    readonly_fields = ("review_status", "reviewed_by", "reviewed_at", "uploaded_at")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("reviewed_by")


@admin.register(RelatedPerson)
class RelatedPersonAdmin(
    RelatedPersonImportExportMixin,
    NoDeleteMixin,
    MemberColumnMixin,
    MaskedHistoryMixin,
    SensitiveModelAdminMixin,
    SimpleHistoryAdmin,
):
    list_display = ("__str__", "member_column", "role", "ownership_share", "nationality", "email", "phone")
    list_filter = ("role",)
    list_select_related = ("member",)
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number of the institution.")
    raw_id_fields = ("member",)
    fieldsets = (
        (None, {"fields": ("member", "role", "ownership_share")}),
        (_("Identity"), {"fields": ("legal_name", "local_name", "nationality", "date_of_birth")}),
        (_("Contact"), {"fields": ("email", "phone")}),
    )
    inlines = (RelatedPersonDocumentInline,)


@admin.register(InstitutionProfile)
class InstitutionProfileAdmin(
    NoDeleteMixin, MemberColumnMixin, MaskedHistoryMixin, SensitiveModelAdminMixin, SimpleHistoryAdmin
):
    list_display = ("__str__", "member_column", "registration_number", "business_phone")
    list_select_related = ("member",)
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("member",)
    fields = (
        "member",
        ("legal_name", "local_name"),
        ("registration_number", "business_phone"),
        "registration_info",
        "main_place_of_business",
        "company_structure",
        "funding_sources",
    )


@admin.register(IdentityDocument)
class IdentityDocumentAdmin(
    NoDeleteMixin, MemberColumnMixin, MaskedHistoryMixin, SensitiveModelAdminMixin, SimpleHistoryAdmin
):
    list_display = (
        "__str__", "member_column", "kind", "issuing_country", "number", "file", "review_status", "uploaded_at"
    )
    list_filter = ("kind", "review_status")
    list_select_related = ("member",)
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number. Find a document number through the member search.")
    raw_id_fields = ("member", "related_person")
    readonly_fields = ("review_status", "reviewed_by", "reviewed_at", "uploaded_at")
    fieldsets = (
        (None, {"fields": ("member", "related_person")}),
        (_("Document"), {"fields": ("kind", "issuing_country", "number", "expires_on", "file")}),
        (_("Review"), {"fields": ("review_status", "reviewed_by", "reviewed_at", "uploaded_at")}),
    )
    actions = ("accept_documents", "reject_documents")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("member", "reviewed_by")

    def _review(self, request, queryset, status):
        count = 0
        for document in queryset:
            services.identity_document_review(document=document, reviewer=request.user, status=status)
            count += 1
        self.message_user(request, _("%(count)d document(s) reviewed.") % {"count": count}, messages.SUCCESS)

    @admin.action(description=_("Accept the selected documents"), permissions=("change",))
    def accept_documents(self, request, queryset):
        self._review(request, queryset, ReviewStatus.ACCEPTED)

    @admin.action(description=_("Reject the selected documents"), permissions=("change",))
    def reject_documents(self, request, queryset):
        self._review(request, queryset, ReviewStatus.REJECTED)


@admin.register(Verification)
class VerificationAdmin(ReadOnlyMixin, MemberColumnMixin, ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    """Read-only: verifications are recorded from the member page (through the service)."""

    list_display = ("__str__", "member_column", "level", "method", "outcome", "reviewer", "verified_at")
    list_filter = ("level", "method", "outcome")
    list_select_related = ("member", "reviewer")
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("member",)
    readonly_fields = ("reviewer", "verified_at")
    fields = ("member", "level", "method", "outcome", "reviewer", "verified_at")


@admin.register(PaymentInstrument)
class PaymentInstrumentAdmin(
    NoDeleteMixin, MemberColumnMixin, MaskedHistoryMixin, SensitiveModelAdminMixin, SimpleHistoryAdmin
):
    list_display = ("__str__", "member_column", "kind", "bank_name", "number", "added_at")
    list_filter = ("kind",)
    list_select_related = ("member",)
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number. Find a card number through the member search.")
    raw_id_fields = ("member",)
    readonly_fields = ("last_four", "added_at")
    fields = ("member", "kind", "bank_name", "number", "last_four", "added_at")


@admin.register(DeviceRecord)
class DeviceRecordAdmin(LargeTableMixin, ReadOnlyMixin, MemberColumnMixin, SensitiveModelAdminMixin, admin.ModelAdmin):
    """Append-only security data (PP-11); opened from a member's page, filtered by member."""

    list_display = (
        "__str__", "member_column", "seen_at", "ip_address", "device_id", "browser", "region", "location"
    )
    list_select_related = ("member",)
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("member",)
    readonly_fields = ("seen_at",)
    fields = ("member", "seen_at", "ip_address", "device_id", "imei", "mac_address", "browser", "region", "location")


@admin.register(TransactionRecord)
class TransactionRecordAdmin(
    TransactionImportExportMixin, TokenSearchMixin, LargeTableMixin, ReadOnlyMixin, MemberColumnMixin,
    admin.ModelAdmin,
):
    """Imported from the trading system (PP-13) and never edited; opened from a member's page."""

    list_display = (
        "__str__", "order_number", "member_column", "order_time", "asset_type", "quantity", "amount",
        "counterparty_nickname",
    )
    list_filter = ("asset_type",)
    list_select_related = ("member",)
    search_fields = ("=order_number", "=member__member_number")
    search_help_text = _("Exact order number or member number.")
    raw_id_fields = ("member",)
    readonly_fields = ("order_time",)
    fields = (
        "member", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount"
    )


@admin.register(ProductLine)
class ProductLineAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "closed_on")
    list_select_related = False  # no foreign keys
    search_fields = ("code", "name")
    # Closing a product line is an operation with a report (PP-19, retention), not a field to type.
    readonly_fields = ("closed_on",)
    fields = ("code", "name", "closed_on")


@admin.register(SensitiveAccessLog)
class SensitiveAccessLogAdmin(LargeTableMixin, ReadOnlyMixin, admin.ModelAdmin):
    """Evidence of every unmasked view and download (PP-25): read-only for everyone, superusers too."""

    list_display = (
        "at", "staff_user", "action", "member_number", "model_label", "object_id", "field_name", "ip_address"
    )
    list_filter = ("action",)
    list_select_related = ("staff_user",)
    search_fields = ("=member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("staff_user",)
    readonly_fields = (
        "at", "staff_user", "action", "member_number", "model_label", "object_id", "field_name", "reason",
        "ip_address",
    )
    fields = readonly_fields
    actions = None
