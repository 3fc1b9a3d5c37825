"""The imports of records from files and where their data came from (PP-16).

Registered by ``accounts.models``; members, related persons and transaction records point to it by
its app label (``"ImportBatch"``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.privacy.datamap import Category, DataMap, Erasure, Personal


class ImportBatch(models.Model):
    """One import of records from a file and where the data came from (PP-16). No personal data.

    Written by ``accounts.members.spreadsheets.writes.import_batch_record`` inside the import's transaction, so a
    refused import leaves none. The members, related persons and transaction records it wrote or
    changed point to it (``import_batch``); their history rows keep the import of each version.
    """

    model_label = models.CharField(_("record type"), max_length=100)
    source = models.CharField(
        _("source"), max_length=300,
        help_text=_("Who the data came from and what it was received under, e.g. the third party's name and "
                    "the agreement reference (PP-16)."),
    )
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                    related_name="+", verbose_name=_("imported by"))
    imported_at = models.DateTimeField(_("imported at"), default=timezone.now)
    total_rows = models.PositiveIntegerField(_("rows in the file"), default=0)
    new_rows = models.PositiveIntegerField(_("new"), default=0)
    updated_rows = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_rows = models.PositiveIntegerField(_("unchanged"), default=0)

    data_map = DataMap(
        subject="",
        personal={"imported_by": Personal(Category.STAFF, sensitive=False, label=gettext_noop("Staff user"),
                                          erasure=Erasure.SET_NULL, exported=False)},
        not_personal=("id", "model_label", "source", "imported_at", "total_rows", "new_rows", "updated_rows",
                      "unchanged_rows"),
        note=_("Names the third party a file came from, never a member."),
    )

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-imported_at", "-pk"]
        constraints = [
            # PP-16: no import without its source, whoever writes the row.
            models.CheckConstraint(condition=~models.Q(source=""), name="%(app_label)s_%(class)s_source_required"),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk}"
