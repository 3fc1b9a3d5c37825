"""The import and export of transaction records, the orders from the trading system (PP-13).

Keyed by order number (encrypted: existing orders are found through its blind index) and never
edited: an order already imported with the same values is
skipped, one with different values is refused.
"""

from __future__ import annotations

from import_export.fields import Field

from accounts.members import volumes
from accounts.members.choices import AssetType
from accounts.members.spreadsheets.resource import RecordResource
from accounts.members.spreadsheets.widgets import (
    ChoiceWidget,
    DateTimeWidget,
    DecimalWidget,
    MemberNumberWidget,
    members_named_in,
    text_field,
)
from accounts.models import TransactionRecord


class TransactionRecordResource(RecordResource):
    """Orders from the trading system (PP-13). Never edited: an order already imported with the same
    values is skipped, one with different values is refused."""

    member = Field(attribute="member", column_name="member_number", widget=MemberNumberWidget())
    order_number = text_field("order_number")
    order_time = Field(attribute="order_time", column_name="order_time", widget=DateTimeWidget())
    counterparty_nickname = text_field("counterparty_nickname")
    asset_type = Field(attribute="asset_type", column_name="asset_type", widget=ChoiceWidget(AssetType))
    quantity = Field(attribute="quantity", column_name="quantity", widget=DecimalWidget())
    amount = Field(attribute="amount", column_name="amount", widget=DecimalWidget())

    required_columns = ("member_number", "order_number", "order_time", "asset_type", "quantity", "amount")
    resolved_fields = ("member",)

    class Meta(RecordResource.Meta):
        model = TransactionRecord
        name = "Transaction records"
        fields = ("member", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount")
        import_id_fields = ["order_number"]

    def get_queryset(self):
        return super().get_queryset().select_related("member")

    def prepare(self, dataset) -> None:
        self.fields["member"].widget.members = members_named_in(dataset)

    def record_checks(self, instance) -> dict[str, str]:
        problems = {}
        if not instance._state.adding:
            # Reached only when the row differs from the stored order (unchanged rows are skipped).
            problems["order_number"] = (
                "This order was already imported with different values; transaction records are never edited."
            )
        if instance.quantity is not None and instance.quantity <= 0:
            problems["quantity"] = "The quantity must be greater than zero."
        if instance.amount is not None and instance.amount < 0:
            problems["amount"] = "The amount cannot be negative."
        return problems

    def after_write(self, new_objs: list, changed_objs: list) -> None:
        # Orders are never changed by an import (refused above): only new ones add to the volumes.
        volumes.volumes_add(new_objs)

    def optimise_export(self, queryset):
        return queryset.select_related("member")
