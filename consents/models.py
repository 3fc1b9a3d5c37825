"""Purposes, policy versions, the consent ledger and guardians (the disclosure register:
``consents.disclosure_register``).

The ledger (``ConsentEvent``) is append-only (design decision 3): the ORM refuses updates and
deletes, and on PostgreSQL a trigger refuses them too, except inside the erasure engine, which
sets ``privacy.erasure = 'on'`` for its transaction (PP-02 outranks the ledger's permanence).
``ConsentState`` is derived from the events in the same transaction and never edited by hand.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Member
from accounts.privacy.datamap import Category, DataMap, Erasure, Mask
from accounts.privacy.datamap import personal as _p
from accounts.privacy.fields import BlindIndexField, EncryptedTextField
from consents.choices import (
    MAJOR_CHANGE_KINDS,
    ActorKind,
    ChangeKind,
    Channel,
    ConsentAction,
    GroundUse,
    PurposeKind,
    SiteEventKind,
    SiteEventOutcome,
    SmsOutcome,
)

# Re-exported: Django registers the app's models from ``consents.models`` (PP-17 records and the
# disclosure register live in their own modules, which import nothing from this one).
from consents.disclosure_register import DisclosedMember, Disclosure, Recipient  # noqa: F401
from consents.grounds.models import GroundStatus, ProcessingOnGround  # noqa: F401


class LegalGround(models.Model):
    """One fixed ground for acting without consent or refusing a request (PP-17, PP-24, PP-35, PP-36).

    The catalogue is written by a data migration from ``consents.legal_grounds``; nobody edits it.
    """

    code = models.SlugField(_("code"), max_length=60, unique=True)
    use = models.CharField(_("used for"), max_length=40, choices=GroundUse.choices)
    section = models.CharField(_("policy section"), max_length=40)
    wording = models.TextField(_("policy wording"))
    position = models.PositiveSmallIntegerField(_("position"))

    data_map = DataMap(subject="", not_personal=("id", "code", "use", "section", "wording", "position"))

    class Meta:
        verbose_name = _("legal ground")
        verbose_name_plural = _("legal grounds")
        ordering = ["use", "position"]

    def __str__(self) -> str:
        return f"{self.section} ({self.position}) {self.wording_text[:60]}"

    @property
    def wording_text(self) -> str:
        """The policy's wording in the active language (the catalogue's msgid is the stored English)."""
        return gettext(self.wording)


class PolicyVersion(models.Model):
    """A version of the privacy policy (PP-39, PP-40). Published versions are never edited."""

    version = models.CharField(_("version"), max_length=20, unique=True)
    text = models.TextField(_("text"))
    summary = models.TextField(_("summary of changes"), blank=True)
    change_kinds = models.JSONField(_("change kinds"), default=list, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    effective_at = models.DateTimeField(_("effective at"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("published by"))

    history = HistoricalRecords()

    data_map = DataMap(
        subject="",
        not_personal=("id", "version", "text", "summary", "change_kinds", "published_at", "effective_at",
                      "published_by"),
    )

    class Meta:
        verbose_name = _("policy version")
        verbose_name_plural = _("policy versions")
        ordering = ["-published_at", "-pk"]
        permissions = [("publish_policyversion", "Can publish a policy version (starts re-consent campaigns)")]

    def __str__(self) -> str:
        return gettext("Policy %(version)s") % {"version": self.version}

    @property
    def is_major(self) -> bool:
        """Major when any of section VII's six kinds applies, or it narrows a right (PP-40)."""
        return bool(set(self.change_kinds) & MAJOR_CHANGE_KINDS)

    @property
    def is_published(self) -> bool:
        return self.published_at is not None

    def clean(self) -> None:
        unknown = set(self.change_kinds) - set(ChangeKind.values)
        if unknown:
            message = gettext("Unknown change kinds: %(kinds)s.") % {"kinds": ", ".join(sorted(unknown))}
            raise ValidationError({"change_kinds": message})
        if ChangeKind.MINOR in self.change_kinds and self.is_major:
            raise ValidationError({"change_kinds": gettext("A version cannot be both minor and major.")})
        if not self.change_kinds:
            raise ValidationError({"change_kinds": gettext("Say what kind of change this version makes.")})


