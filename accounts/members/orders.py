"""A member's orders and their daily volumes (PP-13): the largest tables, written by the trading
system's imports and pseudonymised, never deleted, at erasure.

Registered through ``accounts.models``, like the other rooms' tables.
"""

from __future__ import annotations

from django.core.validators import MaxLengthValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from accounts.members.choices import AssetType
from accounts.members.models import Member, ProductLine
from accounts.privacy.datamap import Category, DataMap, Erasure, Mask
from accounts.privacy.datamap import personal as _p
from accounts.privacy.fields import BlindIndexField, EncryptedDecimalField, EncryptedTextField

_BIDX = dict(exported=False)  # blind indexes are keyed hashes: erased with their value, never exported


class TransactionRecord(models.Model):
    """An order of a member (PP-13), kept for the legal retention period and pseudonymised at erasure.

    Transaction information is sensitive (PP-01): the order number, counterparty nickname, asset
    type, quantity and amount are encrypted at rest and masked on screen; the order number is
    looked up through its blind index. The order time stays plain (the erasure engine generalises
    it in SQL, pages sort by it). Sums over amounts read ``MemberDailyVolume``, kept exact by every
    write path (``accounts.members.volumes``).

    Imported from the trading system and never edited: no audit history (so no history table).
    """

    # No index of its own: ``accounts_txn_member_time`` leads with it (the largest table: each index
    # costs every import and every erasure, issue 15).
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="transactions", verbose_name=_("member"),
                               db_index=False)
    order_number = EncryptedTextField(_("order number"), validators=[MaxLengthValidator(40)])
    # Unique by a constraint (``Meta``), not ``unique=True``, which on PostgreSQL adds a second,
    # ``varchar_pattern_ops`` index for LIKE: a blind index is only ever compared for equality.
    order_number_bidx = BlindIndexField(source="order_number", kind="order", db_index=False)
    order_time = models.DateTimeField(_("order time"))
    counterparty_nickname = EncryptedTextField(
        _("counterparty nickname"), blank=True, validators=[MaxLengthValidator(100)]
    )
    asset_type = EncryptedTextField(_("asset type"), choices=AssetType.choices)
    quantity = EncryptedDecimalField(_("quantity"), max_digits=28, decimal_places=10)
    amount = EncryptedDecimalField(_("amount (USD)"), max_digits=20, decimal_places=2)
    import_batch = models.ForeignKey(
        "ImportBatch", on_delete=models.PROTECT, null=True, blank=True, editable=False, related_name="+",
        verbose_name=_("import"), help_text=_("The import that wrote this record, with its source (PP-16)."),
    )
    product_line = models.ForeignKey(
        ProductLine, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("product line"), help_text=_("The service this order was placed on (PP-19)."),
        db_index=False,  # ``accounts_txn_line_member`` leads with it
    )

    data_map = DataMap(
        subject="member",
        personal={
            "member": _p(Category.TRANSACTION, gettext_noop("Member"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                exported=False),
            "order_number": _p(Category.TRANSACTION, gettext_noop("Order number"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                               sensitive=True, mask=Mask.ID_NUMBER),
            "order_number_bidx": _p(Category.TRANSACTION, gettext_noop("Order number (blind index)"),
                                    Erasure.RETAIN_THEN_PSEUDONYMISE, **_BIDX),
            "order_time": _p(Category.TRANSACTION, gettext_noop("Order time"), Erasure.RETAIN_THEN_PSEUDONYMISE),
            "counterparty_nickname": _p(Category.TRANSACTION, gettext_noop("Counterparty nickname"), Erasure.TOKEN,
                                        sensitive=True, mask=Mask.HIDDEN),
            "asset_type": _p(Category.TRANSACTION, gettext_noop("Asset type"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                             sensitive=True, mask=Mask.HIDDEN),
            "quantity": _p(Category.TRANSACTION, gettext_noop("Quantity"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                           sensitive=True, mask=Mask.HIDDEN),
            "amount": _p(Category.TRANSACTION, gettext_noop("Amount (USD)"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                         sensitive=True, mask=Mask.HIDDEN),
        },
        not_personal=("id", "import_batch", "product_line"),
        product_line_field="product_line",
    )

    class Meta:
        verbose_name = _("transaction record")
        verbose_name_plural = _("transaction records")
        ordering = ["-order_time", "-pk"]
        indexes = [
            # A member's orders by time: access export, member page, the volume refresh.
            models.Index(fields=["member", "-order_time"], name="accounts_txn_member_time"),
            models.Index(fields=["order_time", "member"], name="accounts_txn_time_member"),
            # A product line's shutdown: its rows of a chunk of members (PP-19).
            models.Index(fields=["product_line", "member"], name="accounts_txn_line_member"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["order_number_bidx"], name="accounts_txn_order_number_unique"),
        ]

    def __str__(self) -> str:
        # The order number is sensitive (PP-01): not in __str__.
        return f"Transaction record #{self.pk}"


class MemberDailyVolume(models.Model):
    """A member's orders of one day (UTC): how many and their total amount (PP-10, PP-13).

    The plain figures that arithmetic over encrypted amounts needs: the advanced-verification
    volume threshold sums a member's days in the window, the de-identified export a member's days.
    Kept exact by every write path (``accounts.members.volumes``) and checked against the
    encrypted rows by ``manage.py transaction_volume_check`` (drift 0). It holds no order number,
    counterparty, asset or quantity, and no time finer than the day.
    """

    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="daily_volumes", verbose_name=_("member"))
    day = models.DateField(_("day"))
    orders = models.PositiveIntegerField(_("orders"), default=0)
    amount = models.DecimalField(_("amount (USD)"), max_digits=24, decimal_places=2, default=0)

    data_map = DataMap(
        subject="member",
        personal={
            # The link is what makes the figures personal; the erasure engine leaves the row to
            # ``accounts.members.volumes.volumes_refresh``, which recomputes it from the kept records.
            "member": _p(Category.TRANSACTION, gettext_noop("Member"), Erasure.RETAIN_THEN_PSEUDONYMISE,
                exported=False),
        },
        not_personal=("id", "day", "orders", "amount"),
        note=_("Derived from the member's transaction records and recomputed with them; exported through them."),
    )

    class Meta:
        verbose_name = _("member daily volume")
        verbose_name_plural = _("member daily volumes")
        ordering = ["member", "day"]
        constraints = [
            models.UniqueConstraint(fields=["member", "day"], name="accounts_volume_member_day"),
        ]
        indexes = [models.Index(fields=["day", "member"], name="accounts_volume_day_member")]

    def __str__(self) -> str:
        return f"Daily volume #{self.pk}"
