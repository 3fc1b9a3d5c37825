"""The cells of new members checked a column at a time, without a model instance per row (issue 15, requirement 2).

The column-oriented fast path (``accounts.members.spreadsheets.columnar``) asks a *column plan*
for the rows of a chunk it can vouch for. ``MemberColumns`` is the plan of members
(``MemberResource``): for each row it takes the cells as they are, and keeps the row only when
every cell is what the general path (the resource's widgets, ``row_checks`` for the model's field
rules, ``members.person_checks``) certainly accepts, with the very value it would store:

- text (member number, names): a ``str`` cell, trimmed, not starting with the formula escape ``'``
  (``cell_text`` would change it); the member number not empty; the nationality upper-cased, empty
  or two letters (``identity_checks.COUNTRY``);
- e-mail and phone: the same text, not a masked value (``looks_masked``), empty or passing
  ``identity_checks.email_problem`` / ``phone_problem`` (the general path's own functions);
- kind, status, verification level: a choice by value or label, any case (``ChoiceWidget``'s table);
- registration and cancellation times: ``datetime.fromisoformat`` (what ``parse_datetime`` tries
  first), read in the import's time zone without an offset, in range in UTC (``DateTimeWidget``);
  an empty cancellation time is none;
- the date of birth: empty (none), or ``date.fromisoformat`` (``DateWidget``), not after the
  import's day;
- product lines: codes separated by commas, each a line's code (``ProductLinesWidget``): the
  lines' ids once each, ascending, as ``history_copy`` links them;
- then each value passes the model field's compiled rule (``row_checks.field_checks``: type,
  blank, choices, length, the field's validators).

Any other row is handed back, and the driver checks it the general way, one instance per row: its
problems, their columns and messages are the general path's by construction
(tests/accounts/test_import_member_columns.py compares both on a file full of bad cells).

``table_values`` gives the stored columns of the checked rows, a column at a time: the plain
values, the birth year, the name-search key (``names.name_search_key``) and the two blind indexes
(``crypto.blind_index_many``); the driver encrypts the encrypted columns (``crypto.encrypt_many``)
and writes members, history rows and product-line links as ``history_copy`` does.
"""

from __future__ import annotations

import datetime

from django.db import models
from django.utils import timezone

from accounts.members.names import name_search_key
from accounts.members.spreadsheets import row_checks
from accounts.members.spreadsheets.cells import looks_masked
from accounts.members.spreadsheets.identity_checks import COUNTRY, email_problem, phone_problem
from accounts.members.spreadsheets.widgets import (
    ChoiceWidget,
    DateTimeWidget,
    DateWidget,
    ProductLinesWidget,
    TextWidget,
)
from accounts.models import Member, ProductLine
from accounts.privacy import crypto

_UTC = datetime.UTC

#: The model attributes of a checked row, in this order, then the product lines' ids (``MemberColumns.attnames``).
ATTNAMES = ("member_number", "kind", "status", "verification_level", "registered_at", "cancelled_at", "nationality",
            "legal_name", "local_name", "date_of_birth", "email", "phone", "preferred_language")
#: Fields the plan does not read from a cell: derived (``table_values``), set at write time, the key.
_DERIVED = {"id", "name_search", "birth_year", "email_bidx", "phone_bidx", "import_batch"}
#: The record checks the plan inlines (``members.person_checks``), by name: the resource's module imports this one.
_RECORD_CHECKS = "MemberResource.record_checks"
#: The resource's widget of each column the plan reads, and what it must be (``TextWidget``: sensitive, upper).
_WIDGETS = {
    "member_number": (TextWidget, False, False), "nationality": (TextWidget, False, True),
    "legal_name": (TextWidget, False, False), "local_name": (TextWidget, False, False),
    "email": (TextWidget, True, False), "phone": (TextWidget, True, False),
    "kind": (ChoiceWidget,), "status": (ChoiceWidget,), "verification_level": (ChoiceWidget,),
    "registered_at": (DateTimeWidget,), "cancelled_at": (DateTimeWidget,), "date_of_birth": (DateWidget,),
    "product_lines": (ProductLinesWidget,),
}


