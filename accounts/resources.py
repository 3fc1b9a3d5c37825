"""Import and export of members, related persons and transaction records (django-import-export).

Issue 3, requirement 10 (design decision 8: bad input gets a clear error and loses nothing):

- An import checks **every** row and commits **all or nothing**: one bad row anywhere means nothing
  is written (``import_data`` always runs in a transaction and rolls back on any problem; the bulk
  writes are not even attempted once a problem is known). Each problem is reported with the line
  number as in the file (header = line 1), the column and the reason, never with the value.
- Keys must be unique inside one file (member number, order number, related-person id).
- Member numbers and product lines are resolved for the whole file in one query each; rows are
  written with ``bulk_create``/``bulk_update`` and their audit history in bulk (``accounts.record_writes``).
- Encrypted fields take plaintext in and out; blind indexes and ciphertext are never columns.
- Exports escape spreadsheet formulas (``=``, ``+``, ``-``, ``@``, tab, carriage return get a ``'``
  prefix) and mask sensitive columns unless the user may reveal them (PP-25); an unmasked export
  writes one access-log row.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
import zipfile
import zlib
from collections import defaultdict
from decimal import Decimal, InvalidOperation
from xml.etree import ElementTree

import tablib
from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.core.validators import validate_email
from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from import_export import resources, widgets
from import_export.fields import Field
from import_export.formats import base_formats
from import_export.instance_loaders import ModelInstanceLoader
from import_export.resources import Diff
from import_export.results import Error, Result

from accounts import datamap, record_writes
from accounts.choices import AssetType, MemberKind, MemberStatus, RelatedPersonRole, VerificationLevel
from accounts.import_problems import ImportProblem, UnreadableFile, source_problem
from accounts.masking import HIDDEN, mask_value
from accounts.models import ImportBatch, Member, ProductLine, RelatedPerson, TransactionRecord
from accounts.progress import chunked
from accounts.services import REVEAL_PERMISSION

# --- Spreadsheet formulas -----------------------------------------------------------------------
#: A cell starting with one of these is run as a formula by spreadsheet programs (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    """Prefix ``'`` so a spreadsheet shows the text instead of evaluating it."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def unescape_formula(text: str) -> str:
    """Undo ``escape_formula`` on import, so an exported file imports back unchanged."""
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_TRIGGERS) else text


def looks_masked(text: str) -> bool:
    """A masked value copied from an export (``j***@x``, ``**** 1234``, ``****-**-**``)."""
    return "***" in text or HIDDEN in text


# --- Problems -----------------------------------------------------------------------------------
class ImportFileProblem(Exception):
    """A problem with the file as a whole (header) or with a line that is not a record."""

    def __init__(self, problem: ImportProblem):
        super().__init__(str(problem))
        self.problem = problem


class ImportResult(Result):
    """The library's result plus file line numbers and column names for the error report."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: File line of each data row (index 0 = first data row).
        self.line_numbers: list[int] = []
        #: Model attribute or field name -> column name in the file.
        self.columns: dict[str, str] = {}

    def add_file_problem(self, problem: ImportProblem) -> None:
        # A base error makes ``has_errors()`` true, which is what makes the library roll back.
        self.append_base_error(Error(ImportFileProblem(problem)))

    def line_of(self, number: int) -> int:
        """File line of the library's 1-based data row number."""
        if 0 < number <= len(self.line_numbers):
            return self.line_numbers[number - 1]
        return number + 1

    @property
    def problems(self) -> list[ImportProblem]:
        found: list[ImportProblem] = []
        for error in self.base_errors:
            if isinstance(error.error, ImportFileProblem):
                found.append(error.error.problem)
            else:
                # Database errors can quote values: name the kind of error only.
                kind = type(error.error).__name__
                found.append(ImportProblem(0, "", f"The import failed ({kind}); nothing was written."))
        for row in self.error_rows:
            for error in row.errors:
                found.append(
                    ImportProblem(self.line_of(row.number), "", f"Unexpected error ({type(error.error).__name__}).")
                )
        for row in self.invalid_rows:
            line = self.line_of(row.number)
            for name, messages in row.error_dict.items():
                column = "" if name == NON_FIELD_ERRORS else self.columns.get(name, name)
                found.extend(ImportProblem(line, column, str(message)) for message in messages)
        return sorted(found)


#: A header cell that reads like a column name, and may be quoted in a problem.
_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def _column_label(name: str, position: int) -> str:
    """How a problem names a header cell: by its text if that looks like a column name, else by position.

    Fuzz finding (tests/accounts/test_fuzz_import.py): a file without its header line has a record
    there, and "Unknown column" quoted each of its cells (names, e-mails) in the report; a cell with
    a line break also split the command's one-problem-a-line output.
    """
    return name if _COLUMN_NAME.fullmatch(name) else f"#{position}"


