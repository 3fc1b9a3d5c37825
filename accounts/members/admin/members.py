"""The member page: the member with their institution profile, people, documents, verifications and
payment instruments inline; search by exact e-mail, phone, document or card number (PP-25)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.members import hooks, services
from accounts.members.admin.base import member_filtered_url
from accounts.members.admin.imports import MemberImportExportMixin
from accounts.members.choices import MemberKind, VerificationLevel, VerificationMethod
from accounts.members.names import name_search_q
from accounts.members.selectors import (
    member_ids_by_exact_value,
    member_ids_by_related_name,
    members_needing_advanced_verification,
)
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    RelatedPerson,
    TransactionRecord,
    Verification,
)
from accounts.privacy.admin_mixins import (
    LinksDisplay,
    MaskedHistoryMixin,
    SensitiveInlineMixin,
    SensitiveModelAdminMixin,
)
from accounts.privacy.admin_readonly import NoDeleteMixin
from accounts.privacy.forms import SensitiveModelForm
from accounts.privacy.large_tables import LargeTableMixin
from accounts.privacy.search_tokens import TokenSearchMixin

#: At most this many members matched by an exact e-mail/phone/document/card number (a shared phone
#: number could match several; thousands would mean the search term is not a real identifier).
SEARCH_EXACT_LIMIT = 1000


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
            # One aggregate subquery inside the page's query (accounts.members.selectors).
            return queryset.filter(pk__in=members_needing_advanced_verification().values("pk"))
        return queryset


class PanelsDisplay:
    """A read-only field showing the panels other apps register for the member's page
    (``accounts.members.hooks.member_page_panels``: accounts imports none of them)."""

    __name__ = "kept_elsewhere"
    short_description = _("kept by other apps")

    def __init__(self, request):
        self.request = request

    def __eq__(self, other):
        return isinstance(other, PanelsDisplay)

    def __hash__(self):
        return hash(self.__name__)

    def __str__(self):
        return self.__name__

    def __call__(self, obj):
        panels = hooks.member_page_panels_render(self.request, obj) if obj.pk else []
        if not panels:
            return format_html("{}", "—")
        return format_html_join("", "<div><strong>{}</strong><br>{}</div>", panels)


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
        "Member number (or its beginning), an exact e-mail, phone, document or card number, or a name: "
        "any part of it, in Chinese or latin letters, accents and case ignored (institutions' and their "
        "people's names too)."
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
        (_("Contact"), {"fields": ("email", "phone", "preferred_language")}),
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
            fieldsets.append((_("Records"), {"fields": (self._records_links(request), PanelsDisplay(request))}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            # The member number is the identifier other systems and records use.
            readonly += ["member_number", self._records_links(request), PanelsDisplay(request)]
        return readonly

    def get_search_results(self, request, queryset, search_term):
        """Member number by prefix, an exact e-mail/phone/document/card number by blind index, or a name.

        Nothing is decrypted: every branch is an indexed lookup (accounts.members.selectors); names
        are matched on their normalised column (accounts.members.names).
        """
        term = search_term.strip()
        if not term:
            return queryset, False
        # The exact-value matches are few: fetch their keys first (indexed equalities), so the
        # changelist's query is a prefix range OR a short key list, which the planner answers with
        # two index scans instead of filtering every member against a subquery.
        exact = member_ids_by_exact_value(term, limit=SEARCH_EXACT_LIMIT)
        match = Q(member_number__startswith=term.upper()) | Q(pk__in=exact)
        # Names (issue 16): the member's own, served by the trigram index inside the same query,
        # and those of institution profiles and related persons, whose members' keys come first.
        by_name = name_search_q(term)
        if by_name is not None:
            match |= by_name | Q(pk__in=member_ids_by_related_name(term))
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
