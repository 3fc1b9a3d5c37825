"""Choices of the request desk."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class RequestType(models.TextChoices):
    ACCESS = "access", _("Access (copy of my data)")
    CORRECTION = "correction", _("Correction")
    DELETION = "deletion", _("Deletion")
    CONSENT_WITHDRAWAL = "consent_withdrawal", _("Consent withdrawal")
    ACCOUNT_CANCELLATION = "account_cancellation", _("Account cancellation")
    COMPLAINT = "complaint", _("Complaint")
    DISPUTE = "dispute", _("Dispute")
    UNDERAGE_REPORT = "underage_report", _("Report of an under-14 user")
    SECURITY_REPORT = "security_report", _("Security vulnerability report")
    ENQUIRY = "enquiry", _("General enquiry")


class RequesterKind(models.TextChoices):
    MEMBER = "member", _("The member")
    GUARDIAN = "guardian", _("A guardian")
    AGENT = "agent", _("An authorised agent")
    THIRD_PARTY = "third_party", _("A third-party reporter")


class IntakeChannel(models.TextChoices):
    WEB = "web", _("Web form")
    APP = "app", _("App")
    EMAIL = "email", _("E-mail")
    PHONE = "phone", _("Phone")
    LETTER = "letter", _("Letter to the official address")
    IN_PERSON = "in_person", _("Visit in person")


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class MessageDirection(models.TextChoices):
    INBOUND = "inbound", _("Inbound")
    OUTBOUND = "outbound", _("Outbound")


class VerificationMethod(models.TextChoices):
    ACCOUNT_LOGIN = "account_login", _("Logged-in account session")
    DOCUMENT_MATCH = "document_match", _("Identity document matched")
    KNOWLEDGE_CHECK = "knowledge_check", _("Account knowledge check")
    WRITTEN_REQUEST = "written_request", _("Signed written request")
    GUARDIAN_PROOF = "guardian_proof", _("Proof of guardianship")
    AGENT_AUTHORITY = "agent_authority", _("Power of attorney / authorisation")


class ReminderKind(models.TextChoices):
    BEFORE_DUE = "before_due", _("Due soon")
    OVERDUE = "overdue", _("Overdue (escalated)")


class PackageStatus(models.TextChoices):
    """An access package's build (PP-29): built by the worker after the approval commits."""

    BUILDING = "building", _("Building")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")