# --- File formats -------------------------------------------------------------------------------
def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _dataset_from_rows(rows) -> tablib.Dataset:
    """Build a dataset from ``(file line, cells)`` pairs, remembering each record's file line.

    Blank lines are skipped (but counted), so the line numbers in the error report are the ones a
    person sees in a text editor or spreadsheet. Cells beyond the header are reported, not dropped.
    """
    dataset = tablib.Dataset()
    dataset.line_numbers = []
    dataset.read_problems = []
    rows = iter(rows)
    header_line, header = next(rows, (1, []))
    headers = ["" if h is None else str(h).strip().lstrip("\ufeff").lower() for h in header]
    while headers and not headers[-1]:
        headers.pop()
    width = len(headers)
    if width:
        dataset.headers = headers
    for line, cells in rows:
        cells = list(cells)
        if all(_blank(cell) for cell in cells):
            continue
        extra = cells[width:]
        if any(not _blank(cell) for cell in extra):
            dataset.read_problems.append(
                ImportProblem(line, "", f"This line has more cells than the header has columns ({width}).")
            )
        cells = cells[:width] + [None] * (width - len(cells))
        if not width:
            dataset.read_problems.append(ImportProblem(header_line, "", "The file has no header line."))
            break
        for position, cell in enumerate(cells):
            if isinstance(cell, str) and "\x00" in cell:
                # Fuzz finding (tests/accounts/test_fuzz_import.py): PostgreSQL text cannot hold NUL,
                # and the look-up of existing records failed with a DataError. Said here, not sent.
                dataset.read_problems.append(ImportProblem(
                    line, _column_label(headers[position], position + 1),
                    "This cell holds a NUL character, which no column accepts.",
                ))
                cells[position] = None
        dataset.append(cells)
        dataset.line_numbers.append(line)
    return dataset


def _decoded(content: bytes, encoding: str) -> str:
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        # Fuzz finding (tests/accounts/test_fuzz_import.py): a file in another encoding (UTF-16,
        # GB18030, Latin-1) raised a bare UnicodeDecodeError that said neither what nor where.
        line = content.count(b"\n", 0, exc.start) + 1
        byte = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnreadableFile(
            f"line {line}: byte {byte} of the line is not UTF-8 text; save the file as CSV UTF-8 and import it again."
        ) from None


class CSV(base_formats.CSV):
    """CSV that keeps each record's line in the file (quoted line breaks and blank lines included)."""

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = _decoded(in_stream, self.encoding or "utf-8-sig")
        reader = csv.reader(io.StringIO(in_stream, newline=""))

        def rows():
            last = 0
            for cells in reader:
                yield last + 1, cells
                last = reader.line_num

        try:
            return _dataset_from_rows(rows())
        except csv.Error as exc:
            # Fuzz finding: a cell over the csv module's limit (131,072 characters) raised _csv.Error.
            # Its text names the rule, never the cell.
            raise UnreadableFile(f"line {reader.line_num}: this line cannot be read as CSV ({exc}).") from None


#: What openpyxl raises for a file that is not a workbook, or a damaged one (fuzz finding: these
#: reached the caller as such, e.g. BadZipFile or KeyError, without saying that the file is damaged).
XLSX_READ_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, AttributeError, EOFError,
                    OSError, ElementTree.ParseError, zlib.error)


class XLSX(base_formats.XLSX):
    """XLSX (first sheet) that keeps each record's row number in the sheet."""

    def create_dataset(self, in_stream):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(in_stream), read_only=True, data_only=True)
        except XLSX_READ_ERRORS as exc:
            raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None
        try:
            rows = list(enumerate(book.active.iter_rows(values_only=True), start=1))
        except XLSX_READ_ERRORS as exc:
            raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None
        finally:
            book.close()
        return _dataset_from_rows(rows)


_DAMAGED_XLSX = "The file is not a readable XLSX workbook ({kind}); save it again from the spreadsheet program."


FORMATS = {"csv": CSV, "xlsx": XLSX}


# --- Widgets ------------------------------------------------------------------------------------
def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed into a spreadsheet cell (member numbers, phones)
    return unescape_formula(str(value).strip())


class TextWidget(widgets.CharWidget):
    """Trimmed text; a formula escape added by our exports is removed again."""

    def __init__(self, *, sensitive: bool = False, upper: bool = False):
        super().__init__(coerce_to_string=True, allow_blank=True)
        self.sensitive = sensitive
        self.upper = upper

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if self.sensitive and looks_masked(text):
            raise ValueError("This is a masked value copied from an export; give the full value.")
        return text.upper() if self.upper else text


