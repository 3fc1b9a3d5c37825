"""The import and export of transaction records, the orders from the trading system (PP-13).

Keyed by order number (encrypted: existing orders are found through its blind index) and never
edited: an order already imported with the same values is skipped, one with different values is
refused. Each order belongs to a product line (PP-19): the ``product_line`` column names it by
code; left out or empty, the member's only line is used, and a member with several lines or none
gets a problem on that line and column. A closed line, or one the member does not use, is refused.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.fields import Field

from accounts.members import volumes
from accounts.members.choices import AssetType
from accounts.members.spreadsheets import instances, order_columns
from accounts.members.spreadsheets.cells import cell_text
from accounts.members.spreadsheets.resource import RecordResource
from accounts.members.spreadsheets.widgets import (
    ChoiceWidget,
    DateTimeWidget,
    DecimalWidget,
    MemberNumberWidget,
    ProductLineWidget,
    member_product_lines,
    members_by_number,
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
    product_line = Field(attribute="product_line", column_name="product_line", widget=ProductLineWidget())

    required_columns = ("member_number", "order_number", "order_time", "asset_type", "quantity", "amount")
    resolved_fields = ("member", "product_line")

    class Meta(RecordResource.Meta):
        model = TransactionRecord
        name = gettext_lazy("Transaction records")
        fields = (
            "member", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount",
            "product_line",
        )
        import_id_fields = ["order_number"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: The product lines of each member the file names (``prepare``).
        self.lines_of: dict[int, list] = {}
        self._product_line_field = TransactionRecord._meta.get_field("product_line")
        #: The daily volumes of a streamed import, summed over its chunks and written once (``after_stream``).
        self.stream_volumes: volumes.VolumeTotals | None = None

    def get_queryset(self):
        return super().get_queryset().select_related("member", "product_line")

    def prepare(self, dataset) -> None:
        members = members_named_in(dataset)
        self.fields["member"].widget.members = members
        self.lines_of = member_product_lines(members)

    streams = True
    #: New orders are checked a column at a time (``spreadsheets.columnar``), no instance per good row.
    column_plan = order_columns.OrderColumns

    def prepare_rows(self, rows: list[dict]) -> None:
        if self.stream_volumes is None:
            self.stream_volumes = volumes.VolumeTotals()
        members = members_by_number({cell_text(row.get("member_number")) for row in rows})
        self.fields["member"].widget.members = members
        self.lines_of = member_product_lines(members)

    def record_checks(self, instance) -> dict[str, str]:
        problems = {}
        if not instance._state.adding:
            # Reached only when the row differs from the stored order (unchanged rows are skipped).
            problems["order_number"] = (
                _("This order was already imported with different values; transaction records are never edited.")
            )
        if instance.quantity is not None and instance.quantity <= 0:
            problems["quantity"] = _("The quantity must be greater than zero.")
        if instance.amount is not None and instance.amount < 0:
            problems["amount"] = _("The amount cannot be negative.")
        line_problem = self.line_check(instance)
        if line_problem:
            problems["product_line"] = line_problem
        return problems

    def line_check(self, instance) -> str:
        """Fill the order's product line from its member's only line, or say why it cannot be (PP-19)."""
        if instance.member_id is None:
            return ""  # the member number's own problem is reported
        lines = self.lines_of.get(instance.member_id, [])
        line = instance._state.fields_cache.get("product_line") if instance.product_line_id is not None else None
        if line is None:
            if len(lines) != 1:
                used = ", ".join(sorted(line.code for line in lines)) or _("none")
                return _("Name the product line of this order: the member uses %(count)s product lines "
                         "(%(codes)s).") % {"count": len(lines), "codes": used}
            line = lines[0]
            instances.set_related(instance, self._product_line_field, line)
        if line.closed_on is not None:
            return _("This product line is closed: its data is no longer collected (PP-19).")
        if not any(used.pk == line.pk for used in lines):
            return _("The member does not use this product line.")
        return ""

    def after_write(self, new_objs: list, changed_objs: list) -> None:
        # Orders are never changed by an import (refused above): only new ones add to the volumes.
        if self.stream_volumes is not None:
            self.stream_volumes.add(new_objs)  # a chunk of a streamed import: written in ``after_stream``
        else:
            volumes.volumes_add(new_objs)

    def after_stream(self) -> None:
        if self.stream_volumes is not None:
            self.stream_volumes.flush()

    def optimise_export(self, queryset):
        return queryset.select_related("member", "product_line")
