"""The cells of new orders checked a column at a time, without a model instance per row (issue 15, requirement 2).

The column-oriented fast path (``accounts.members.spreadsheets.columnar``) asks a *column plan*
for the rows of a chunk it can vouch for. ``OrderColumns`` is the plan of transaction records
(``TransactionRecordResource``): for each row it takes the cells as they are, and keeps the row only
when every cell is what the general path (the resource's widgets, ``row_checks`` for the model's
field rules, ``record_checks``) certainly accepts, with the very value it would store:

- text (order number, counterparty nickname): a ``str`` cell, trimmed, not starting with the
  formula escape ``'`` (``cell_text`` would change it);
- the member number: a member the chunk's look-up found (``MemberNumberWidget``);
- the order time: ``datetime.fromisoformat`` (what ``parse_datetime`` tries first), read in the
  import's time zone when it has no offset, in range in UTC (``DateTimeWidget``);
- the asset type: a choice by value or label, any case (``ChoiceWidget``'s own table);
- quantity and amount: ``Decimal`` of the trimmed text, finite (``DecimalWidget``), quantity
  above zero and amount not negative (``record_checks``);
- the product line: a code of a line (``ProductLineWidget``), or none and the member's only line;
  open, and used by the member (``line_check``);
- then each value passes the model field's compiled rule (``row_checks.field_checks``: type,
  blank, choices, length, the field's validators).

Any other row (an empty, malformed or out-of-range cell, a spreadsheet's typed cell, a formula
escape) is handed back, and the driver checks it the general way, one instance per row: its
problems, their columns and messages are the general path's by construction
(tests/accounts/test_import_columnar.py compares both on a file full of bad cells).
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.db import models
from django.utils import timezone

from accounts.members import bulk_lookup, volumes
from accounts.members.spreadsheets import row_checks
from accounts.members.spreadsheets.cells import cell_text
from accounts.models import Member, ProductLine

_UTC = datetime.UTC

#: The model attributes of a checked row, in this order (``OrderColumns.attnames``).
ATTNAMES = ("member_id", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount",
            "product_line_id")
#: What the resource reads of a member the file names (``widgets.members_by_number``).
_MEMBER_FIELDS = ("id", "member_number", "kind")
#: Fields the plan does not set from a cell: derived (blind index), set at write time (import), the key.
_NOT_CHECKED = {"id", "order_number_bidx", "import_batch"}


class OrderColumns:
    """The column plan of transaction records (see the module docstring)."""

    attnames = ATTNAMES
    def __init__(self, resource, headers: list[str]):
        model = resource._meta.model
        self.resource = resource
        self.position = {name: headers.index(name) for name in headers}
        fields = {f.name: f for f in model._meta.fields if not f.generated}
        expected = {*_NOT_CHECKED, "member", "product_line", *(n for n in ATTNAMES if not n.endswith("_id"))}
        if set(fields) != expected or model.clean is not models.Model.clean:
            raise row_checks.NotColumnar("the model's fields or rules changed")
        self.check, self.defaults = row_checks.column_rules(
            model, ("order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount"),
            self.position)
        widgets = {name: resource.fields[name].widget for name in ("order_number", "counterparty_nickname")}
        if any(w.sensitive or w.upper for w in widgets.values()):
            raise row_checks.NotColumnar("text widgets")
        self.zone = timezone.get_current_timezone()  # once per import, as ``DateTimeWidget`` reads it
        self.choices = resource.fields["asset_type"].widget._values()
        self.line_widget = resource.fields["product_line"].widget
        self.members: dict = {}
        self.member_rows: dict = {}
        self.lines_of: dict = {}

    # --- Per chunk -----------------------------------------------------------------------------
    def prepare(self, chunk: list) -> None:
        """The chunk's members and their product lines: the resource's queries (``prepare_rows``), as tuples.

        ``members_by_number`` and ``member_product_lines`` read the same rows; a ``Member`` is made
        only for a row checked the general way (``before_general``): no instance per good row.
        """
        at = self.position["member_number"]
        found = bulk_lookup.rows_where_in(Member, list(_MEMBER_FIELDS), "member_number",
                                          {cell_text(cells[at]) for _line, cells in chunk})
        self.member_rows = {values[1]: values for values in found}
        self.members = {number: values[0] for number, values in self.member_rows.items()}
        self.lines_of = {member_id: [] for member_id in self.members.values()}
        if self.lines_of:
            lines = {line.pk: line for line in ProductLine.objects.all()}
            links = sorted(bulk_lookup.rows_where_in(Member.product_lines.through, ["id", "member", "productline"],
                                                     "member", self.lines_of))
            for _link, member_id, line_id in links:  # in the order the links were made, as the resource reads them
                self.lines_of[member_id].append(lines[line_id])
        if self.resource.stream_volumes is None:
            self.resource.stream_volumes = volumes.VolumeTotals()
        if "product_line" in self.position and self.line_widget.by_code is None:
            # What the widget reads at its first code (one query per import), read before the chunk's COPY opens.
            self.line_widget.by_code = {line.code: line for line in ProductLine.objects.all()}

    def checked(self, chunk: list) -> tuple[list[tuple | None], list[int]]:
        """Per row of ``chunk``, its values in ``attnames`` order, or None; and the rows to check one by one."""
        position = self.position
        at_member = position["member_number"]
        cells_of = {name: position.get(name) for name in
                    ("order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount",
                     "product_line")}
        defaults = self.defaults
        check_number, check_time, check_nick, check_asset, check_quantity, check_amount = (
            self.check[name] for name in
            ("order_number", "order_time", "counterparty_nickname", "asset_type", "quantity", "amount"))
        members, lines_of, choices, zone = self.members, self.lines_of, self.choices, self.zone
        by_code = self.line_widget.by_code if cells_of["product_line"] is not None else None
        fromisoformat = datetime.datetime.fromisoformat
        rows: list[tuple | None] = []
        slow: list[int] = []
        for index, (_line, cells) in enumerate(chunk):
            try:
                member = members[_text(cells[at_member])]
                number = _text(cells[cells_of["order_number"]])
                nickname = (_text(cells[cells_of["counterparty_nickname"]], blank=True)
                            if cells_of["counterparty_nickname"] is not None else defaults["counterparty_nickname"])
                asset = choices[_text(cells[cells_of["asset_type"]]).lower()]
                parsed = fromisoformat(_text(cells[cells_of["order_time"]]))
                moment = parsed.replace(tzinfo=zone) if parsed.utcoffset() is None else parsed
                moment.astimezone(_UTC)
                quantity = Decimal(_text(cells[cells_of["quantity"]]))
                amount = Decimal(_text(cells[cells_of["amount"]]))
                if not (quantity.is_finite() and amount.is_finite() and quantity > 0 and amount >= 0):
                    raise _Slow
                line = None
                if by_code is not None:
                    code = cells[cells_of["product_line"]]
                    if code is not None:
                        code = _text(code, blank=True)
                        if code:
                            line = by_code[code]
                lines = lines_of.get(member, ())
                if line is None:
                    if len(lines) != 1:
                        raise _Slow
                    line = lines[0]
                elif not any(used.pk == line.pk for used in lines):
                    raise _Slow
                if line.closed_on is not None:
                    raise _Slow
                if not (check_number(number) and check_time(moment) and check_asset(asset)
                        and check_quantity(quantity) and check_amount(amount)
                        and (nickname == "" or check_nick(nickname))):
                    raise _Slow
            except (_Slow, KeyError, ValueError, TypeError, AttributeError, ArithmeticError, InvalidOperation,
                    OverflowError):
                rows.append(None)
                slow.append(index)
                continue
            rows.append((member, number, moment, nickname, asset, quantity, amount, line.pk))
        return rows, slow

    def before_general(self, part: list, slow: list[int]) -> None:
        """The resource's state for checking these rows the general way: their members, the chunk's lines."""
        at = self.position["member_number"]
        alias = Member.objects.db
        members = {}
        for i in slow:
            values = self.member_rows.get(cell_text(part[i][1][at]))
            if values is not None:
                members[values[1]] = Member.from_db(alias, list(_MEMBER_FIELDS), values)
        self.resource.fields["member"].widget.members = members
        self.resource.lines_of = self.lines_of

    @staticmethod
    def from_instance(instance, many_to_many: dict) -> tuple:
        """A row the general check passed, in ``attnames`` order (orders have no many-to-many column)."""
        values = instance.__dict__
        return tuple(values[name] for name in ATTNAMES)

    def written(self, rows: list[tuple]) -> None:
        """What the written rows feed, summed (the chunk's COPY is still open: no query here)."""
        self.resource.stream_volumes.add_values((row[0], row[2], row[6]) for row in rows)

    def chunk_written(self) -> None:
        """After a chunk's COPY: the daily volumes summed so far written once they are many (bounded memory)."""
        self.resource.stream_volumes.flush_if_full()


class _Slow(Exception):
    """This row is checked the general way."""


def _text(cell, blank: bool = False) -> str:
    """``cell_text`` of a text cell that it leaves as it is (trimmed); anything else raises ``_Slow``.

    Empty text raises too, unless ``blank``: every other column refuses it, the general path says why.
    """
    if cell.__class__ is not str:
        raise _Slow
    text = cell.strip()
    if text[:1] == "'" or not (text or blank):
        raise _Slow
    return text


