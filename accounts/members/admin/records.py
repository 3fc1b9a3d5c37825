"""Member records on their own pages: related persons, institution profiles, identity documents,
verifications, payment instruments, devices, transactions and product lines."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.members import services
from accounts.members.admin.base import MemberColumnMixin, NameSearchMixin
from accounts.members.admin.imports import (
    RelatedPersonImportExportMixin,
    TransactionImportExportMixin,
)
from accounts.members.choices import ReviewStatus
from accounts.members.selectors import transactions_by_order_number
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    TransactionRecord,
    Verification,
)
from accounts.privacy.admin_mixins import (
    MaskedHistoryMixin,
    ReadOnlyHistoryMixin,
    SensitiveInlineMixin,
    SensitiveModelAdminMixin,
)
from accounts.privacy.admin_readonly import NoDeleteMixin, ReadOnlyMixin
from accounts.privacy.large_tables import LargeTableMixin
from accounts.privacy.search_tokens import TokenSearchMixin


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
    NameSearchMixin,
    TokenSearchMixin,
    NoDeleteMixin,
    MemberColumnMixin,
    MaskedHistoryMixin,
    SensitiveModelAdminMixin,
    SimpleHistoryAdmin,
):
    list_display = ("__str__", "member_column", "role", "ownership_share", "nationality", "email", "phone")
    list_filter = ("role",)
    list_select_related = ("member",)
    raw_id_fields = ("member",)
    fieldsets = (
        (None, {"fields": ("member", "role", "ownership_share")}),
        (_("Identity"), {"fields": ("legal_name", "local_name", "nationality", "date_of_birth")}),
        (_("Contact"), {"fields": ("email", "phone")}),
    )
    inlines = (RelatedPersonDocumentInline,)


@admin.register(InstitutionProfile)
class InstitutionProfileAdmin(
    NameSearchMixin, TokenSearchMixin, NoDeleteMixin, MemberColumnMixin, MaskedHistoryMixin,
    SensitiveModelAdminMixin, SimpleHistoryAdmin,
):
    list_display = ("__str__", "member_column", "registration_number", "business_phone")
    list_select_related = ("member",)
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
        "__str__", "member_column", "product_line", "seen_at", "ip_address", "device_id", "browser", "region",
        "location",
    )
    list_select_related = ("member", "product_line")
    search_fields = ("=member__member_number",)
    search_help_text = _("Exact member number.")
    raw_id_fields = ("member",)
    readonly_fields = ("seen_at",)
    fields = (
        "member", "product_line", "seen_at", "ip_address", "device_id", "imei", "mac_address", "browser", "region",
        "location",
    )


@admin.register(TransactionRecord)
class TransactionRecordAdmin(
    TransactionImportExportMixin, TokenSearchMixin, LargeTableMixin, ReadOnlyMixin, MemberColumnMixin,
    SensitiveModelAdminMixin, admin.ModelAdmin,
):
    """Imported from the trading system (PP-13) and never edited; opened from a member's page.

    The order details are sensitive (PP-01): masked in the list and on the page, revealed one value
    at a time with the permission, a reason and an access-log row. No filter on the asset type (it
    is encrypted); the search is an exact order number (blind index) or member number.
    """

    list_display = (
        "__str__", "order_number", "member_column", "product_line", "order_time", "asset_type", "quantity", "amount",
        "counterparty_nickname",
    )
    list_select_related = ("member", "product_line")
    search_fields = ("order_number",)  # see get_search_results
    search_help_text = _("Exact order number or member number.")
    raw_id_fields = ("member",)
    readonly_fields = ("order_time",)
    fields = (
        "member", "product_line", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity",
        "amount",
    )

    def get_search_results(self, request, queryset, search_term):
        """An exact order number (blind index) or an exact member number: two indexed equalities."""
        term = search_term.strip()
        if not term:
            return queryset, False
        by_order = transactions_by_order_number(term).values("pk")
        return queryset.filter(Q(pk__in=by_order) | Q(member__member_number=term.upper())), False


@admin.register(ProductLine)
class ProductLineAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "closed_on")
    list_select_related = False  # no foreign keys
    search_fields = ("code", "name")
    # Closing a product line is an operation with a report (PP-19, retention), not a field to type.
    readonly_fields = ("closed_on",)
    fields = ("code", "name", "closed_on")
