"""The disclosure register's tables (PP-21 … PP-24): recipients, disclosures and the members concerned.

Written by ``consents.disclosures`` (prepare, approve, reject). Foreign keys to the catalogue name
their models by string, so this module imports nothing from ``consents.models`` (which re-exports
it): no import circle.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Member
from accounts.privacy.datamap import Category, DataMap, Erasure
from accounts.privacy.datamap import personal as _p
from consents.choices import DisclosureBasis, DisclosureKind, DisclosureStatus, RecipientKind


class Recipient(models.Model):
    """Someone members' data may be disclosed to (PP-21, PP-22, PP-23)."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=20, choices=RecipientKind.choices)
    country = models.CharField(_("country"), max_length=2, blank=True)
    agreement_signed_on = models.DateField(_("confidentiality agreement signed on"), null=True, blank=True)
    agreement_expires_on = models.DateField(_("confidentiality agreement expires on"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="",
        not_personal=("id", "name", "kind", "country", "agreement_signed_on", "agreement_expires_on", "notes"),
        note="Organisations, not people.",
    )

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(agreement_expires_on__isnull=True)
                | models.Q(agreement_signed_on__isnull=False, agreement_expires_on__gt=models.F("agreement_signed_on")),
                name="%(app_label)s_%(class)s_agreement_expires_after_signing",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def has_valid_agreement_on(self, day) -> bool:
        return (
            self.agreement_signed_on is not None
            and self.agreement_signed_on <= day
            and (self.agreement_expires_on is None or day < self.agreement_expires_on)
        )


class Disclosure(models.Model):
    """One sharing, transfer or public disclosure of members' data (PP-21 … PP-24).

    Four eyes: whoever prepared it can never approve it; transfers and public disclosures need a
    supervisor; a partner without a valid confidentiality agreement cannot be approved.
    """

    kind = models.CharField(_("kind"), max_length=20, choices=DisclosureKind.choices)
    recipient = models.ForeignKey(Recipient, on_delete=models.PROTECT, related_name="disclosures",
                                  verbose_name=_("recipient"))
    basis = models.CharField(_("basis"), max_length=30, choices=DisclosureBasis.choices)
    legal_grounds = models.ManyToManyField("consents.LegalGround", blank=True, related_name="disclosures",
                                           verbose_name=_("legal grounds"))
    # PP-24: a disclosure on a legal ground cites the approved records of that ground (the same
    # records ``may_process`` reads), not only the catalogue entry.
    ground_records = models.ManyToManyField(
        "consents.ProcessingOnGround", blank=True, related_name="disclosures",
        verbose_name=_("processing on legal grounds relied on"),
    )
    data_categories = models.JSONField(_("data categories"), default=list)
    description = models.TextField(_("description"))
    disclosed_on = models.DateField(_("disclosed on"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=20, choices=DisclosureStatus.choices, default=DisclosureStatus.DRAFT
    )
    prepared_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("prepared by"))
    prepared_at = models.DateTimeField(_("prepared at"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("approved by"))
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    member_count = models.PositiveIntegerField(_("members concerned"), default=0, editable=False)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="",
        not_personal=("id", "kind", "recipient", "basis", "legal_grounds", "ground_records", "data_categories",
                      "description", "disclosed_on", "status", "prepared_by", "prepared_at", "approved_by",
                      "decided_at", "decision_note", "member_count"),
        note="The register entry; the members concerned are in 'disclosed member' rows.",
    )

    class Meta:
        verbose_name = _("disclosure")
        verbose_name_plural = _("disclosure register")
        ordering = ["-prepared_at", "-pk"]
        permissions = [
            ("approve_disclosure", "Can approve a sharing prepared by someone else"),
            ("approve_transfer_disclosure", "Can approve transfers and public disclosures (supervisor)"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("prepared_by")),
                name="%(app_label)s_%(class)s_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return gettext("Disclosure #%(pk)s") % {"pk": self.pk}


class DisclosedMember(models.Model):
    """A member concerned by a disclosure: one narrow row each, inserted in bulk (100k is normal)."""

    disclosure = models.ForeignKey(Disclosure, on_delete=models.CASCADE, related_name="member_links",
                                   verbose_name=_("disclosure"))
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="disclosures", verbose_name=_("member"))

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.ACCOUNT, gettext_noop("Member"), Erasure.DELETE_ROW, exported=False),
            "disclosure": _p(Category.ACCOUNT, gettext_noop("Disclosed to"), Erasure.RETAIN_THEN_PSEUDONYMISE),
        },
        not_personal=("id",),
    )

    class Meta:
        verbose_name = _("disclosed member")
        verbose_name_plural = _("disclosed members")
        ordering = ["disclosure", "member"]
        constraints = [
            models.UniqueConstraint(fields=["disclosure", "member"], name="%(app_label)s_%(class)s_unique_pair"),
        ]

    def __str__(self) -> str:
        return gettext("Disclosed member #%(pk)s") % {"pk": self.pk}
