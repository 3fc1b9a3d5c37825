"""Choices of the consents app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class PurposeKind(models.TextChoices):
    BASIC = "basic", _("Basic (required for the service)")
    ADDITIONAL = "additional", _("Additional (optional)")


class ConsentAction(models.TextChoices):
    GRANT = "grant", _("Grant")
    WITHDRAW = "withdraw", _("Withdraw")


class Channel(models.TextChoices):
    WEB = "web", _("Web")
    APP = "app", _("App")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    TICKET = "ticket", _("Ticket")
    STAFF = "staff", _("Staff entry")


class ActorKind(models.TextChoices):
    MEMBER = "member", _("The member")
    GUARDIAN = "guardian", _("A guardian")
    STAFF = "staff", _("A staff user on the member's behalf")


class ChangeKind(models.TextChoices):
    """Section VII of the policy: the six major kinds, "narrows a right" (PP-40) and minor."""

    SERVICE_MODEL = "service_model", _("Main service model changed (purposes, data types, use)")
    CONTROLLER = "controller", _("Controller changed (merger, acquisition, …)")
    RECIPIENTS = "recipients", _("Main recipients of sharing, transfer or public disclosure changed")
    RIGHTS = "rights", _("Members' rights or how to exercise them changed")
    CONTACT = "contact", _("Responsible department, contact or complaint channel changed")
    HIGH_RISK = "high_risk", _("Security impact assessment shows a high risk")
    NARROWS_RIGHT = "narrows_right", _("Narrows a right (needs express acceptance)")
    MINOR = "minor", _("Minor change")


MAJOR_CHANGE_KINDS = frozenset(
    {
        ChangeKind.SERVICE_MODEL,
        ChangeKind.CONTROLLER,
        ChangeKind.RECIPIENTS,
        ChangeKind.RIGHTS,
        ChangeKind.CONTACT,
        ChangeKind.HIGH_RISK,
        ChangeKind.NARROWS_RIGHT,
    }
)


class GroundUse(models.TextChoices):
    CONSENT_EXCEPTION = "consent_exception", _("Processing without consent (I(V)3)")
    AUTHORISATION_EXCEPTION = "authorisation_exception", _("Disclosure without authorisation (III(IV))")
    REQUEST_REJECTION = "request_rejection", _("Rejecting a request (V(IV))")
    CANNOT_RESPOND = "cannot_respond", _("Unable to respond to a request (V(IV))")


class RecipientKind(models.TextChoices):
    PARTNER = "partner", _("Authorised partner")
    AUTHORITY = "authority", _("Administrative or judicial authority")
    COUNTERPARTY = "counterparty", _("Trade counterparty")
    SUCCESSOR = "successor", _("Successor in a merger, acquisition or liquidation")
    PUBLIC = "public", _("The public")


class DisclosureKind(models.TextChoices):
    SHARE = "share", _("Sharing (III(I))")
    TRANSFER = "transfer", _("Transfer (III(II))")
    PUBLIC_DISCLOSURE = "public_disclosure", _("Public disclosure (III(III))")


class DisclosureBasis(models.TextChoices):
    CONSENT = "consent", _("The members' explicit consent")
    LAW = "law", _("Laws, litigation or an authority's requirement")
    MEMBER_CHOICE = "member_choice", _("The member's own choice")
    PARTNER_AGREEMENT = "partner_agreement", _("Authorised partner under a confidentiality agreement")
    MERGER = "merger", _("Merger, acquisition or liquidation")
    LEGAL_GROUND = "legal_ground", _("A legal ground of III(IV)")
    SERIOUS_VIOLATION = "serious_violation", _("Serious violation of laws or platform rules")


class DisclosureStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class NoticeStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    NOTIFIED = "notified", _("Notified")
    SEEN = "seen", _("Seen")
    ACCEPTED = "accepted", _("Accepted")


class SmsOutcome(models.TextChoices):
    WITHDRAWN = "withdrawn", _("Withdrew marketing and profiling")
    UNKNOWN_NUMBER = "unknown_number", _("Number not found")
    IGNORED = "ignored", _("Not an unsubscribe keyword")


class SiteEventKind(models.TextChoices):
    """What the member-facing web site or app reports (``consents.api``)."""

    GRANT = "grant", _("Grant of a purpose")
    WITHDRAW = "withdraw", _("Withdrawal of a purpose")
    SEEN = "seen", _("Policy version seen")
    ACCEPTED = "accepted", _("Policy version accepted")


class SiteEventOutcome(models.TextChoices):
    RECORDED = "recorded", _("Recorded")
    UNCHANGED = "unchanged", _("Already on file: nothing changed")
    NOT_NEEDED = "not_needed", _("A minor version: continued use is acceptance (PP-39)")