class ChoiceWidget(widgets.Widget):
    """A choice by its value or its label (any case); exported as the value."""

    def __init__(self, choices: type[models.TextChoices]):
        super().__init__(coerce_to_string=True)
        self.choices = choices

    def clean(self, value, row=None, **kwargs):
        text = _text(value)
        if not text:
            return ""
        for choice in self.choices:
            if text.lower() in (str(choice.value).lower(), str(choice.label).lower()):
                return choice.value
        raise ValueError("Not a valid choice: use one of " + ", ".join(str(c.value) for c in self.choices) + ".")

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else str(value)


class DateWidget(widgets.Widget):
    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, datetime.datetime):
            return value.date()
        if isinstance(value, datetime.date):
            return value
        text = _text(value)
        if looks_masked(text):
            raise ValueError("This is a masked value copied from an export; give the full date.")
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise ValueError("Enter a date as YYYY-MM-DD.") from None

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        return value if kwargs.get("force_native_type") else value.isoformat()


class DateTimeWidget(widgets.Widget):
    """ISO 8601 date and time; without an offset it is read in the site's time zone."""

    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        if isinstance(value, datetime.datetime):
            parsed = value
        else:
            try:
                parsed = parse_datetime(_text(value))
            except ValueError:
                parsed = None
            if parsed is None:
                raise ValueError("Enter a date and time as YYYY-MM-DD HH:MM[:SS] with an optional UTC offset.")
        try:
            aware = timezone.make_aware(parsed) if timezone.is_naive(parsed) else parsed
            aware.astimezone(datetime.UTC)
        except OverflowError:
            # Fuzz finding: e.g. 9999-12-31 23:59:59-10:00 is past the year 9999 in UTC; the write
            # failed with an OverflowError reported as "Unexpected error".
            raise ValueError("The date and time is out of range (years 1 to 9999 in UTC).") from None
        return aware

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        local = timezone.localtime(value)
        # Spreadsheet cells cannot hold an offset: the site's local time, like the admin shows.
        return local.replace(tzinfo=None) if kwargs.get("force_native_type") else local.isoformat(sep=" ")


class DecimalWidget(widgets.NumberWidget):
    def clean(self, value, row=None, **kwargs):
        if _blank(value):
            return None
        text = repr(value) if isinstance(value, float) else _text(value)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError("Enter a number, e.g. 1234.56 (no thousands separators).") from None
        if not number.is_finite():
            raise ValueError("Enter a finite number.")
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
        if _blank(value):
            return None
        text = _text(value)
        # Fuzz finding: "²" passed isdigit() and int() then quoted it in the error; an id past the
        # 64-bit range crashed the bulk lookup of existing records (OverflowError, DataError).
        if not (text.isascii() and text.isdigit()) or int(text) > MAX_ID:
            raise ValueError("Enter the id from an export (a whole number), or leave it empty for a new record.")
        return int(text)

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else (value if kwargs.get("force_native_type") else str(value))


class MemberNumberWidget(widgets.ForeignKeyWidget):
    """A member by member number, from the members the resource loaded for the whole file."""

    def __init__(self):
        super().__init__(Member, field="member_number")
        self.members: dict[str, Member] = {}

    def clean(self, value, row=None, **kwargs):
        number = _text(value)
        if not number:
            raise ValueError("A member number is required.")
        member = self.members.get(number)
        if member is None:
            raise ValueError("No member has this member number.")
        return member

    def render(self, value, obj=None, **kwargs):
        return "" if value is None else value.member_number


class ProductLinesWidget(widgets.ManyToManyWidget):
    """Product-line codes separated by commas, resolved from one query per import."""

    def __init__(self):
        super().__init__(ProductLine, separator=",", field="code")
        self.by_code: dict[str, ProductLine] | None = None

    def clean(self, value, row=None, **kwargs):
        codes = [code.strip() for code in _text(value).split(self.separator) if code.strip()]
        if self.by_code is None:
            self.by_code = {line.code: line for line in ProductLine.objects.all()}
        unknown = sorted({code for code in codes if code not in self.by_code})
        if unknown:
            raise ValueError("Unknown product line code(s): " + ", ".join(unknown) + ".")
        return [self.by_code[code] for code in dict.fromkeys(codes)]

    def render(self, value, obj=None, **kwargs):
        if value is None:
            return ""
        lines = value.all() if hasattr(value, "all") else value
        return self.separator.join(sorted(line.code for line in lines))


