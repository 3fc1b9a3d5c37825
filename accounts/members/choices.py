"""Choices of the accounts app (members, documents, verification)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class MemberKind(models.TextChoices):
    INDIVIDUAL = "individual", _("Individual")
    INSTITUTION = "institution", _("Institution")


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    CANCELLATION_REQUESTED = "cancellation_requested", _("Cancellation requested")
    CANCELLED = "cancelled", _("Cancelled")
    CLOSED = "closed", _("Closed")


class VerificationLevel(models.TextChoices):
    NONE = "none", _("None")
    REAL_NAME = "real_name", _("Real-name")
    ADVANCED = "advanced", _("Advanced (face recognition)")


class RelatedPersonRole(models.TextChoices):
    AUTHORISED_REPRESENTATIVE = "authorised_representative", _("Authorised representative")
    BENEFICIAL_OWNER = "beneficial_owner", _("Beneficial owner")
    DIRECTOR = "director", _("Director")


class DocumentKind(models.TextChoices):
    NATIONAL_ID = "national_id", _("National ID card")
    PASSPORT = "passport", _("Passport")
    DRIVER_LICENCE = "driver_licence", _("Driver licence")
    SOCIAL_SECURITY = "social_security", _("Social-security number")
    COMPANY_REGISTRATION = "company_registration", _("Company registration")
    CORPORATE_DOCUMENT = "corporate_document", _("Corporate document")
    BOARD_RESOLUTION = "board_resolution", _("Board resolution")
    FACE_CAPTURE = "face_capture", _("Face capture")


class ReviewStatus(models.TextChoices):
    PENDING = "pending", _("Pending review")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class VerificationMethod(models.TextChoices):
    ID_NUMBER_CHECK = "id_number_check", _("Real name + ID number check")
    PASSPORT_CHECK = "passport_check", _("Real name + passport check")
    FACE_RECOGNITION = "face_recognition", _("Face recognition")
    MANUAL_REVIEW = "manual_review", _("Manual document review")


class VerificationOutcome(models.TextChoices):
    PASSED = "passed", _("Passed")
    FAILED = "failed", _("Failed")
    PENDING = "pending", _("Pending")


class InstrumentKind(models.TextChoices):
    BANK_CARD = "bank_card", _("Bank card")
    BANK_ACCOUNT = "bank_account", _("Bank account")


class AssetType(models.TextChoices):
    BTC = "BTC", "BTC"
    ETH = "ETH", "ETH"
    USDT = "USDT", "USDT"
    SOL = "SOL", "SOL"
    XRP = "XRP", "XRP"
    OTHER = "OTHER", _("Other")
