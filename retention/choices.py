"""Choices of the retention app."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class ErasureTrigger(models.TextChoices):
    CANCELLATION = "cancellation", _("Account cancellation after the grace period (PP-33)")
    UNDER_14 = "under_14", _("Member under 14 (PP-37)")
    DELETION_REQUEST = "deletion_request", _("Deletion request (PP-29)")
    SERVICE_SHUTDOWN = "service_shutdown", _("Service shutdown (PP-19)")


class RunStatus(models.TextChoices):
    PREPARED = "prepared", _("Prepared, awaiting approval")
    APPROVED = "approved", _("Approved, queued")
    RUNNING = "running", _("Running")
    FINISHED = "finished", _("Finished")
    FINISHED_WITH_FAILURES = "finished_with_failures", _("Finished with failures")
    REJECTED = "rejected", _("Rejected")


class ItemStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    ERASED = "erased", _("Erased")
    HELD = "held", _("Skipped: legal hold")
    SKIPPED = "skipped", _("Skipped: no longer eligible")
    FAILED = "failed", _("Failed")


class ReviewOutcome(models.TextChoices):
    COMPLIANT = "compliant", _("Compliant")
    ACTIONS_REQUIRED = "actions_required", _("Actions required")
    STOPPED = "stopped", _("Processing stopped")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