# --- Loading existing records -------------------------------------------------------------------
class KeyedInstanceLoader(ModelInstanceLoader):
    """Loads the existing records a file names in one query per 5,000 keys (not one per row).

    Tolerates bad keys: the row that holds one gets a field error instead of stopping the import.
    """

    def __init__(self, resource, dataset=None):
        super().__init__(resource, dataset)
        self.key_field = resource.fields[resource.get_import_id_fields()[0]]
        keys = set()
        if dataset is not None and self.key_field.column_name in (dataset.headers or []):
            for value in dataset[self.key_field.column_name]:
                key = self._key(value)
                if key not in (None, ""):
                    keys.add(key)
        self.instances = {}
        for chunk in chunked(sorted(keys, key=str), 5000):
            for instance in self.get_queryset().filter(**{f"{self.key_field.attribute}__in": chunk}):
                self.instances[getattr(instance, self.key_field.attribute)] = instance

    def _key(self, value):
        try:
            return self.key_field.widget.clean(value)
        except (ValueError, TypeError, ArithmeticError):
            return None

    def get_instance(self, row):
        return self.instances.get(self._key(row.get(self.key_field.column_name)))


class MaskedDiff(Diff):
    """The import preview compares masked values: a preview is no place to reveal (PP-25).

    (The library's ``Diff`` calls ``Diff._read_field_values`` by name, so both ends are overridden.)
    """

    def __init__(self, resource, instance, new):
        self.left = self._masked_values(resource, instance)
        self.right = []
        self.new = new

    def compare_with(self, resource, instance):
        self.right = self._masked_values(resource, instance)

    @staticmethod
    def _masked_values(resource, instance) -> list[str]:
        return [resource.preview_value(field, instance) for field in resource.get_import_fields()]


