"""The sensitive-data access log: the evidence the privacy kernel writes on every reveal (PP-25)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.privacy.datamap import Category, DataMap, Erasure, Personal


class SensitiveAccessLog(models.Model):
    """Who saw an unmasked value or a document, when and why (PP-25). Holds no value itself."""

    class Action(models.TextChoices):
        REVEAL = "reveal", _("Revealed a masked value")
        DOWNLOAD = "download", _("Downloaded a document")
        EXPORT = "export", _("Exported unmasked values")

    staff_user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                   verbose_name=_("staff user"))
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    member_number = models.CharField(_("member number"), max_length=20, blank=True, db_index=True)
    model_label = models.CharField(_("record type"), max_length=100)
    object_id = models.CharField(_("record id"), max_length=40, blank=True)
    field_name = models.CharField(_("field"), max_length=100, blank=True)
    reason = models.TextField(_("reason"))
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    at = models.DateTimeField(_("at"), default=timezone.now, db_index=True)

    data_map = DataMap(
        subject="",
        personal={
            "staff_user": Personal(Category.STAFF, False, gettext_noop("Staff user"), Erasure.SET_NULL, exported=False),
            "ip_address": Personal(Category.STAFF, False, gettext_noop("Staff IP address"), Erasure.SET_NULL,
                exported=False),
            "reason": Personal(Category.STAFF, False, gettext_noop("Reason given"), Erasure.SET_NULL, exported=False),
        },
        not_personal=("id", "action", "member_number", "model_label", "object_id", "field_name", "at"),
        note=_("Kept as evidence of access; names a member by number only."),
    )

    class Meta:
        verbose_name = _("sensitive-data access")
        verbose_name_plural = _("sensitive-data access log")
        ordering = ["-at", "-pk"]

    def __str__(self) -> str:
        return f"Access #{self.pk}"
