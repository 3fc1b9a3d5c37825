"""Reading and writing one column of an import or export file (django-import-export widgets).

Each widget turns a cell into a model value with a clear, value-free reason when it cannot (text,
choices by value or label, dates, date-times in the site's time zone, decimals, record ids, member
numbers, product-line codes) and renders the value back for an export. Member numbers and product
lines are resolved for the whole file at once by the resource, never one query per row.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation

from django.db import models
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from import_export import widgets
from import_export.fields import Field

from accounts.members import bulk_lookup
from accounts.members.spreadsheets.cells import cell_text, is_blank, looks_masked
from accounts.models import Member, ProductLine


class TextWidget(widgets.CharWidget):
    """Trimmed text; a formula escape added by our exports is removed again."""

    def __init__(self, *, sensitive: bool = False, upper: bool = False):
        super().__init__(coerce_to_string=True, allow_blank=True)
        self.sensitive = sensitive
        self.upper = upper

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if self.sensitive and looks_masked(text):
            raise ValueError(_("This is a masked value copied from an export; give the full value."))
        return text.upper() if self.upper else text


class ChoiceWidget(widgets.Widget):
    """A choice by its value or its label (any case); exported as the value."""

    def __init__(self, choices: type[models.TextChoices]):
        super().__init__(coerce_to_string=True)
        self.choices = choices
        #: Per language (labels are translated): lower-case value or label -> value, the first choice winning.
        self._lookup: dict[str | None, dict[str, str]] = {}
        #: The lookup of the language active at the first cell of an import, not looked up per cell
        #: (issue 15: ``get_language`` costs more than the rest of ``clean``; a resource, so its
        #: widgets, is made per import, like ``DateTimeWidget.zone``).
        self._current: dict[str, str] | None = None

    def _values(self) -> dict[str, str]:
        if self._current is None:
            self._current = self._values_in(translation.get_language())
        return self._current

    def _values_in(self, language: str | None) -> dict[str, str]:
        found = self._lookup.get(language)
        if found is None:
            found = {}
            for choice in self.choices:
                found.setdefault(str(choice.value).lower(), choice.value)
                found.setdefault(str(choice.label).lower(), choice.value)
            self._lookup[language] = found
        return found

    def clean(self, value, row=None, **kwargs):
        text = cell_text(value)
        if not text:
            return ""
        found = self._values().get(text.lower())
        if found is not None:
            return found
        raise ValueError(_("Not a valid choice: use one of %(choices)s.")
                         % {"choices": ", ".join(str(c.value) for c in self.choices)})

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class DateWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        text = cell_text(value)
        if looks_masked(text):
            raise ValueError(_("This is a masked value copied from an export; give the full date."))
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise ValueError(_("Enter a date as YYYY-MM-DD.")) from None

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value if kwargs.get("force_native_type") else value.isoformat()


class DateTimeWidget(widgets.Widget):
    """ISO 8601 date and time; without an offset it is read in the site's time zone."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: The time zone a time without an offset is read in: looked up at the first cell of an
        #: import, not per cell (issue 15; a resource, so its widgets, is made per import).
        self.zone = None

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        if isinstance(value, datetime.datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(cell_text(value))
            except ValueError:
                parsed = None
            if parsed is None:
                raise ValueError(_("Enter a date and time as YYYY-MM-DD HH:MM[:SS] with an optional UTC offset."))
        try:
            if parsed.utcoffset() is None:
                if self.zone is None:
                    self.zone = timezone.get_current_timezone()
                aware = timezone.make_aware(parsed, self.zone)
            else:
                aware = parsed
            aware.astimezone(datetime.UTC)
        except OverflowError:
            # Fuzz finding: e.g. 9999-12-31 23:59:59-10:00 is past the year 9999 in UTC; the write
            # failed with an OverflowError reported as "Unexpected error".
            raise ValueError(_("The date and time is out of range (years 1 to 9999 in UTC).")) from None
        return aware

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        local = timezone.localtime(value)
        # Spreadsheet cells cannot hold an offset: the site's local time, like the admin shows.
        return local.replace(tzinfo=None) if kwargs.get("force_native_type") else local.isoformat(sep=" ")


class DecimalWidget(widgets.NumberWidget):
    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        text = repr(value) if isinstance(value, float) else cell_text(value)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("Enter a number, e.g. 1234.56 (no thousands separators).")) from None
        if not number.is_finite():
            raise ValueError(_("Enter a finite number."))
        return number

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value if kwargs.get("force_native_type") else format(value, "f")


#: The largest primary key (``BigAutoField``).
MAX_ID = 2**63 - 1


