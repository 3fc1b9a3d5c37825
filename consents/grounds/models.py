"""The record of processing a purpose on one of the eleven I(V)3 grounds, without consent (PP-17).

A compliance officer records it (ground, the law, contract or request it rests on, from when and
until when) for one member or for a defined group of members: the members of one product line. A
supervisor, another person, approves it (four eyes; the database refuses ``approved_by =
recorded_by`` too). It can be ended early, with a reason; it is never deleted, and its history is
kept. While it is in force ``consents.selectors.may_process`` says yes on that ground, whatever
the member's consent says; when it ends, the member's own consent state applies again.

Foreign keys to the catalogue name their models by string, so this module imports nothing from
``consents.models`` (which re-exports it): no import circle.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from accounts.models import Member, ProductLine
from accounts.privacy.datamap import Category, DataMap, Erasure, Personal
from consents.choices import GroundUse


class GroundStatus(models.TextChoices):
    AWAITING_APPROVAL = "awaiting_approval", _("Awaiting a supervisor's approval")
    SCHEDULED = "scheduled", _("Approved, starts later")
    IN_FORCE = "in_force", _("In force")
    EXPIRED = "expired", _("Expired (past its end date)")
    ENDED = "ended", _("Ended")


def _p(label: str, erasure: Erasure = Erasure.DELETE_ROW, *, exported: bool = True) -> Personal:
    return Personal(Category.CONSENT, sensitive=False, label=label, erasure=erasure, exported=exported)


class ProcessingOnGround(models.Model):
    """Processing of one purpose for a member or a product line's members on an I(V)3 ground (PP-17)."""

    purpose = models.ForeignKey("consents.Purpose", on_delete=models.PROTECT, related_name="ground_records",
                                verbose_name=_("purpose"))
    member = models.ForeignKey(
        Member, on_delete=models.CASCADE, null=True, blank=True, related_name="ground_records",
        help_text=_("One member; or leave empty and name a product line."), verbose_name=_("member"),
    )
    product_line = models.ForeignKey(
        ProductLine, on_delete=models.PROTECT, null=True, blank=True, related_name="ground_records",
        help_text=_("A defined group: every member who uses this product line."), verbose_name=_("product line"),
    )
    ground = models.ForeignKey(
        "consents.LegalGround", on_delete=models.PROTECT, related_name="processing_records",
        limit_choices_to={"use": GroundUse.CONSENT_EXCEPTION}, verbose_name=_("ground"),
    )
    reference = models.TextField(
        _("reference"), help_text=_("The law, contract or request it rests on (article, contract or case number)."),
    )
    starts_on = models.DateField(_("in force from"))
    ends_on = models.DateField(_("in force until"), null=True, blank=True,
                               help_text=_("The last day it applies; empty while the ground lasts."))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    verbose_name=_("recorded by"))
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("approved by"))
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    , verbose_name=_("ended by"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.TextField(_("why it ended"), blank=True)

    history = HistoricalRecords()

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(gettext_noop("Member"), exported=False),
            "purpose": _p(gettext_noop("Purpose processed without consent")),
            "ground": _p(gettext_noop("Legal ground (I(V)3)")),
            "reference": _p(gettext_noop("Law, contract or request relied on")),
            "starts_on": _p(gettext_noop("In force from")),
            "ends_on": _p(gettext_noop("In force until")),
            "recorded_at": _p(gettext_noop("Ground recorded at")),
            "approved_at": _p(gettext_noop("Ground approved at")),
            "ended_at": _p(gettext_noop("Ground ended at")),
            "end_reason": _p(gettext_noop("Why the ground ended")),
        },
        not_personal=("id", "product_line", "recorded_by", "approved_by", "ended_by"),
        note="A record about one member, or about a product line's members (then no member is named).",
    )

    class Meta:
        verbose_name = _("processing on a legal ground")
        verbose_name_plural = _("processing on legal grounds")
        ordering = ["-recorded_at", "-pk"]
        permissions = [
            ("approve_processingonground", "Can approve processing on a legal ground recorded by someone else"),
            ("end_processingonground", "Can end processing on a legal ground"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(member__isnull=False, product_line__isnull=True)
                | models.Q(member__isnull=True, product_line__isnull=False),
                name="%(app_label)s_%(class)s_one_member_or_one_group",
            ),
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True) | ~models.Q(approved_by=models.F("recorded_by")),
                name="%(app_label)s_%(class)s_four_eyes",
            ),
            models.CheckConstraint(
                condition=models.Q(approved_by__isnull=True, approved_at__isnull=True)
                | models.Q(approved_by__isnull=False, approved_at__isnull=False),
                name="%(app_label)s_%(class)s_approval_names_approver",
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True) | models.Q(ends_on__gte=models.F("starts_on")),
                name="%(app_label)s_%(class)s_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | ~models.Q(end_reason=""),
                name="%(app_label)s_%(class)s_end_has_reason",
            ),
        ]
        indexes = [
            # may_process: the records of one purpose for a member (or its product lines), by time.
            models.Index(fields=["purpose", "member", "starts_on"], name="consents_ground_member"),
            models.Index(fields=["purpose", "product_line", "starts_on"], name="consents_ground_group"),
        ]

    def __str__(self) -> str:
        return gettext("Processing on ground #%(pk)s") % {"pk": self.pk}

    def status_on(self, when: datetime.datetime) -> GroundStatus:
        """Where the record stands at ``when`` (the same rule as ``selectors.in_force_q``)."""
        if self.ended_at is not None and self.ended_at <= when:
            return GroundStatus.ENDED
        if self.approved_at is None or self.approved_at > when:
            return GroundStatus.AWAITING_APPROVAL
        day = timezone.localdate(when)
        if self.starts_on > day:
            return GroundStatus.SCHEDULED
        if self.ends_on is not None and self.ends_on < day:
            return GroundStatus.EXPIRED
        return GroundStatus.IN_FORCE

    @property
    def status(self) -> GroundStatus:
        return self.status_on(timezone.now())

    @property
    def applies_to(self) -> str:
        """Whom it covers, by member number or product-line code (no personal data)."""
        if self.member_id is not None:
            return gettext("member %(number)s") % {"number": self.member.member_number}
        return gettext("members of %(line)s") % {"line": self.product_line.code}