# --- Resources ----------------------------------------------------------------------------------
class RecordResource(resources.ModelResource):
    """What the three record resources share: checks, all-or-nothing, bulk writes, safe exports."""

    #: Columns a file must have.
    required_columns: tuple[str, ...] = ()
    #: Model fields written alongside a field on update (derived columns kept in step; blind
    #: indexes are kept by ``record_writes.records_bulk_save`` for every model).
    derived_fields: dict[str, tuple[str, ...]] = {}
    #: Model fields that ``full_clean`` must skip because a widget already resolved them in bulk
    #: (a foreign key's own check would run one query per row).
    resolved_fields: tuple[str, ...] = ()

    class Meta:
        use_transactions = True
        use_bulk = True
        batch_size = None  # written once, after every row has been checked
        skip_unchanged = True
        report_skipped = True
        clean_model_instances = True
        instance_loader_class = KeyedInstanceLoader
        chunk_size = 1000

    def __init__(self, *, user=None, ip_address: str | None = None, on_row=None, source: str = "", **kwargs):
        super().__init__(**kwargs)
        self.user = user if getattr(user, "is_authenticated", False) else None
        self.ip_address = ip_address
        self.on_row = on_row
        #: Where the file came from (PP-16); an import without it is refused.
        self.source = (source or "").strip()
        self.links_batch = any(f.name == "import_batch" for f in self._meta.model._meta.concrete_fields)
        self.sensitive = datamap.sensitive_fields(self._meta.model)
        self.reveal = bool(self.user and self.user.has_perm(REVEAL_PERMISSION))
        self._reset()

    def _reset(self) -> None:
        self._line_numbers: list[int] = []
        self._read_problems: list[ImportProblem] = []
        self._duplicates: dict[int, tuple[str, list[int]]] = {}
        self._bad_rows = 0
        self._columns: set[str] = set()
        self._m2m_values: dict[str, dict[int, tuple[models.Model, list]]] = defaultdict(dict)
        #: The import's record (PP-16), made when the rows are written.
        self.batch: ImportBatch | None = None

    @classmethod
    def get_result_class(cls):
        return ImportResult

    @classmethod
    def get_diff_class(cls):
        return MaskedDiff

    def get_queryset(self):
        return self._meta.model._default_manager.all()

    # --- Import: file-level checks ----------------------------------------------------------------
    @property
    def key_field_name(self) -> str:
        return self.get_import_id_fields()[0]

    def column_names(self) -> list[str]:
        return [field.column_name for field in self.fields.values()]

    def header_problems(self, headers: list[str]) -> list[ImportProblem]:
        allowed = self.column_names()
        problems = []
        seen = set()
        for position, name in enumerate(headers, start=1):
            if not name:
                problems.append(ImportProblem(1, f"#{position}", "This column has no name in the header."))
            elif name in seen:
                problems.append(
                    ImportProblem(1, _column_label(name, position), "This column appears more than once in the header.")
                )
            elif name not in allowed:
                problems.append(ImportProblem(
                    1, _column_label(name, position), "Unknown column; the columns are: " + ", ".join(allowed) + "."
                ))
            seen.add(name)
        for name in self.required_columns:
            if name not in seen:
                problems.append(ImportProblem(1, name, "This column is required."))
        return problems

    def duplicate_keys(self, dataset) -> dict[int, tuple[str, list[int]]]:
        """Rows (by index) whose key another row of the file repeats, with every line that has it."""
        found: dict[int, tuple[str, list[int]]] = {}
        for name in self.unique_columns():
            column = self.fields[name].column_name
            if column not in self._columns:
                continue
            rows_by_key: dict[str, list[int]] = defaultdict(list)
            for index, value in enumerate(dataset[column]):
                key = _text(value)
                if key:
                    rows_by_key[key].append(index)
            for indexes in rows_by_key.values():
                if len(indexes) > 1:
                    lines = [self._line_numbers[i] for i in indexes]
                    for i in indexes:
                        found.setdefault(i, (self.fields[name].attribute, lines))
        return found

    def unique_columns(self) -> tuple[str, ...]:
        return (self.key_field_name,)

    def prepare(self, dataset) -> None:
        """Load what the whole file refers to, one query per kind (subclasses)."""

    # --- Import: the library's hooks ------------------------------------------------------------
    def import_data(self, dataset, dry_run=False, raise_errors=False, use_transactions=None,
                    collect_failed_rows=False, rollback_on_validation_errors=False, **kwargs):
        """All or nothing, whatever the caller asks: always a transaction, rolled back on any problem."""
        self._reset()
        self._line_numbers = list(getattr(dataset, "line_numbers", None) or range(2, len(dataset) + 2))
        problems = self.header_problems(list(dataset.headers or []))
        missing_source = source_problem(self.source)
        if missing_source:
            problems.insert(0, ImportProblem(0, "source", missing_source))
        if not dataset.headers:
            problems.append(ImportProblem(1, "", "The file is empty: it needs a header line and records."))
        if problems:
            result = self.get_result_class()()
            result.total_rows = len(dataset)
            for problem in problems:
                result.add_file_problem(problem)
            self._describe(result)
            return result
        return super().import_data(
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=True,
            collect_failed_rows=collect_failed_rows,
            rollback_on_validation_errors=True,
            **kwargs,
        )

    def before_import(self, dataset, **kwargs):
        if kwargs.get("user") is not None and self.user is None:
            self.user = kwargs["user"] if getattr(kwargs["user"], "is_authenticated", False) else None
        self._read_problems = list(getattr(dataset, "read_problems", []))
        self._columns = set(dataset.headers or [])
        self._duplicates = self.duplicate_keys(dataset)
        self.prepare(dataset)

    def before_import_row(self, row, **kwargs):
        if self.on_row is not None:
            self.on_row()

    def import_row(self, row, instance_loader, **kwargs):
        row_result = super().import_row(row, instance_loader, **kwargs)
        if row_result.is_invalid() or row_result.is_error():
            self._bad_rows += 1
        return row_result

    def import_instance(self, instance, row, **kwargs):
        """Read every column of the row; collect one error per bad column (the library stops at none)."""
        errors: dict[str, list] = {}
        for field in self.get_import_fields():
            if field.column_name not in row:
                continue
            try:
                if isinstance(field.widget, widgets.ManyToManyWidget):
                    # Saved in bulk after the rows are written; remembered per instance meanwhile.
                    self._m2m_values[field.attribute][id(instance)] = (instance, field.clean(row))
                else:
                    self.import_field(field, instance, row, **kwargs)
            except (ValueError, TypeError, ArithmeticError, ObjectDoesNotExist) as exc:
                errors[field.attribute] = [str(exc) or "This value is not valid."]
        index = kwargs.get("row_number", 0) - 1
        if index in self._duplicates:
            attribute, lines = self._duplicates[index]
            listed = ", ".join(str(line) for line in lines)
            errors.setdefault(attribute, []).append(f"This key appears more than once in the file: lines {listed}.")
        if errors:
            raise ValidationError(errors)

    def get_or_init_instance(self, instance_loader, row):
        instance, new = super().get_or_init_instance(instance_loader, row)
        # The stored many-to-many values, read from the loader's prefetch now: the library compares
        # against a deep copy, and a deep-copied queryset forgets its results (one query a row).
        instance._import_m2m_before = {} if new else {
            field.attribute: list(getattr(instance, field.attribute).all())
            for field in self.get_import_fields()
            if isinstance(field.widget, widgets.ManyToManyWidget)
        }
        return instance, new

    def skip_row(self, instance, original, row, import_validation_errors=None):
        if import_validation_errors:
            return False
        for field in self.get_import_fields():
            if isinstance(field.widget, widgets.ManyToManyWidget) and field.column_name in row:
                wanted = {obj.pk for obj in self._m2m_values[field.attribute][id(instance)][1]}
                current = {obj.pk for obj in instance._import_m2m_before.get(field.attribute, [])}
                if wanted != current:
                    return False
        plain = [f for f in self.get_import_fields() if not isinstance(f.widget, widgets.ManyToManyWidget)]
        return original.pk is not None and all(f.get_value(instance) == f.get_value(original) for f in plain)

    def validate_instance(self, instance, import_validation_errors=None, validate_unique=True):
        """The model's own rules (choices, lengths, decimals, required fields) plus the record checks.

        Uniqueness is checked for the whole file at once (keys load existing records in bulk;
        duplicates inside the file are found up front) and constraints by the record checks, so
        ``full_clean`` runs no query per row. The database constraints stay as the last guard.
        """
        errors = {key: list(value) for key, value in (import_validation_errors or {}).items()}
        exclude = set(errors) | set(self.resolved_fields)
        try:
            instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for key, messages in exc.message_dict.items():
                errors.setdefault(key, []).extend(messages)
        for key, message in self.record_checks(instance).items():
            if key not in errors:
                errors[key] = [message]
        if errors:
            raise ValidationError(errors)

    def record_checks(self, instance) -> dict[str, str]:
        """Rules beyond the model's field definitions (subclasses); keyed by field name."""
        return {}

    def before_save_instance(self, instance, row, **kwargs):
        self.prepare_for_write(instance)

    def prepare_for_write(self, instance) -> None:
        """Derived columns that ``save()`` would set but bulk writes do not (subclasses)."""

    def has_problems(self) -> bool:
        return bool(self._bad_rows or self._read_problems)

    def update_fields(self) -> list[str]:
        """Model fields written on update: the columns present in the file and what derives from them."""
        names = []
        for field in self.get_import_fields():
            if field.column_name in self._columns and not isinstance(field.widget, widgets.ManyToManyWidget):
                name = field.attribute
                if name != self._meta.model._meta.pk.name:
                    names.append(name)
                    names.extend(self.derived_fields.get(name, ()))
        if self.links_batch:
            names.append("import_batch")  # an updated row points to the import that changed it (PP-16)
        return list(dict.fromkeys(names))

    def bulk_create(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        self._bulk_write(result, raise_errors)

    def bulk_update(self, using_transactions, dry_run, raise_errors, batch_size=None, result=None):
        self._bulk_write(result, raise_errors)

    def bulk_delete(self, using_transactions, dry_run, raise_errors, result=None):
        self.delete_instances.clear()  # imports never delete

    def _bulk_write(self, result, raise_errors) -> None:
        if not (self.create_instances or self.update_instances):
            return
        try:
            if self.has_problems():
                return  # nothing will be kept: do not write what the rollback would undo
            batch = self._record_batch(result)
            if self.links_batch:
                for obj in (*self.create_instances, *self.update_instances):
                    obj.import_batch = batch
            written = {id(obj) for obj in (*self.create_instances, *self.update_instances)}
            many_to_many = {
                name: [(obj, related) for key, (obj, related) in values.items() if key in written]
                for name, values in self._m2m_values.items()
            }
            record_writes.records_bulk_save(
                model=self._meta.model,
                new_objs=list(self.create_instances),
                changed_objs=list(self.update_instances),
                update_fields=self.update_fields(),
                user=self.user,
                many_to_many=many_to_many,
            )
        except Exception as exc:  # reported as a problem; the transaction rolls back
            self.handle_import_error(result, exc, raise_errors)
        finally:
            self.create_instances.clear()
            self.update_instances.clear()

    def _record_batch(self, result) -> ImportBatch:
        """The import's record with its source and counts (PP-16), made once, in the import's transaction.

        Made when the rows are written (the counts are final by then: rows are written once, after
        every row was read), or at the end for a file whose rows were all unchanged.
        """
        if self.batch is None:
            totals = result.totals
            self.batch = record_writes.import_batch_record(
                source=self.source, user=self.user, model=self._meta.model, total_rows=result.total_rows,
                new=totals["new"], updated=totals["update"], unchanged=totals["skip"],
            )
        return self.batch

    def after_import(self, dataset, result, **kwargs):
        for problem in self._read_problems:
            result.add_file_problem(problem)
        self._describe(result)
        if not (self.has_problems() or result.has_errors() or result.has_validation_errors()):
            self._record_batch(result)
        # The library's after_import resets primary-key sequences; imports never set keys.

    def _describe(self, result: ImportResult) -> None:
        result.line_numbers = list(self._line_numbers)
        result.columns = {}
        for name, field in self.fields.items():
            result.columns[name] = field.column_name
            if field.attribute:
                result.columns[field.attribute] = field.column_name

    # --- Preview and export -----------------------------------------------------------------------
    def preview_value(self, field, instance) -> str:
        """A cell of the import preview: sensitive values always masked."""
        if instance is None:
            return ""
        name = self.get_field_name(field)
        if isinstance(field.widget, widgets.ManyToManyWidget):
            pending = self._m2m_values[field.attribute].get(id(instance))
            if pending is not None:
                return field.widget.render(pending[1])
            return field.widget.render(getattr(instance, "_import_m2m_before", {}).get(field.attribute, []))
        if name in self.sensitive:
            return mask_value(field.get_value(instance), self.sensitive[name].mask)
        return str(field.export(instance))

    def export_field(self, field, instance, **kwargs):
        name = self.get_field_name(field)
        if name in self.sensitive and not self.reveal:
            value = mask_value(field.get_value(instance), self.sensitive[name].mask)
        else:
            value = super().export_field(field, instance, **kwargs)
        if isinstance(value, str) and not isinstance(field.widget, widgets.NumberWidget):
            value = escape_formula(value)
        return value

    def filter_export(self, queryset, **kwargs):
        return self.optimise_export(queryset)

    def optimise_export(self, queryset):
        return queryset

    def after_export(self, queryset, dataset, **kwargs):
        """PP-25: one access-log row for an export that carried unmasked sensitive values."""
        if not (self.reveal and len(dataset)):
            return
        fields = self.get_export_fields(kwargs.get("export_fields"))
        shown = [self.get_field_name(field) for field in fields if self.get_field_name(field) in self.sensitive]
        if shown:
            record_writes.sensitive_export_log(
                user=self.user,
                model=self._meta.model,
                field_names=shown,
                row_count=len(dataset),
                ip_address=self.ip_address,
            )


def _email_problem(value: str) -> str | None:
    if not value:
        return None
    try:
        validate_email(value)
    except ValidationError:
        return "Enter a valid e-mail address."
    return None


_PHONE = re.compile(r"^\+?[0-9 ().\-/]+$")


def _phone_problem(value: str) -> str | None:
    if not value:
        return None
    digits = sum(ch.isdigit() for ch in value)
    if not _PHONE.match(value) or not 6 <= digits <= 15:
        return "Enter a phone number: 6 to 15 digits, optionally with +, spaces, dashes or parentheses."
    return None


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _person_checks(instance) -> dict[str, str]:
    """Identity checks shared by members and related persons (PP-06)."""
    problems = {}
    if instance.nationality and not _COUNTRY.match(instance.nationality):
        problems["nationality"] = "Enter a two-letter ISO 3166 country code, e.g. CN."
    if instance.date_of_birth and instance.date_of_birth > timezone.localdate():
        problems["date_of_birth"] = "The date of birth is in the future."
    for name, check in (("email", _email_problem), ("phone", _phone_problem)):
        problem = check(getattr(instance, name))
        if problem:
            problems[name] = problem
    return problems


def _sensitive_text(name: str) -> Field:
    return Field(attribute=name, column_name=name, widget=TextWidget(sensitive=True))


def _text_field(name: str, **kwargs) -> Field:
    return Field(attribute=name, column_name=name, widget=TextWidget(**kwargs))


class MemberResource(RecordResource):
    """Members by member number (PP-06): individuals' identity fields and product lines by code."""

    member_number = _text_field("member_number")
    kind = Field(attribute="kind", column_name="kind", widget=ChoiceWidget(MemberKind))
    status = Field(attribute="status", column_name="status", widget=ChoiceWidget(MemberStatus))
    verification_level = Field(
        attribute="verification_level", column_name="verification_level", widget=ChoiceWidget(VerificationLevel)
    )
    registered_at = Field(attribute="registered_at", column_name="registered_at", widget=DateTimeWidget())
    cancelled_at = Field(attribute="cancelled_at", column_name="cancelled_at", widget=DateTimeWidget())
    nationality = _text_field("nationality", upper=True)
    legal_name = _text_field("legal_name")
    local_name = _text_field("local_name")
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget())
    email = _sensitive_text("email")
    phone = _sensitive_text("phone")
    product_lines = Field(attribute="product_lines", column_name="product_lines", widget=ProductLinesWidget())

    required_columns = ("member_number",)
    # Blind indexes follow their source in ``record_writes.records_bulk_save``; the birth year is ours to keep.
    derived_fields = {"date_of_birth": ("birth_year",)}

    class Meta(RecordResource.Meta):
        model = Member
        name = "Members"
        fields = (
            "member_number", "kind", "status", "verification_level", "registered_at", "cancelled_at",
            "nationality", "legal_name", "local_name", "date_of_birth", "email", "phone", "product_lines",
        )
        import_id_fields = ["member_number"]

    def get_queryset(self):
        # The preview and the unchanged-row check read product lines: prefetched, not one query a row.
        return super().get_queryset().prefetch_related("product_lines")

    def prepare(self, dataset) -> None:
        if "product_lines" in self._columns:
            self.fields["product_lines"].widget.by_code = {line.code: line for line in ProductLine.objects.all()}

    def record_checks(self, instance) -> dict[str, str]:
        return _person_checks(instance)

    def prepare_for_write(self, instance) -> None:
        # Member.save() keeps the plain birth year beside the encrypted date; bulk writes skip save().
        instance.birth_year = instance.date_of_birth.year if instance.date_of_birth else None

    def optimise_export(self, queryset):
        return queryset.prefetch_related("product_lines")


