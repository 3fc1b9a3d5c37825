"""Data-subject requests, their transitions, identity checks, messages, reminders, access packages.

A request's status is changed only by ``requests_desk.workflow`` (design decision 4).
"""

from __future__ import annotations

import datetime
import secrets
import uuid

from django.conf import settings
from django.core.validators import validate_ipv46_address
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop
from simple_history.models import HistoricalRecords

from accounts.models import Member
from accounts.privacy.datamap import Category, DataMap, Erasure, Mask
from accounts.privacy.datamap import personal as _p
from accounts.privacy.fields import BlindIndexField, EncryptedTextField
from accounts.privacy.storage import protected_storage
from consents.models import LegalGround
from requests_desk.choices import (
    IntakeChannel,
    MessageDirection,
    PackageStatus,
    Priority,
    ReminderKind,
    RequesterKind,
    RequestType,
    Severity,
    VerificationMethod,
)
from requests_desk.states import OPEN_STATES, Status

#: The open states as a sorted list, for partial index conditions (stable in migrations).
OPEN_STATUS_VALUES = sorted(str(state) for state in OPEN_STATES)


#: ``Request.reminder_due_at`` of a request the reminder job must look at in its next run, whatever
#: ``now`` that run is given: a new request, and one whose assignee, due date or status changed.
REMINDER_RECHECK = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)