class IdWidget(widgets.Widget):
    """The record id from an earlier export; empty for a new record."""

    def clean(self, value, row=None, **kwargs):
        if is_blank(value):
            return None
        text = cell_text(value)
        # Fuzz finding: "²" passed isdigit() and int() then quoted it in the error; an id past the
        # 64-bit range crashed the bulk lookup of existing records (OverflowError, DataError).
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
            raise ValueError(_("Enter the id from an export (a whole number), or leave it empty for a new record."))
        return int(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else (value if kwargs.get("force_native_type") else str(value))


class MemberNumberWidget(widgets.ForeignKeyWidget):
    """A member by member number, from the members the resource loaded for the whole file."""

    def __init__(self):
        super().__init__(Member, field="member_number")
        self.members: dict[str, Member] = {}

    def clean(self, value, row=None, **kwargs):
        number = cell_text(value)
        if not number:
            raise ValueError(_("A member number is required."))
        member = self.members.get(number)
        if member is None:
            raise ValueError(_("No member has this member number."))
        return member

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value.member_number


#: Longest code a problem repeats; a longer cell is not a code someone mistyped.
SHOWN_CODE_LENGTH = 40


def shown_code(code: str) -> str:
    """A code as a problem may repeat it: printable and short, or a description instead.

    Fuzz finding: a carriage return inside an unknown code split the problem over two lines of
    ``import_records`` output, so the second half no longer said where it came from.
    """
    if code.isprintable() and len(code) <= SHOWN_CODE_LENGTH:
        return code
    return _("(a code with unprintable characters)") if not code.isprintable() else _("(a code too long to be one)")


class ProductLinesWidget(widgets.ManyToManyWidget):
    """Product-line codes separated by commas, resolved from one query per import."""

    def __init__(self):
        super().__init__(ProductLine, separator=",", field="code")
        self.by_code: dict[str, ProductLine] | None = None

    def clean(self, value, row=None, **kwargs):
        codes = [code.strip() for code in cell_text(value).split(self.separator) if code.strip()]
        if self.by_code is None:
            self.by_code = {line.code: line for line in ProductLine.objects.all()}
        unknown = sorted({shown_code(code) for code in codes if code not in self.by_code})
        if unknown:
            raise ValueError(_("Unknown product line code(s): %(codes)s.") % {"codes": ", ".join(unknown)})
        return [self.by_code[code] for code in dict.fromkeys(codes)]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        lines = value.all() if hasattr(value, "all") else value
        return self.separator.join(sorted(line.code for line in lines))


class ProductLineWidget(widgets.ForeignKeyWidget):
    """One product line by code (the line a record belongs to, PP-19); an empty cell is no line."""

    def __init__(self):
        super().__init__(ProductLine, field="code")
        self.by_code: dict[str, ProductLine] | None = None

    def clean(self, value, row=None, **kwargs):
        code = cell_text(value).strip()
        if not code:
            return None
        if self.by_code is None:
            self.by_code = {line.code: line for line in ProductLine.objects.all()}
        if code not in self.by_code:
            raise ValueError(_("Unknown product line code: %(code)s.") % {"code": shown_code(code)})
        return self.by_code[code]

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value.code


def member_product_lines(members: dict[str, Member]) -> dict[int, list[ProductLine]]:
    """The product lines each of ``members`` uses, in one query (and one for the lines; ``bulk_lookup``).

    The links are read as id pairs and the few lines once: no model instance per link (issue 15).
    """
    through = Member.product_lines.through
    found: dict[int, list[ProductLine]] = {member.pk: [] for member in members.values()}
    if not found:
        return found
    lines = {line.pk: line for line in ProductLine.objects.all()}
    pairs = sorted(bulk_lookup.rows_where_in(through, ["id", "member", "productline"], "member", found))
    for _link, member_id, line_id in pairs:  # in the order the links were made, as the member's page lists them
        found[member_id].append(lines[line_id])
    return found


def members_named_in(dataset) -> dict[str, Member]:
    """Every member the file names, in one query (for ``MemberNumberWidget``)."""
    if "member_number" not in (dataset.headers or []):
        return {}
    return members_by_number({cell_text(value) for value in dataset["member_number"]})


#: What the resources read of a member the file names (the rest is deferred).
_MEMBER_FIELDS = ["id", "member_number", "kind"]


def members_by_number(numbers: set[str]) -> dict[str, Member]:
    """The members with these member numbers, in one query (``bulk_lookup``), only their id, number and kind."""
    alias = Member.objects.db
    return {
        values[1]: Member.from_db(alias, _MEMBER_FIELDS, values)
        for values in bulk_lookup.rows_where_in(Member, _MEMBER_FIELDS, "member_number", numbers)
    }


def sensitive_text_field(name: str) -> Field:
    """A text column that refuses a masked value copied from an export."""
    return Field(attribute=name, column_name=name, widget=TextWidget(sensitive=True))


def text_field(name: str, **kwargs) -> Field:
    """A text column named like its model field."""
    return Field(attribute=name, column_name=name, widget=TextWidget(**kwargs))