class Purpose(models.Model):
    """A reason to process data (PP-04, PP-12, PP-20): basic (required) or additional (optional)."""

    code = models.SlugField(_("code"), max_length=60, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=PurposeKind.choices)
    data_categories = models.JSONField(_("data categories"), default=list, blank=True)
    is_biometric = models.BooleanField(_("biometric"), default=False)
    introduced_in = models.ForeignKey(
        PolicyVersion, on_delete=models.PROTECT, related_name="introduced_purposes", null=True, blank=True
    , verbose_name=_("introduced in"))

    history = HistoricalRecords()

    data_map = DataMap(
        subject="",
        not_personal=("id", "code", "name", "description", "kind", "data_categories", "is_biometric",
                      "introduced_in"),
    )

    class Meta:
        verbose_name = _("purpose")
        verbose_name_plural = _("purposes")
        ordering = ["kind", "code"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name in the active language: the policy's own purposes are in the catalogue (others show as named)."""
        return gettext(self.name) if self.name else self.name

    @property
    def is_basic(self) -> bool:
        return self.kind == PurposeKind.BASIC

    def clean(self) -> None:
        unknown = set(self.data_categories) - set(Category.values)
        if unknown:
            message = gettext("Not data-map categories: %(categories)s.") % {"categories": ", ".join(sorted(unknown))}
            raise ValidationError({"data_categories": message})
        if self.is_biometric and self.is_basic:
            raise ValidationError({"is_biometric": gettext("Biometric processing is always optional (PP-10).")})


class Guardian(models.Model):
    """A minor member's parent or guardian (PP-38, PP-15)."""

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="guardians", verbose_name=_("member"))
    name = models.CharField(_("name"), max_length=200)
    relation = models.CharField(_("relation"), max_length=60)
    contact = EncryptedTextField(_("contact (e-mail or phone)"))
    contact_bidx = BlindIndexField(source="contact", kind="email")
    verification_evidence = models.TextField(_("verification evidence"), blank=True)
    verified_at = models.DateTimeField(_("verified at"), null=True, blank=True)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("verified by"))

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "name": _p(Category.IDENTITY, gettext_noop("Guardian's name"), Erasure.DELETE_ROW),
            "relation": _p(Category.IDENTITY, gettext_noop("Guardian's relation"), Erasure.DELETE_ROW),
            "contact": _p(Category.CONTACT, gettext_noop("Guardian's contact"), Erasure.DELETE_ROW, sensitive=True,
                          mask=Mask.EMAIL),
            "contact_bidx": _p(Category.CONTACT, gettext_noop("Guardian's contact (blind index)"), Erasure.DELETE_ROW,
                               exported=False),
            "verification_evidence": _p(
                Category.CONSENT, gettext_noop("Guardian verification evidence"), Erasure.DELETE_ROW
            ),
            "verified_at": _p(Category.CONSENT, gettext_noop("Guardian verified at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "verified_by"),
    )

    class Meta:
        verbose_name = _("guardian")
        verbose_name_plural = _("guardians")
        ordering = ["member", "pk"]

    def __str__(self) -> str:
        return gettext("Guardian #%(pk)s") % {"pk": self.pk}


class AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ValidationError(gettext("Consent events are append-only: record a new event instead."))

    def delete(self):
        raise ValidationError(gettext("Consent events are append-only: they are never deleted."))


class ConsentEvent(models.Model):
    """One grant or withdrawal of one purpose (PP-05, PP-32). Never edited or deleted."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="consent_events",
                               verbose_name=_("member"))
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="events", verbose_name=_("purpose"))
    action = models.CharField(_("action"), max_length=10, choices=ConsentAction.choices)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="consent_events",
                                       verbose_name=_("policy version"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    evidence = models.TextField(_("evidence"), blank=True)
    actor_kind = models.CharField(_("actor"), max_length=10, choices=ActorKind.choices)
    guardian = models.ForeignKey(Guardian, on_delete=models.PROTECT, null=True, blank=True, related_name="events",
                                 verbose_name=_("guardian"))
    staff_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("staff user"))
    # PP-16: data received from a third party records its source and the consent it rests on.
    source = models.CharField(_("third-party source"), max_length=200, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = AppendOnlyQuerySet.as_manager()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.CONSENT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "purpose": _p(Category.CONSENT, gettext_noop("Purpose"), Erasure.DELETE_ROW),
            "action": _p(Category.CONSENT, gettext_noop("Action"), Erasure.DELETE_ROW),
            "policy_version": _p(Category.CONSENT, gettext_noop("Policy version"), Erasure.DELETE_ROW),
            "channel": _p(Category.CONSENT, gettext_noop("Channel"), Erasure.DELETE_ROW),
            "evidence": _p(Category.CONSENT, gettext_noop("Evidence"), Erasure.DELETE_ROW),
            "actor_kind": _p(Category.CONSENT, gettext_noop("Given by"), Erasure.DELETE_ROW),
            "guardian": _p(Category.CONSENT, gettext_noop("Guardian"), Erasure.DELETE_ROW, exported=False),
            "source": _p(Category.CONSENT, gettext_noop("Third-party source"), Erasure.DELETE_ROW),
            "occurred_at": _p(Category.CONSENT, gettext_noop("Time"), Erasure.DELETE_ROW),
            "recorded_at": _p(Category.CONSENT, gettext_noop("Recorded at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "staff_user"),
        note="Append-only ledger; only the erasure engine may remove a member's events.",
    )

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["-occurred_at", "-pk"]
        indexes = [
            # "May we process?" and the state rebuild read a member's events per purpose by time.
            models.Index(fields=["member", "purpose", "occurred_at"], name="consents_event_member_purpose"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(actor_kind=ActorKind.GUARDIAN) | models.Q(guardian__isnull=False),
                name="%(app_label)s_%(class)s_guardian_actor_names_guardian",
            ),
            models.CheckConstraint(
                condition=~models.Q(actor_kind=ActorKind.STAFF) | models.Q(staff_user__isnull=False),
                name="%(app_label)s_%(class)s_staff_actor_names_staff_user",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Consent event #%(pk)s") % {"pk": self.pk}

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValidationError(gettext("Consent events are append-only: record a new event instead."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(gettext("Consent events are append-only: they are never deleted."))


class ConsentState(models.Model):
    """Current state per member and purpose, derived from the ledger in the same transaction.

    Rebuilt and compared by ``manage.py verify_consents``. Never edited by hand.
    """

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="consent_states",
                               verbose_name=_("member"))
    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="states", verbose_name=_("purpose"))
    granted = models.BooleanField(_("granted"))
    by_guardian = models.BooleanField(_("granted by a guardian"), default=False)
    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.PROTECT, related_name="+",
                                       verbose_name=_("policy version"))
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("last event"))
    changed_at = models.DateTimeField(_("changed at"))

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.CONSENT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "purpose": _p(Category.CONSENT, gettext_noop("Purpose"), Erasure.DELETE_ROW),
            "granted": _p(Category.CONSENT, gettext_noop("Granted"), Erasure.DELETE_ROW),
            "by_guardian": _p(Category.CONSENT, gettext_noop("Granted by a guardian"), Erasure.DELETE_ROW),
            "policy_version": _p(Category.CONSENT, gettext_noop("Under policy version"), Erasure.DELETE_ROW),
            "last_event": _p(Category.CONSENT, gettext_noop("Last event"), Erasure.DELETE_ROW, exported=False),
            "changed_at": _p(Category.CONSENT, gettext_noop("Changed at"), Erasure.DELETE_ROW),
        },
        not_personal=("id",),
    )

    class Meta:
        verbose_name = _("consent state")
        verbose_name_plural = _("consent states")
        ordering = ["member", "purpose"]
        constraints = [
            models.UniqueConstraint(fields=["member", "purpose"], name="%(app_label)s_%(class)s_unique_member_purpose"),
        ]
        indexes = [
            # Audience selectors: everyone granted one purpose.
            models.Index(fields=["purpose", "granted", "member"], name="consents_state_audience"),
        ]

    def __str__(self) -> str:
        return gettext("Consent state #%(pk)s") % {"pk": self.pk}


class ReconsentNotice(models.Model):
    """One member's notice of a major policy version (PP-39): notified, seen, accepted."""

    policy_version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="notices",
                                       verbose_name=_("policy version"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="reconsent_notices",
                               verbose_name=_("member"))
    queued_at = models.DateTimeField(_("queued at"), default=timezone.now)
    notified_at = models.DateTimeField(_("notified at"), null=True, blank=True)
    seen_at = models.DateTimeField(_("seen at"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.CONSENT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "policy_version": _p(Category.CONSENT, gettext_noop("Policy version notified"), Erasure.DELETE_ROW),
            "queued_at": _p(Category.CONSENT, gettext_noop("Notice queued at"), Erasure.DELETE_ROW),
            "notified_at": _p(Category.CONSENT, gettext_noop("Notified at"), Erasure.DELETE_ROW),
            "seen_at": _p(Category.CONSENT, gettext_noop("Seen at"), Erasure.DELETE_ROW),
            "accepted_at": _p(Category.CONSENT, gettext_noop("Accepted at"), Erasure.DELETE_ROW),
        },
        not_personal=("id",),
    )

    class Meta:
        verbose_name = _("re-consent notice")
        verbose_name_plural = _("re-consent notices")
        ordering = ["policy_version", "member"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_version", "member"], name="%(app_label)s_%(class)s_unique_version_member"
            ),
        ]
        indexes = [
            # The sender picks the next chunk of unsent notices of one version.
            models.Index(
                fields=["policy_version", "id"],
                condition=models.Q(notified_at__isnull=True),
                name="consents_notice_unsent",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Notice #%(pk)s") % {"pk": self.pk}


class SmsReply(models.Model):
    """An inbound SMS reply from the gateway (PP-12), kept once per gateway message id."""

    message_id = models.CharField(_("gateway message id"), max_length=100, unique=True)
    phone_bidx = models.CharField(_("phone (blind index)"), max_length=64, db_index=True)
    member = models.ForeignKey(Member, on_delete=models.SET_NULL, null=True, blank=True, related_name="sms_replies",
                               verbose_name=_("member"))
    keyword = models.CharField(_("keyword"), max_length=40, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=SmsOutcome.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.COMMUNICATION, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "phone_bidx": _p(
                Category.CONTACT, gettext_noop("Sender (blind index)"), Erasure.DELETE_ROW, exported=False
            ),
            "keyword": _p(Category.COMMUNICATION, gettext_noop("SMS reply"), Erasure.DELETE_ROW),
            "received_at": _p(Category.COMMUNICATION, gettext_noop("Received at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "message_id", "outcome"),
    )

    class Meta:
        verbose_name = _("SMS reply")
        verbose_name_plural = _("SMS replies")
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return gettext("SMS reply #%(pk)s") % {"pk": self.pk}


class SiteEvent(models.Model):
    """One event delivered by the member-facing web site or app (``consents.api``), kept once per key.

    The site gives every event an idempotency key; the unique key makes a re-delivered event (a
    retry after a timeout, a replayed batch) record nothing twice. The fingerprint (SHA-256 of the
    event as received, normalised) tells a re-delivery from a different event reusing a key. A
    grant or withdrawal also names the key in its ledger event's evidence.
    """

    key = models.CharField(_("idempotency key"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=SiteEventKind.choices)
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="site_events", verbose_name=_("member"))
    fingerprint = models.CharField(_("fingerprint"), max_length=64)
    outcome = models.CharField(_("outcome"), max_length=12, choices=SiteEventOutcome.choices)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.CONSENT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "kind": _p(Category.CONSENT, gettext_noop("Reported by the web site or app"), Erasure.DELETE_ROW),
            "fingerprint": _p(Category.CONSENT, gettext_noop("Event fingerprint"), Erasure.DELETE_ROW, exported=False),
            "outcome": _p(Category.CONSENT, gettext_noop("Outcome"), Erasure.DELETE_ROW),
            "received_at": _p(Category.CONSENT, gettext_noop("Received at"), Erasure.DELETE_ROW),
        },
        not_personal=("id", "key"),
        note="Idempotency keys of the member-facing site's deliveries; the consent itself is in the ledger.",
    )

    class Meta:
        verbose_name = _("web site or app event")
        verbose_name_plural = _("web site and app events")
        ordering = ["-received_at", "-pk"]
        constraints = [
            # The idempotency lock: a concurrent re-delivery waits on this insert, then fails it.
            models.UniqueConstraint(fields=["key"], name="%(app_label)s_%(class)s_unique_key"),
        ]

    def __str__(self) -> str:
        return gettext("Site event #%(pk)s") % {"pk": self.pk}
