"""Legal holds, erasure runs and records, the file-deletion outbox, job runs, reviews (PP-02, PP-27, PP-33).

``retention`` imports only ``accounts``: the erasure engine reaches every other app's data through
the data map registry (``accounts.privacy.datamap``), never by importing those apps.
"""

from __future__ import annotations

import datetime
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Member
from accounts.privacy.datamap import Category, DataMap, Erasure, Personal
from accounts.privacy.storage import protected_storage
from retention.choices import ErasureTrigger, ItemStatus, ReviewOutcome, RiskLevel, RunStatus


def assessment_upload_to(instance, filename: str) -> str:
    # The uploaded name is not kept: it may name a person.
    return f"assessments/{uuid.uuid4().hex}.bin"


class LegalHold(models.Model):
    """A block on erasing one member's data (PP-29, PP-33): reason, owner and end."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="legal_holds", verbose_name=_("member"))
    reason = models.TextField(_("reason"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("owner"))
    starts_on = models.DateField(_("starts on"), default=timezone.localdate)
    ends_on = models.DateField(_("ends on"), null=True, blank=True, help_text=_("Empty: until released."))
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("released by"))
    release_reason = models.TextField(_("release reason"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": Personal(Category.ACCOUNT, False, "Member", Erasure.RETAIN_THEN_PSEUDONYMISE, exported=False),
        },
        not_personal=("id", "reason", "owner", "starts_on", "ends_on", "released_at", "released_by",
                      "release_reason", "created_at"),
        note="A hold outlives the data it protects only as long as the hold itself.",
    )

    class Meta:
        verbose_name = _("legal hold")
        verbose_name_plural = _("legal holds")
        ordering = ["-starts_on", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
        ]
        indexes = [
            # The engine asks "which of these members are held today?" for every chunk.
            models.Index(fields=["member"], condition=models.Q(released_at__isnull=True), name="retention_hold_open"),
        ]

    def __str__(self) -> str:
        return gettext("Legal hold #%(pk)s") % {"pk": self.pk}

    def is_active_on(self, day: datetime.date) -> bool:
        return self.released_at is None and self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)


class ErasureRun(models.Model):
    """One run of the erasure engine over a set of members, with its counts and failures.

    Runs started from the admin are prepared by a compliance officer and approved by a supervisor
    (four eyes); scheduled jobs create approved runs themselves.
    """

    trigger = models.CharField(_("trigger"), max_length=30, choices=ErasureTrigger.choices)
    status = models.CharField(_("status"), max_length=30, choices=RunStatus.choices, default=RunStatus.PREPARED)
    dry_run = models.BooleanField(_("dry run"), default=False)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("prepared by"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("approved by"))
    request_reference = models.CharField(_("request reference"), max_length=40, blank=True)
    product_line = models.CharField(_("product line"), max_length=30, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="",
        not_personal=("id", "trigger", "status", "dry_run", "prepared_by", "approved_by", "request_reference",
                      "product_line", "created_at", "started_at", "finished_at", "counts"),
    )

    class Meta:
        verbose_name = _("erasure run")
        verbose_name_plural = _("erasure runs")
        ordering = ["-created_at", "-pk"]
        permissions = [
            ("prepare_erasure", "Can prepare an erasure of selected members"),
            ("approve_erasure", "Can approve an erasure prepared by someone else"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True)
                | models.Q(prepared_by__isnull=True)
                | ~models.Q(approved_by=models.F("prepared_by")),
                name="%(app_label)s_%(class)s_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Erasure run #%(pk)s") % {"pk": self.pk}


class ErasureRunItem(models.Model):
    """One member in a run: its outcome, and the error when it failed (a rerun retries those)."""

    run = models.ForeignKey(ErasureRun, on_delete=models.CASCADE, related_name="items", verbose_name=_("run"))
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                               verbose_name=_("member"))
    member_number = models.CharField(_("member number"), max_length=64)
    status = models.CharField(_("status"), max_length=20, choices=ItemStatus.choices, default=ItemStatus.PENDING)
    error = models.TextField(_("error"), blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    data_map = DataMap(
        subject="",
        personal={
            "member": Personal(Category.ACCOUNT, False, "Member", Erasure.SET_NULL, exported=False),
            "member_number": Personal(Category.ACCOUNT, False, "Member number", Erasure.TOKEN, exported=False),
        },
        not_personal=("id", "run", "status", "error", "finished_at"),
        note="Errors name the model and the reason, never a value.",
    )

    class Meta:
        verbose_name = _("erasure run item")
        verbose_name_plural = _("erasure run items")
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["run", "member_number"], name="%(app_label)s_%(class)s_unique_member"),
        ]
        indexes = [models.Index(fields=["run", "status"], name="retention_item_run_status")]

    def __str__(self) -> str:
        return gettext("Erasure item #%(pk)s") % {"pk": self.pk}


class ErasureRecord(models.Model):
    """Proof that an erasure ran (PP-02). Holds no personal data.

    ``subject_hash`` is a keyed hash of the member number, so "was X erased?" can be answered, and
    ``reapply_erasures`` can erase again a member that a database restore brought back.
    """

    subject_hash = models.CharField(_("keyed hash of the member number"), max_length=64, unique=True)
    trigger = models.CharField(_("trigger"), max_length=30, choices=ErasureTrigger.choices)
    counts = models.JSONField(_("rows changed per model"), default=dict)
    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    engine_version = models.CharField(_("engine version"), max_length=20)
    request_reference = models.CharField(_("requesting ticket"), max_length=40, blank=True)
    run = models.ForeignKey(ErasureRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="records",
                            verbose_name=_("run"))

    data_map = DataMap(
        subject="",
        not_personal=("id", "subject_hash", "trigger", "counts", "started_at", "finished_at", "engine_version",
                      "request_reference", "run"),
        note="Proof of erasure without personal data.",
    )

    class Meta:
        verbose_name = _("erasure record")
        verbose_name_plural = _("erasure records")
        ordering = ["-finished_at", "-pk"]

    def __str__(self) -> str:
        return gettext("Erasure record #%(pk)s") % {"pk": self.pk}


class FileDeletionOutbox(models.Model):
    """A file to delete, written in the same transaction that removes the row pointing at it.

    A crash therefore never leaves a row pointing at a deleted file, nor a file nobody will delete:
    the outbox is drained after commit and again by every later run.
    """

    storage_name = models.CharField(_("stored file name"), max_length=255)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)

    data_map = DataMap(subject="", not_personal=("id", "storage_name", "created_at", "deleted_at"),
                       note="Random file names only.")

    class Meta:
        verbose_name = _("file deletion")
        verbose_name_plural = _("file deletion outbox")
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["id"], condition=models.Q(deleted_at__isnull=True), name="retention_outbox_pending"),
        ]

    def __str__(self) -> str:
        return gettext("File deletion #%(pk)s") % {"pk": self.pk}


class JobRun(models.Model):
    """One run of a scheduled job (or its command) with its counts, shown in the admin."""

    job = models.CharField(_("job"), max_length=60)
    dry_run = models.BooleanField(_("dry run"), default=False)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    data_map = DataMap(subject="", not_personal=("id", "job", "dry_run", "started_at", "finished_at", "counts",
                                                 "error"))

    class Meta:
        verbose_name = _("job run")
        verbose_name_plural = _("job runs")
        ordering = ["-started_at", "-pk"]
        indexes = [models.Index(fields=["job", "-started_at"], name="retention_jobrun_job_started")]

    def __str__(self) -> str:
        return f"{self.job} run #{self.pk}"


class ProcessingReview(models.Model):
    """A periodic review of one processing activity (PP-27)."""

    processing = models.CharField(_("processing reviewed"), max_length=200)
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("reviewer"))
    reviewed_on = models.DateField(_("reviewed on"))
    outcome = models.CharField(_("outcome"), max_length=30, choices=ReviewOutcome.choices)
    findings = models.TextField(_("findings"), blank=True)
    next_due = models.DateField(_("next review due"))
    reminded_on = models.DateField(_("reminder sent on"), null=True, blank=True)

    history = HistoricalRecords()

    data_map = DataMap(subject="", not_personal=("id", "processing", "reviewer", "reviewed_on", "outcome",
                                                 "findings", "next_due", "reminded_on"))

    class Meta:
        verbose_name = _("processing review")
        verbose_name_plural = _("processing reviews")
        ordering = ["next_due", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(next_due__gt=models.F("reviewed_on")), name="%(app_label)s_%(class)s_next_after"
            ),
        ]

    def __str__(self) -> str:
        return gettext("Review #%(pk)s: %(processing)s") % {"pk": self.pk, "processing": self.processing}


class ImpactAssessment(models.Model):
    """A personal-information security impact assessment (PP-27)."""

    scope = models.CharField(_("scope"), max_length=200)
    risk_level = models.CharField(_("risk level"), max_length=10, choices=RiskLevel.choices)
    assessed_on = models.DateField(_("assessed on"))
    assessor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("assessor"))
    report = models.FileField(_("report"), storage=protected_storage, upload_to=assessment_upload_to, blank=True)
    next_due = models.DateField(_("next assessment due"), null=True, blank=True)
    reminded_on = models.DateField(_("reminder sent on"), null=True, blank=True)

    history = HistoricalRecords()

    data_map = DataMap(subject="", not_personal=("id", "scope", "risk_level", "assessed_on", "assessor", "report",
                                                 "next_due", "reminded_on"))

    class Meta:
        verbose_name = _("impact assessment")
        verbose_name_plural = _("impact assessments")
        ordering = ["-assessed_on", "-pk"]

    def __str__(self) -> str:
        return gettext("Impact assessment #%(pk)s: %(scope)s") % {"pk": self.pk, "scope": self.scope}