class MemberColumns:
    """The column plan of members (see the module docstring)."""

    attnames = ATTNAMES
    def __init__(self, resource, headers: list[str]):
        model = resource._meta.model
        self.resource = resource
        self.position = {name: headers.index(name) for name in headers}
        fields = {f.name: f for f in model._meta.fields if not f.generated}
        if (model is not Member or set(fields) != {*_DERIVED, *ATTNAMES} or model.clean is not models.Model.clean
                or type(resource).record_checks.__qualname__ != _RECORD_CHECKS):
            raise row_checks.NotColumnar("the model's fields or rules changed")
        if "preferred_language" in self.position:
            raise row_checks.NotColumnar("preferred_language")  # not a column of the resource: its header is refused
        for name, expected in _WIDGETS.items():
            widget = resource.fields[name].widget
            if type(widget) is not expected[0] or (
                    expected[0] is TextWidget and (widget.sensitive, widget.upper) != expected[1:]):
                raise row_checks.NotColumnar(name)
        self.check, self.defaults = row_checks.column_rules(model, ATTNAMES, self.position)
        self.zone = timezone.get_current_timezone()  # once per import, as ``DateTimeWidget`` reads it
        self.today = resource.today
        self.choices = {name: resource.fields[name].widget._values() for name in ("kind", "status",
                                                                                    "verification_level")}
        self.lines_widget = resource.fields["product_lines"].widget
        self.line_ids: dict[str, int] = {}

    # --- Per chunk -----------------------------------------------------------------------------
    def prepare(self, chunk: list) -> None:
        """What the resource reads before its first row (``prepare_rows``): the product lines by code, once."""
        if "product_lines" in self.position and not self.line_ids:
            if self.lines_widget.by_code is None:
                self.lines_widget.by_code = {line.code: line for line in ProductLine.objects.all()}
            self.line_ids = {code: line.pk for code, line in self.lines_widget.by_code.items()}

    def checked(self, chunk: list) -> tuple[list[tuple | None], list[int]]:
        """Per row of ``chunk``: its values (``attnames``, then its lines' ids) or None; the rows to check singly."""
        (a_number, a_kind, a_status, a_level, a_registered, a_cancelled, a_country, a_legal, a_local, a_born,
         a_email, a_phone) = (self.position.get(name) for name in ATTNAMES[:-1])
        at_lines = self.position.get("product_lines")
        # An absent column's default, as a function (a callable default is called per row, as ``Model()`` does).
        (d_number, d_kind, d_status, d_level, d_registered, d_cancelled, d_country, d_legal, d_local, d_born,
         d_email, d_phone, d_language) = (_default_of(self.defaults.get(name)) for name in ATTNAMES)
        zone, today, line_ids = self.zone, self.today, self.line_ids
        kinds, statuses, levels = (self.choices[name] for name in ("kind", "status", "verification_level"))
        (check_number, check_kind, check_status, check_level, check_registered, check_cancelled, check_country,
         check_legal, check_local, check_birth, check_email, check_phone, check_language) = (
            self.check[name] for name in ATTNAMES)
        fromisoformat = datetime.datetime.fromisoformat
        date_fromisoformat = datetime.date.fromisoformat
        rows: list[tuple | None] = []
        slow: list[int] = []
        for index, (_line, cells) in enumerate(chunk):
            try:
                number = _text(cells[a_number]) if a_number is not None else d_number()
                kind = kinds[_text(cells[a_kind]).lower()] if a_kind is not None else d_kind()
                status = statuses[_text(cells[a_status]).lower()] if a_status is not None else d_status()
                level = levels[_text(cells[a_level]).lower()] if a_level is not None else d_level()
                registered = (_moment(cells[a_registered], fromisoformat, zone) if a_registered is not None
                              else d_registered())
                if a_cancelled is not None:
                    text = _text(cells[a_cancelled], blank=True)
                    cancelled = _moment(text, fromisoformat, zone) if text else None
                else:
                    cancelled = d_cancelled()
                country = _text(cells[a_country], blank=True).upper() if a_country is not None else d_country()
                legal = _text(cells[a_legal], blank=True) if a_legal is not None else d_legal()
                local = _text(cells[a_local], blank=True) if a_local is not None else d_local()
                if a_born is not None:
                    text = _text(cells[a_born], blank=True)
                    born = date_fromisoformat(text) if text else None
                else:
                    born = d_born()
                email = _text(cells[a_email], blank=True) if a_email is not None else d_email()
                phone = _text(cells[a_phone], blank=True) if a_phone is not None else d_phone()
                language = d_language()  # not a column of the resource (``__init__``)
                lines = None
                if at_lines is not None:
                    text = _text(cells[at_lines], blank=True)
                    lines = tuple(sorted({line_ids[code] for code in (c.strip() for c in text.split(",")) if code}))
                if not (check_number(number) and check_kind(kind) and check_status(status) and check_level(level)
                        and check_registered(registered)
                        and (cancelled is None or check_cancelled(cancelled))
                        and (country == "" or (COUNTRY.match(country) and check_country(country)))
                        and (legal == "" or check_legal(legal)) and (local == "" or check_local(local))
                        and (born is None or (born <= today and check_birth(born)))
                        and (email == "" or (not looks_masked(email) and check_email(email)
                                             and email_problem(email) is None))
                        and (phone == "" or (not looks_masked(phone) and check_phone(phone)
                                             and phone_problem(phone) is None))
                        and (language == "" or check_language(language))):
                    raise _Slow
            except (_Slow, KeyError, ValueError, TypeError, AttributeError, ArithmeticError, OverflowError):
                rows.append(None)
                slow.append(index)
                continue
            rows.append((number, kind, status, level, registered, cancelled, country, legal, local, born, email,
                         phone, language, lines))
        return rows, slow

    def before_general(self, part: list, slow: list[int]) -> None:
        """Nothing to set up: the general check reads the product lines the widget already holds."""

    def from_instance(self, instance, many_to_many: dict) -> tuple:
        """A row the general check passed, in ``attnames`` order, then its lines' ids (None: no such column)."""
        values = instance.__dict__
        lines = many_to_many.get("product_lines")
        return (*(values[name] for name in ATTNAMES),
                None if lines is None else tuple(sorted({line.pk for line in lines})))

    @staticmethod
    def table_values(rows: list[tuple]) -> tuple[dict[str, list], dict[str, list[tuple[int, int]]]]:
        """The rows' plain stored values by attname (derived columns made, a column at a time), and their links.

        The encrypted columns hold the plaintext; the driver encrypts them (``columnar``). Links:
        ``(row position, line id)`` per product line of a row, as ``history_copy.column_copies`` takes them.
        """
        columns = list(zip(*rows, strict=True))
        values = dict(zip(ATTNAMES, map(list, columns[:-1]), strict=True))
        values["birth_year"] = [born.year if born else None for born in values["date_of_birth"]]
        values["name_search"] = [name_search_key(legal or "", local or "")
                                 for legal, local in zip(values["legal_name"], values["local_name"], strict=True)]
        values["email_bidx"] = crypto.blind_index_many("email", values["email"])
        values["phone_bidx"] = crypto.blind_index_many("phone", values["phone"])
        links = [(position, line) for position, lines in enumerate(columns[-1]) for line in lines or ()]
        return values, {"product_lines": links}

    def written(self, rows: list[tuple]) -> None:
        """Members feed no derived table."""

    def chunk_written(self) -> None:
        """Members feed no derived table."""


class _Slow(Exception):
    """This row is checked the general way."""

def _default_of(default):
    """A function giving an absent column's default: the callable default itself, or the constant."""
    return default if callable(default) else (lambda: default)


def _text(cell, blank: bool = False) -> str:
    """``cell_text`` of a text cell that it leaves as it is (trimmed); anything else raises ``_Slow``.

    Empty text raises too, unless ``blank``: a column that refuses it lets the general path say why.
    """
    if cell.__class__ is not str:
        raise _Slow
    text = cell.strip()
    if text[:1] == "'" or not (text or blank):
        raise _Slow
    return text


def _moment(text: str, fromisoformat, zone) -> datetime.datetime:
    """``DateTimeWidget.clean`` of a cell ``fromisoformat`` reads: the time, aware, in range in UTC."""
    parsed = fromisoformat(_text(text))
    moment = parsed.replace(tzinfo=zone) if parsed.utcoffset() is None else parsed
    moment.astimezone(_UTC)
    return moment