class RelatedPersonResource(RecordResource):
    """Institutions' representatives and owners (PP-07), keyed to the institution's member number.

    ``id`` (from an earlier export) updates that person; an empty id adds a new one.
    """

    id = Field(attribute="id", column_name="id", widget=IdWidget())
    member = Field(attribute="member", column_name="member_number", widget=MemberNumberWidget())
    role = Field(attribute="role", column_name="role", widget=ChoiceWidget(RelatedPersonRole))
    ownership_share = Field(attribute="ownership_share", column_name="ownership_share", widget=DecimalWidget())
    legal_name = _text_field("legal_name")
    local_name = _text_field("local_name")
    nationality = _text_field("nationality", upper=True)
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget())
    email = _sensitive_text("email")
    phone = _sensitive_text("phone")

    required_columns = ("member_number",)
    resolved_fields = ("member",)

    class Meta(RecordResource.Meta):
        model = RelatedPerson
        name = "Related persons"
        fields = (
            "id", "member", "role", "ownership_share", "legal_name", "local_name", "nationality",
            "date_of_birth", "email", "phone",
        )
        import_id_fields = ["id"]

    def get_queryset(self):
        return super().get_queryset().select_related("member")

    def prepare(self, dataset) -> None:
        self.fields["member"].widget.members = _members_named_in(dataset)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.message_dict
        if instance._state.adding and instance.id is not None and "id" not in errors:
            errors["id"] = ["No related person has this id; leave it empty to add a new person."]
        if errors:
            raise ValidationError(errors)

    def get_or_init_instance(self, instance_loader, row):
        instance, new = super().get_or_init_instance(instance_loader, row)
        # Remembered before the row's member number is applied: a person is not moved between institutions.
        instance._import_owner_id = None if new else instance.member_id
        return instance, new

    def record_checks(self, instance) -> dict[str, str]:
        problems = _person_checks(instance)
        share = instance.ownership_share
        if share is not None and not Decimal(0) <= share <= Decimal(100):
            problems["ownership_share"] = "The ownership share must be between 0 and 100."
        member = instance.member if instance.member_id else None
        if member is not None and member.kind != MemberKind.INSTITUTION:
            problems["member"] = "This member is not an institution; related persons belong to institutions."
        if getattr(instance, "_import_owner_id", None) not in (None, instance.member_id):
            problems["member"] = "This person belongs to another institution; a person cannot be moved."
        return problems

    def optimise_export(self, queryset):
        return queryset.select_related("member")


class TransactionRecordResource(RecordResource):
    """Orders from the trading system (PP-13). Never edited: an order already imported with the same
    values is skipped, one with different values is refused."""

    member = Field(attribute="member", column_name="member_number", widget=MemberNumberWidget())
    order_number = _text_field("order_number")
    order_time = Field(attribute="order_time", column_name="order_time", widget=DateTimeWidget())
    counterparty_nickname = _text_field("counterparty_nickname")
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
        self.fields["member"].widget.members = _members_named_in(dataset)

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

    def optimise_export(self, queryset):
        return queryset.select_related("member")


def _members_named_in(dataset) -> dict[str, Member]:
    """Every member the file names, in one query per 5,000 member numbers."""
    if "member_number" not in (dataset.headers or []):
        return {}
    numbers = sorted({_text(value) for value in dataset["member_number"]} - {""})
    members = {}
    for chunk in chunked(numbers, 5000):
        for member in Member.objects.filter(member_number__in=chunk).only("pk", "member_number", "kind"):
            members[member.member_number] = member
    return members


#: The resources by the name the command line uses.
RESOURCES: dict[str, type[RecordResource]] = {
    "members": MemberResource,
    "related-persons": RelatedPersonResource,
    "transactions": TransactionRecordResource,
}
