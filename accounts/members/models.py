"""Members (the data subjects) and the records about them: institutions and their people, identity
documents, verifications, payment instruments and devices (their orders: ``accounts.members.orders``;
the imports they came in: ``accounts.members.import_batches``).

Every model declares its data map (``accounts.privacy.datamap``) right below its fields.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_ipv46_address
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from simple_history.models import HistoricalRecords

from accounts.members import hooks
from accounts.members.choices import (
    DocumentKind,
    InstrumentKind,
    MemberKind,
    MemberStatus,
    RelatedPersonRole,
    ReviewStatus,
    VerificationLevel,
    VerificationMethod,
    VerificationOutcome,
)
from accounts.members.names import NameSearchField
from accounts.members.validators import validate_document_number
from accounts.privacy.children import CHILD_AGE_LIMIT, age_on
from accounts.privacy.datamap import Category, DataMap, Erasure, Mask, Personal
from accounts.privacy.datamap import personal as _p
from accounts.privacy.fields import BlindIndexField, EncryptedDateField, EncryptedTextField
from accounts.privacy.storage import document_upload_to, protected_storage

# --- Shared declarations --------------------------------------------------------------------------


_BIDX = dict(exported=False)  # blind indexes are keyed hashes: erased with their value, never exported


# The normalised names column behind the name search (issue 16): erased with the names, never exported.
_SEARCH_LABEL = gettext_noop("Names, normalised for search")

class ProductLine(models.Model):
    """A service of the platform (spot, margin, …); PP-19 closes one with its data."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=100)
    closed_on = models.DateField(_("closed on"), null=True, blank=True)
    #: When every member of the line was told of its closure (PP-19); set once, after the last notice.
    members_notified_at = models.DateTimeField(_("members notified at"), null=True, blank=True)

    data_map = DataMap(subject="", not_personal=("id", "code", "name", "closed_on", "members_notified_at"))

    class Meta:
        verbose_name = _("product line")
        verbose_name_plural = _("product lines")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Member(models.Model):
    """A platform account holder, individual or institution: the data subject (PP-06, PP-07).

    Identified everywhere by ``member_number``; names and contact data never appear in ``__str__``.
    """

    member_number = models.CharField(_("member number"), max_length=20, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=MemberKind.choices, default=MemberKind.INDIVIDUAL)
    status = models.CharField(_("status"), max_length=30, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)
    product_lines = models.ManyToManyField(ProductLine, related_name="members", blank=True,
                                           verbose_name=_("product lines"))
    verification_level = models.CharField(
        _("verification level"), max_length=20, choices=VerificationLevel.choices, default=VerificationLevel.NONE
    )
    # Individuals (blank for institutions, whose identity is on InstitutionProfile)
    nationality = models.CharField(_("nationality"), max_length=2, blank=True, help_text=_("ISO 3166 code"))
    legal_name = models.CharField(_("legal full name"), max_length=200, blank=True)
    local_name = models.CharField(_("local-language name"), max_length=200, blank=True)
    name_search = NameSearchField(_("names, for search"), sources=("legal_name", "local_name"))
    date_of_birth = EncryptedDateField(_("date of birth"), null=True, blank=True)
    # Plain and coarse: jobs select "may be under 14" in SQL and decrypt only those rows (PP-37).
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True, editable=False)
    email = EncryptedTextField(_("e-mail"), blank=True)
    email_bidx = BlindIndexField(source="email", kind="email")
    phone = EncryptedTextField(_("phone"), blank=True)
    phone_bidx = BlindIndexField(source="phone", kind="phone")
    # Issue 16: the language of the member's letters and notices; blank = not known (detected per request).
    preferred_language = models.CharField(
        _("preferred language"), max_length=16, choices=settings.LANGUAGES, blank=True,
        help_text=_("Letters and notices to the member are written in this language."),
    )
    import_batch = models.ForeignKey(
        "ImportBatch", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+",
        verbose_name=_("import"), help_text=_("The import that last wrote this record, with its source (PP-16)."),
    )

    history = HistoricalRecords(m2m_fields=[product_lines], excluded_fields=["name_search"])

    data_map = DataMap(
        subject="self",
        personal={
            "member_number": _p(Category.ACCOUNT, gettext_noop("Member number"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "registered_at": _p(Category.ACCOUNT, gettext_noop("Registered at"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "cancelled_at": _p(Category.ACCOUNT, gettext_noop("Cancelled at"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "nationality": _p(Category.IDENTITY, gettext_noop("Nationality"), Erasure.SET_NULL),
            "legal_name": _p(Category.IDENTITY, gettext_noop("Legal full name"), Erasure.TOKEN),
            "local_name": _p(Category.IDENTITY, gettext_noop("Local-language name"), Erasure.TOKEN),
            "name_search": _p(Category.IDENTITY, _SEARCH_LABEL, Erasure.SET_NULL, exported=False),
            "date_of_birth": _p(
                Category.IDENTITY, gettext_noop("Date of birth"), Erasure.SET_NULL, sensitive=True, mask=Mask.DATE
            ),
            "birth_year": _p(Category.IDENTITY, gettext_noop("Birth year"), Erasure.GENERALISE_YEAR),
            "email": _p(Category.CONTACT, gettext_noop("E-mail"), Erasure.SET_NULL, sensitive=True, mask=Mask.EMAIL),
            "email_bidx": _p(Category.CONTACT, gettext_noop("E-mail (blind index)"), Erasure.SET_NULL, **_BIDX),
            "phone": _p(Category.CONTACT, gettext_noop("Phone"), Erasure.SET_NULL, sensitive=True, mask=Mask.PHONE),
            "phone_bidx": _p(Category.CONTACT, gettext_noop("Phone (blind index)"), Erasure.SET_NULL, **_BIDX),
            "product_lines": _p(Category.ACCOUNT, gettext_noop("Product lines used"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "preferred_language": _p(Category.ACCOUNT, gettext_noop("Preferred language"), Erasure.SET_NULL),
        },
        not_personal=("id", "kind", "status", "verification_level", "import_batch"),
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["-registered_at", "-pk"]
        permissions = [
            ("reveal_sensitive", "Can reveal masked sensitive values (logged with a reason)"),
            ("import_members", "Can import members and their records"),
        ]
        indexes = [
            # Changelist default ordering and "registered since" filters.
            models.Index(fields=["-registered_at", "-id"], name="accounts_member_registered"),
            # Under-14 purge candidates by birth year (PP-37).
            models.Index(fields=["birth_year"], name="accounts_member_birth_year"),
            # Cancellation grace-period job (PP-33).
            models.Index(fields=["status", "cancelled_at"], name="accounts_member_status_cancel"),
            # Member-number prefix search in the admin: LIKE 'M12%' can use a btree index only with
            # the pattern operator class when the database collation is not "C" (PostgreSQL).
            models.Index(fields=["member_number"], name="accounts_member_number_prefix",
                         opclasses=["varchar_pattern_ops"]),
        ]

    def __str__(self) -> str:
        return self.member_number

    def save(self, *args, **kwargs):
        # A derived column kept with its source, like the blind indexes (not a business flow).
        self.birth_year = self.date_of_birth.year if self.date_of_birth else None
        super().save(*args, **kwargs)

    def age_on(self, day: datetime.date) -> int | None:
        """Completed years on ``day`` (PP-03); None without a date of birth."""
        return age_on(self.date_of_birth, day) if self.date_of_birth else None

    def is_child_on(self, day: datetime.date) -> bool:
        """Under 14 on ``day`` (PP-03: "child" means under 14 exactly)."""
        age = self.age_on(day)
        return age is not None and age < CHILD_AGE_LIMIT

    def is_minor_on(self, day: datetime.date) -> bool:
        """Aged 14 to 17 on ``day``: needs a guardian's consent for optional processing (PP-38)."""
        age = self.age_on(day)
        return age is not None and CHILD_AGE_LIMIT <= age < ADULT_AGE


ADULT_AGE = 18


class InstitutionProfile(models.Model):
    """What PP-07 lists for institutional members."""

    member = models.OneToOneField(Member, on_delete=models.CASCADE, related_name="institution",
                                  verbose_name=_("member"))
    legal_name = models.CharField(_("legal name"), max_length=200)
    local_name = models.CharField(_("local-language name"), max_length=200, blank=True)
    name_search = NameSearchField(_("names, for search"), sources=("legal_name", "local_name"))
    registration_number = models.CharField(_("registration number"), max_length=60)
    registration_info = models.TextField(_("registration information"), blank=True)
    business_phone = EncryptedTextField(_("business phone"), blank=True)
    main_place_of_business = models.CharField(_("main place of business"), max_length=300, blank=True)
    company_structure = models.TextField(_("company structure"), blank=True)
    # Property information is sensitive (PP-01): encrypted at rest, hidden on screen until revealed.
    funding_sources = EncryptedTextField(_("funding sources"), blank=True)

    history = HistoricalRecords(excluded_fields=["name_search"])

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "legal_name": _p(Category.IDENTITY, gettext_noop("Legal name"), Erasure.DELETE_ROW),
            "local_name": _p(Category.IDENTITY, gettext_noop("Local-language name"), Erasure.DELETE_ROW),
            "name_search": _p(Category.IDENTITY, _SEARCH_LABEL, Erasure.DELETE_ROW, exported=False),
            "registration_number": _p(Category.IDENTITY, gettext_noop("Registration number"), Erasure.DELETE_ROW),
            "registration_info": _p(Category.IDENTITY, gettext_noop("Registration information"), Erasure.DELETE_ROW),
            "business_phone": _p(
                Category.CONTACT, gettext_noop("Business phone"), Erasure.DELETE_ROW, sensitive=True, mask=Mask.PHONE
            ),
            "main_place_of_business": _p(Category.CONTACT, gettext_noop("Main place of business"), Erasure.DELETE_ROW),
            "company_structure": _p(Category.IDENTITY, gettext_noop("Company structure"), Erasure.DELETE_ROW),
            "funding_sources": _p(
                Category.FINANCIAL, gettext_noop("Funding sources"), Erasure.DELETE_ROW, sensitive=True,
                    mask=Mask.HIDDEN
            ),
        },
        not_personal=("id",),
    )

    class Meta:
        verbose_name = _("institution profile")
        verbose_name_plural = _("institution profiles")
        ordering = ["member"]

    def __str__(self) -> str:
        return f"Institution profile of {self.member_id and self.member.member_number}"


class RelatedPerson(models.Model):
    """An institution's authorised representative or beneficial owner (PP-07)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="related_persons",
                               verbose_name=_("member"))
    role = models.CharField(_("role"), max_length=40, choices=RelatedPersonRole.choices)
    ownership_share = models.DecimalField(
        _("ownership share (%)"), max_digits=5, decimal_places=2, null=True, blank=True
    )
    legal_name = models.CharField(_("legal full name"), max_length=200)
    local_name = models.CharField(_("local-language name"), max_length=200, blank=True)
    name_search = NameSearchField(_("names, for search"), sources=("legal_name", "local_name"))
    nationality = models.CharField(_("nationality"), max_length=2, blank=True)
    date_of_birth = EncryptedDateField(_("date of birth"), null=True, blank=True)
    email = EncryptedTextField(_("e-mail"), blank=True)
    email_bidx = BlindIndexField(source="email", kind="email")
    phone = EncryptedTextField(_("phone"), blank=True)
    phone_bidx = BlindIndexField(source="phone", kind="phone")
    import_batch = models.ForeignKey(
        "ImportBatch", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+",
        verbose_name=_("import"), help_text=_("The import that last wrote this record, with its source (PP-16)."),
    )

    history = HistoricalRecords(excluded_fields=["name_search"])

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Institution"), Erasure.DELETE_ROW, exported=False),
            "role": _p(Category.IDENTITY, gettext_noop("Role"), Erasure.DELETE_ROW),
            "ownership_share": _p(Category.FINANCIAL, gettext_noop("Ownership share"), Erasure.DELETE_ROW),
            "legal_name": _p(Category.IDENTITY, gettext_noop("Legal full name"), Erasure.DELETE_ROW),
            "local_name": _p(Category.IDENTITY, gettext_noop("Local-language name"), Erasure.DELETE_ROW),
            "name_search": _p(Category.IDENTITY, _SEARCH_LABEL, Erasure.DELETE_ROW, exported=False),
            "nationality": _p(Category.IDENTITY, gettext_noop("Nationality"), Erasure.DELETE_ROW),
            "date_of_birth": _p(
                Category.IDENTITY, gettext_noop("Date of birth"), Erasure.DELETE_ROW, sensitive=True, mask=Mask.DATE
            ),
            "email": _p(Category.CONTACT, gettext_noop("E-mail"), Erasure.DELETE_ROW, sensitive=True, mask=Mask.EMAIL),
            "email_bidx": _p(Category.CONTACT, gettext_noop("E-mail (blind index)"), Erasure.DELETE_ROW, **_BIDX),
            "phone": _p(Category.CONTACT, gettext_noop("Phone"), Erasure.DELETE_ROW, sensitive=True, mask=Mask.PHONE),
            "phone_bidx": _p(Category.CONTACT, gettext_noop("Phone (blind index)"), Erasure.DELETE_ROW, **_BIDX),
        },
        not_personal=("id", "import_batch"),
    )

    class Meta:
        verbose_name = _("related person")
        verbose_name_plural = _("related persons")
        ordering = ["member", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ownership_share__isnull=True)
                | models.Q(ownership_share__gte=0, ownership_share__lte=100),
                name="%(app_label)s_%(class)s_share_is_a_percentage",
            ),
        ]

    def __str__(self) -> str:
        return f"Related person #{self.pk}"


class IdentityDocument(models.Model):
    """An identity document of a member or of an institution's related person (PP-06, PP-07, PP-10)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="documents", verbose_name=_("member"))
    related_person = models.ForeignKey(
        RelatedPerson, on_delete=models.CASCADE, related_name="documents", null=True, blank=True
    , verbose_name=_("related person"))
    kind = models.CharField(_("kind"), max_length=30, choices=DocumentKind.choices)
    issuing_country = models.CharField(_("issuing country"), max_length=2, blank=True)
    number = EncryptedTextField(_("number"), blank=True)
    number_bidx = BlindIndexField(source="number", kind="document")
    expires_on = models.DateField(_("expires on"), null=True, blank=True)
    file = models.FileField(
        _("file"), storage=protected_storage, upload_to=document_upload_to, blank=True, max_length=200
    )
    review_status = models.CharField(
        _("review status"), max_length=20, choices=ReviewStatus.choices, default=ReviewStatus.PENDING
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("reviewed by"))
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "related_person": _p(Category.IDENTITY, gettext_noop("Related person"), Erasure.DELETE_ROW, exported=False),
            "kind": _p(Category.IDENTITY, gettext_noop("Document kind"), Erasure.DELETE_ROW),
            "issuing_country": _p(Category.IDENTITY, gettext_noop("Issuing country"), Erasure.DELETE_ROW),
            "number": _p(
                Category.IDENTITY, gettext_noop("Document number"), Erasure.DELETE_ROW, sensitive=True,
                    mask=Mask.ID_NUMBER
            ),
            "number_bidx": _p(Category.IDENTITY, gettext_noop("Document number (blind index)"),
                Erasure.DELETE_ROW, **_BIDX),
            "expires_on": _p(Category.IDENTITY, gettext_noop("Expires on"), Erasure.DELETE_ROW),
            # A face capture's file is a biometric (PP-01, PP-10): encrypted storage, logged download.
            "file": Personal(
                Category.IDENTITY, sensitive=True, label=gettext_noop("Document file"), erasure=Erasure.DELETE_FILE,
                mask=Mask.FILE,
                kinds=((DocumentKind.FACE_CAPTURE, Category.BIOMETRIC),),
            ),
            "review_status": _p(Category.VERIFICATION, gettext_noop("Review status"), Erasure.DELETE_ROW),
            "reviewed_at": _p(Category.VERIFICATION, gettext_noop("Reviewed at"), Erasure.DELETE_ROW),
            "uploaded_at": _p(Category.IDENTITY, gettext_noop("Uploaded at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "reviewed_by"),
    )

    class Meta:
        verbose_name = _("identity document")
        verbose_name_plural = _("identity documents")
        ordering = ["-uploaded_at", "-pk"]
        permissions = [("download_document", "Can download identity-document files (logged)")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_biometric(self) -> bool:
        return self.kind == DocumentKind.FACE_CAPTURE

    def clean(self) -> None:
        validate_document_number(kind=self.kind, country=self.issuing_country, number=self.number)
        if self.related_person_id and self.member_id and self.related_person.member_id != self.member_id:
            raise ValidationError({"related_person": _("This person belongs to another member.")})
        hooks.run_document_store_checks(self)  # e.g. consents: a face capture needs a biometric grant


class Verification(models.Model):
    """A real-name or advanced (face) verification (PP-09, PP-10). Screens show the outcome only."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="verifications", verbose_name=_("member"))
    level = models.CharField(_("level"), max_length=20, choices=VerificationLevel.choices)
    method = models.CharField(_("method"), max_length=30, choices=VerificationMethod.choices)
    outcome = models.CharField(_("outcome"), max_length=20, choices=VerificationOutcome.choices)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("reviewer"))
    verified_at = models.DateTimeField(_("verified at"), default=timezone.now)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "level": _p(Category.VERIFICATION, gettext_noop("Verification level"), Erasure.DELETE_ROW),
            "method": _p(Category.VERIFICATION, gettext_noop("Method"), Erasure.DELETE_ROW),
            "outcome": _p(Category.VERIFICATION, gettext_noop("Outcome"), Erasure.DELETE_ROW),
            "verified_at": _p(Category.VERIFICATION, gettext_noop("Verified at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "reviewer"),
    )

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")
        ordering = ["-verified_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(level=VerificationLevel.NONE),
                name="%(app_label)s_%(class)s_level_is_real_name_or_advanced",
            ),
        ]

    def __str__(self) -> str:
        return f"Verification #{self.pk}"


class PaymentInstrument(models.Model):
    """A bank card or account (PP-08): the number is encrypted and shown as its last four digits."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="payment_instruments",
                               verbose_name=_("member"))
    kind = models.CharField(_("kind"), max_length=20, choices=InstrumentKind.choices)
    bank_name = models.CharField(_("bank"), max_length=120, blank=True)
    number = EncryptedTextField(_("card or account number"))
    number_bidx = BlindIndexField(source="number", kind="card")
    last_four = models.CharField(_("last four"), max_length=4, editable=False, blank=True)
    added_at = models.DateTimeField(_("added at"), default=timezone.now)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "kind": _p(Category.FINANCIAL, gettext_noop("Instrument kind"), Erasure.DELETE_ROW),
            "bank_name": _p(Category.FINANCIAL, gettext_noop("Bank"), Erasure.DELETE_ROW),
            "number": _p(Category.FINANCIAL, gettext_noop("Number"), Erasure.DELETE_ROW, sensitive=True,
                mask=Mask.CARD),
            "number_bidx": _p(Category.FINANCIAL, gettext_noop("Number (blind index)"), Erasure.DELETE_ROW, **_BIDX),
            "last_four": _p(Category.FINANCIAL, gettext_noop("Last four digits"), Erasure.DELETE_ROW),
            "added_at": _p(Category.FINANCIAL, gettext_noop("Added at"), Erasure.DELETE_ROW),
        },
        not_personal=("id",),
    )

    class Meta:
        verbose_name = _("payment instrument")
        verbose_name_plural = _("payment instruments")
        ordering = ["member", "-added_at"]

    def __str__(self) -> str:
        # Not even the last four digits: __str__ feeds admin log entries (requirement 11).
        return f"{self.get_kind_display()} #{self.pk}"

    def save(self, *args, **kwargs):
        digits = "".join(ch for ch in str(self.number or "") if ch.isdigit())
        if digits:
            self.last_four = digits[-4:]
        super().save(*args, **kwargs)


class DeviceRecord(models.Model):
    """Device and security data seen for a member (PP-11): personal once linked, short retention.

    Append-only log rows: no audit history (nothing is ever edited; erasure deletes them).
    """

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="device_records",
                               verbose_name=_("member"))
    # Whereabouts are sensitive (PP-01): the IP address, region and precise location are encrypted at
    # rest and hidden on screen until revealed. Nothing selects on them in SQL.
    ip_address = EncryptedTextField(_("IP address"), null=True, blank=True, validators=[validate_ipv46_address])
    device_id = models.CharField(_("device ID"), max_length=100, blank=True)
    imei = models.CharField(_("IMEI"), max_length=20, blank=True)
    mac_address = models.CharField(_("MAC address"), max_length=17, blank=True)
    browser = models.CharField(_("browser"), max_length=200, blank=True)
    region = EncryptedTextField(_("region"), blank=True)
    location = EncryptedTextField(_("precise location"), blank=True)
    seen_at = models.DateTimeField(_("seen at"), default=timezone.now)
    product_line = models.ForeignKey(
        ProductLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("product line"), help_text=_("The service this device was seen on (PP-19)."),
    )

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "ip_address": _p(Category.DEVICE, gettext_noop("IP address"), Erasure.DELETE_ROW, sensitive=True,
                mask=Mask.HIDDEN),
            "device_id": _p(Category.DEVICE, gettext_noop("Device ID"), Erasure.DELETE_ROW),
            "imei": _p(Category.DEVICE, gettext_noop("IMEI"), Erasure.DELETE_ROW),
            "mac_address": _p(Category.DEVICE, gettext_noop("MAC address"), Erasure.DELETE_ROW),
            "browser": _p(Category.DEVICE, gettext_noop("Browser"), Erasure.DELETE_ROW),
            "region": _p(Category.LOCATION, gettext_noop("Region"), Erasure.DELETE_ROW, sensitive=True,
                mask=Mask.LOCATION),
            "location": _p(
                Category.LOCATION, gettext_noop("Precise location"), Erasure.DELETE_ROW, sensitive=True,
                    mask=Mask.LOCATION
            ),
            "seen_at": _p(Category.DEVICE, gettext_noop("Seen at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "product_line"),
        product_line_field="product_line",
    )

    class Meta:
        verbose_name = _("device record")
        verbose_name_plural = _("device records")
        ordering = ["-seen_at", "-pk"]
        indexes = [
            # A member's devices by time (access export, member page); expiry job by age (PP-11).
            models.Index(fields=["member", "-seen_at"], name="accounts_device_member_seen"),
            models.Index(fields=["seen_at"], name="accounts_device_seen"),
            # A product line's shutdown: its rows of a chunk of members (PP-19).
            models.Index(fields=["product_line", "member"], name="accounts_device_line_member"),
        ]

    def __str__(self) -> str:
        return f"Device record #{self.pk}"