def new_reference() -> str:
    """A public reference: unguessable, no personal data, readable on the phone."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "DSR-" + "".join(secrets.choice(alphabet) for _ in range(8))


def attachment_upload_to(instance, filename: str) -> str:
    return f"requests/{uuid.uuid4().hex}.bin"


class Request(models.Model):
    """A data-subject request or service ticket (PP-14, PP-28, PP-29, PP-34, PP-41)."""

    reference = models.CharField(_("reference"), max_length=20, unique=True, default=new_reference, editable=False)
    type = models.CharField(_("type"), max_length=30, choices=RequestType.choices)
    status = models.CharField(_("status"), max_length=30, choices=Status.choices, default=Status.NEW, editable=False)
    requester_kind = models.CharField(_("requester"), max_length=20, choices=RequesterKind.choices)
    requester_name = models.CharField(_("requester's name"), max_length=200, blank=True)
    requester_email = EncryptedTextField(_("requester's e-mail"), blank=True)
    requester_email_bidx = BlindIndexField(source="requester_email", kind="email")
    channel = models.CharField(_("intake channel"), max_length=20, choices=IntakeChannel.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"))
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.NORMAL)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="assigned_requests",
        verbose_name=_("assignee"),
    )
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests",
                               verbose_name=_("member"))
    concerns = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="complaints", verbose_name=_("concerns"),
        help_text=_("For complaints: the request this complaint is about (PP-34)."),
    )
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    description = models.TextField(_("description"), blank=True)
    details = models.JSONField(_("type-specific details"), default=dict, blank=True)
    is_repeat = models.BooleanField(_("repeated request"), default=False, editable=False)
    fee_amount = models.DecimalField(_("fee"), max_digits=10, decimal_places=2, null=True, blank=True)
    fee_reason = models.TextField(_("fee reason"), blank=True)
    refusal_grounds = models.ManyToManyField(LegalGround, blank=True, related_name="refused_requests",
                                             verbose_name=_("refusal grounds"))
    # PP-17: a refusal that rests on processing without consent cites the approved record in force
    # (the same record ``may_process`` reads), e.g. a withdrawal refused while a law requires it.
    refusal_ground_records = models.ManyToManyField(
        "consents.ProcessingOnGround", blank=True, related_name="refused_requests",
        verbose_name=_("processing on legal grounds relied on"),
    )
    decision_note = models.TextField(_("decision note"), blank=True)
    # Issue 16: the language of this request's letters, set at intake (the member's preference, else
    # detected from the message, else DEFAULT_LETTER_LANGUAGE); the agent may change it (history).
    # Blank on requests received before issue 16: their letters use DEFAULT_LETTER_LANGUAGE.
    language = models.CharField(_("letter language"), max_length=16, choices=settings.LANGUAGES, blank=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("prepared by"))
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("approved by"))
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    # The reminder job's schedule (PP-34, requests_desk.reminders): when it must next look at this
    # request (its next reminder stage, REMINDER_RECHECK after a change, NULL when nothing is left),
    # and the stamp of the run that last looked. Bookkeeping, not the request's history.
    reminder_due_at = models.DateTimeField(_("reminders next due at"), null=True, blank=True,
                                           default=REMINDER_RECHECK, editable=False)
    reminder_run = models.DateTimeField(_("reminders last looked at by run"), null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["details", "reminder_due_at", "reminder_run"])

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.COMMUNICATION, gettext_noop("Member"), Erasure.SET_NULL, exported=False),
            "requester_name": _p(Category.COMMUNICATION, gettext_noop("Requester's name"), Erasure.TOKEN),
            "requester_email": _p(Category.CONTACT, gettext_noop("Requester's e-mail"), Erasure.SET_NULL,
                                  sensitive=True, mask=Mask.EMAIL),
            "requester_email_bidx": _p(Category.CONTACT, gettext_noop("Requester's e-mail (blind index)"),
                                       Erasure.SET_NULL, exported=False),
            "subject": _p(Category.COMMUNICATION, gettext_noop("Subject"), Erasure.TOKEN),
            "description": _p(Category.COMMUNICATION, gettext_noop("Description"), Erasure.SET_NULL),
            "details": _p(Category.COMMUNICATION, gettext_noop("Details"), Erasure.SET_NULL),
            "received_at": _p(Category.COMMUNICATION, gettext_noop("Received at"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "type": _p(Category.COMMUNICATION, gettext_noop("Request type"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "fee_reason": _p(Category.COMMUNICATION, gettext_noop("Fee reason"), Erasure.SET_NULL),
            "decision_note": _p(Category.COMMUNICATION, gettext_noop("Decision note"), Erasure.SET_NULL),
        },
        not_personal=("id", "reference", "status", "requester_kind", "channel", "due_at", "priority", "severity",
                      "assignee", "concerns", "is_repeat", "fee_amount", "refusal_grounds", "refusal_ground_records",
                      "prepared_by", "approved_by", "closed_at", "reminder_due_at", "reminder_run", "language"),
        note="The ticket survives erasure as a pseudonymous record of how the request was handled.",
    )

    class Meta:
        verbose_name = _("request")
        verbose_name_plural = _("requests")
        ordering = ["due_at", "pk"]
        permissions = [
            ("work_queue", "Can work the agents' request queue"),
            ("decide_request", "Can fulfil or refuse requests (compliance)"),
            ("approve_deletion", "Can approve deletions prepared by someone else (supervisor)"),
        ]
        indexes = [
            # "Take next": the most urgent unassigned open request.
            models.Index(
                fields=["-priority", "due_at", "id"],
                condition=models.Q(assignee__isnull=True, status__in=["new", "awaiting_identity", "in_progress"]),
                name="desk_request_unassigned_open",
            ),
            # The agent's own list.
            models.Index(fields=["assignee", "status", "due_at"], name="desk_request_assignee_due"),
            # The reminder job (PP-34): the open requests it must look at now (``reminder_due_at <=
            # now``: a range scan of the due ones only), then the ones its run stamped.
            models.Index(fields=["reminder_due_at"], condition=models.Q(status__in=OPEN_STATUS_VALUES),
                         name="desk_request_reminder_due"),
            models.Index(fields=["reminder_run"], condition=models.Q(status__in=OPEN_STATUS_VALUES),
                         name="desk_request_reminder_run"),
            # Repeat detection: same member, same type, recent.
            models.Index(fields=["member", "type", "received_at"], name="desk_request_member_type"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(due_at__gte=models.F("received_at")),
                                   name="%(app_label)s_%(class)s_due_after_received"),
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | models.Q(prepared_by__isnull=True)
                | ~models.Q(approved_by=models.F("prepared_by")),
                name="%(app_label)s_%(class)s_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    def reminders_recheck(self) -> str:
        """Have the reminder job look at this request in its next run (PP-34); returns the field's name
        for ``update_fields``. Every change of assignee, due date or status calls it: the job reads only
        the requests whose ``reminder_due_at`` has come."""
        self.reminder_due_at = REMINDER_RECHECK
        return "reminder_due_at"


class Transition(models.Model):
    """One state change of a request: who, when, from what to what, and why."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="transitions",
                                verbose_name=_("request"))
    name = models.CharField(_("transition"), max_length=40)
    from_status = models.CharField(_("from"), max_length=30, choices=Status.choices)
    to_status = models.CharField(_("to"), max_length=30, choices=Status.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                              related_name="+", verbose_name=_("actor"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    note = models.TextField(_("note"), blank=True)

    data_map = DataMap(
        subject="request__member",
        personal={"note": _p(Category.COMMUNICATION, gettext_noop("Transition note"), Erasure.SET_NULL)},
        not_personal=("id", "request", "name", "from_status", "to_status", "actor", "at"),
    )

    class Meta:
        verbose_name = _("transition")
        verbose_name_plural = _("transitions")
        ordering = ["request", "at", "pk"]

    def __str__(self) -> str:
        return f"Transition #{self.pk}"


class IdentityCheck(models.Model):
    """The verification gate (PP-30, PP-15): who verified the requester, how and when."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="identity_checks",
                                verbose_name=_("request"))
    method = models.CharField(_("method"), max_length=30, choices=VerificationMethod.choices)
    evidence = models.TextField(_("evidence"))
    authority_evidence = models.TextField(_("authority of guardian or agent"), blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("verified by"))
    verified_at = models.DateTimeField(_("verified at"), default=timezone.now)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="request__member",
        personal={
            "evidence": _p(Category.VERIFICATION, gettext_noop("Verification evidence"), Erasure.SET_NULL),
            "authority_evidence": _p(Category.VERIFICATION, gettext_noop("Authority evidence"), Erasure.SET_NULL),
            "method": _p(Category.VERIFICATION, gettext_noop("Verification method"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "verified_at": _p(Category.VERIFICATION, gettext_noop("Verified at"), Erasure.RETAIN_THEN_PSEUDONYMISE),
        },
        not_personal=("id", "request", "verified_by"),
    )

    class Meta:
        verbose_name = _("identity check")
        verbose_name_plural = _("identity checks")
        ordering = ["request", "verified_at"]

    def __str__(self) -> str:
        return f"Identity check #{self.pk}"


class Message(models.Model):
    """An inbound or outbound message on a request (PP-14): kept with the request."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="messages", verbose_name=_("request"))
    direction = models.CharField(_("direction"), max_length=10, choices=MessageDirection.choices)
    channel = models.CharField(_("channel"), max_length=20, choices=IntakeChannel.choices)
    template = models.CharField(_("template"), max_length=60, blank=True)
    subject = models.CharField(_("subject"), max_length=300, blank=True)
    body = EncryptedTextField(_("body"), blank=True)
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                               related_name="+", verbose_name=_("sender"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    source_message_id = models.CharField(_("e-mail Message-ID"), max_length=300, blank=True, db_index=True)

    data_map = DataMap(
        subject="request__member",
        personal={
            "subject": _p(Category.COMMUNICATION, gettext_noop("Message subject"), Erasure.TOKEN),
            "body": _p(
                Category.COMMUNICATION, gettext_noop("Message body"), Erasure.SET_NULL, sensitive=True, mask=Mask.HIDDEN
            ),
            "at": _p(Category.COMMUNICATION, gettext_noop("Message time"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "source_message_id": _p(
                Category.COMMUNICATION, gettext_noop("E-mail Message-ID"), Erasure.SET_NULL, exported=False
            ),
        },
        not_personal=("id", "request", "direction", "channel", "template", "sender"),
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["request", "at", "pk"]

    def __str__(self) -> str:
        return f"Message #{self.pk}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments",
                                verbose_name=_("message"))
    file = models.FileField(_("file"), storage=protected_storage, upload_to=attachment_upload_to, max_length=200)
    content_type = models.CharField(_("content type"), max_length=100, blank=True)
    size = models.PositiveIntegerField(_("size"), default=0)

    data_map = DataMap(
        subject="message__request__member",
        personal={"file": _p(Category.COMMUNICATION, gettext_noop("Attachment"), Erasure.DELETE_FILE, sensitive=True,
                             mask=Mask.FILE)},
        not_personal=("id", "message", "content_type", "size"),
    )

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["message", "pk"]

    def __str__(self) -> str:
        return f"Attachment #{self.pk}"


class ReminderLog(models.Model):
    """A deadline reminder sent once (PP-34): the unique constraint makes sending exactly-once."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="reminders", verbose_name=_("request"))
    staff_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                   verbose_name=_("staff user"))
    kind = models.CharField(_("kind"), max_length=20, choices=ReminderKind.choices)
    days_before = models.SmallIntegerField(_("days before due"))
    due_at = models.DateTimeField(_("due date reminded of"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    data_map = DataMap(subject="", not_personal=("id", "request", "staff_user", "kind", "days_before", "due_at",
                                                 "sent_at", "created_at"))

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "staff_user", "kind", "days_before", "due_at"],
                name="%(app_label)s_%(class)s_unique_reminder",
            ),
        ]
        indexes = [
            # The send step: the unsent rows only, not a scan of the whole log every run.
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="desk_reminderlog_unsent"),
        ]

    def __str__(self) -> str:
        return f"Reminder #{self.pk}"


class AccessPackage(models.Model):
    """A generated access package (PP-29): encrypted ZIP, expiring link, every download logged.

    The approval creates the row ``building``; the worker (``requests_desk.package_build``) writes
    the file, then sets the link's token hash and expiry and marks it ``ready`` as it sends the
    letter, or marks it ``failed`` with a message naming the step (never a personal value).
    """

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="packages", verbose_name=_("request"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="access_packages",
                               verbose_name=_("member"))
    file = models.FileField(_("file"), storage=protected_storage, upload_to=attachment_upload_to, max_length=200,
                            blank=True)
    # NULL until ready: the token exists only from the moment the letter carrying it is sent.
    token_hash = models.CharField(_("link token (hash)"), max_length=64, unique=True, null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("link expires at"), null=True, blank=True)
    row_counts = models.JSONField(_("rows per data category"), default=dict)
    status = models.CharField(_("status"), max_length=10, choices=PackageStatus.choices,
                              default=PackageStatus.BUILDING, editable=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                     related_name="+", help_text=_("The approver: the letter is sent in their name."),
                                     verbose_name=_("requested by"))
    rows_total = models.PositiveBigIntegerField(_("rows to write"), default=0, editable=False)
    rows_done = models.PositiveBigIntegerField(_("rows written"), default=0, editable=False)
    attempts = models.PositiveSmallIntegerField(_("build attempts"), default=0, editable=False)
    # A running build refreshes it with every chunk; one older than ``package_build.STALE`` died.
    heartbeat_at = models.DateTimeField(_("build last seen at"), null=True, blank=True, editable=False)
    ready_at = models.DateTimeField(_("ready at"), null=True, blank=True, editable=False)
    error = models.TextField(_("build error"), blank=True, editable=False)

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "file": _p(
                Category.ACCOUNT, gettext_noop("Access package"), Erasure.DELETE_FILE, sensitive=True, mask=Mask.FILE
            ),
        },
        not_personal=("id", "request", "token_hash", "created_at", "expires_at", "row_counts", "status",
                      "requested_by", "rows_total", "rows_done", "attempts", "heartbeat_at", "ready_at", "error"),
    )

    class Meta:
        verbose_name = _("access package")
        verbose_name_plural = _("access packages")
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="ready") | (models.Q(token_hash__isnull=False) & ~models.Q(file="")),
                name="%(app_label)s_%(class)s_ready_has_file_and_token",
            ),
        ]

    def __str__(self) -> str:
        return f"Access package #{self.pk}"


class PackageDownload(models.Model):
    package = models.ForeignKey(AccessPackage, on_delete=models.CASCADE, related_name="downloads",
                                verbose_name=_("package"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    # Whereabouts are sensitive (PP-01): the downloader's IP address is encrypted at rest, hidden on screen.
    ip_address = EncryptedTextField(_("IP address"), null=True, blank=True, validators=[validate_ipv46_address])
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    staff_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+", verbose_name=_("staff user"))

    data_map = DataMap(
        subject="package__member",
        personal={
            "ip_address": _p(Category.DEVICE, gettext_noop("Download IP address"), Erasure.DELETE_ROW, sensitive=True,
                             mask=Mask.HIDDEN),
            "user_agent": _p(Category.DEVICE, gettext_noop("Download browser"), Erasure.DELETE_ROW),
            "at": _p(Category.DEVICE, gettext_noop("Downloaded at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "package", "staff_user"),
    )

    class Meta:
        verbose_name = _("package download")
        verbose_name_plural = _("package downloads")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"Download #{self.pk}"
