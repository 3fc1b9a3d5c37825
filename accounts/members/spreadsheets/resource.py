"""The base of every record resource: checks, all or nothing, bulk writes, safe exports (issue 3, requirement 10).

Design decision 8 (bad input gets a clear error and loses nothing):

- An import checks **every** row and commits **all or nothing**: one bad row anywhere means nothing
  is written (``import_data`` always runs in a transaction and rolls back on any problem; the bulk
  writes are not even attempted once a problem is known). Each problem is reported with the line
  number as in the file (header = line 1), the column and the reason, never with the value.
- Keys must be unique inside one file (member number, order number, related-person id).
- Existing records are loaded for the whole file in one query per 5,000 keys
  (``instance_loading.KeyedInstanceLoader``); rows are written with ``bulk_create``/``bulk_update`` and their audit
  history in bulk (``accounts.members.spreadsheets.writes``).
- Encrypted fields take plaintext in and out; blind indexes and ciphertext are never columns.
- Exports escape spreadsheet formulas (``accounts.members.spreadsheets.cells``) and mask sensitive columns
  unless the user may reveal them (PP-25); an unmasked export writes one access-log row. The import
  preview always compares masked values (``previews.MaskedDiff``).

One resource per record kind builds on it: ``accounts.members.spreadsheets.members``,
``related_persons`` and ``transactions``.
"""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _
from import_export import resources, widgets

from accounts.members.spreadsheets import row_checks, writes
from accounts.members.spreadsheets.cells import cell_text, escape_formula
from accounts.members.spreadsheets.import_results import ImportResult
from accounts.members.spreadsheets.instance_loading import KeyedInstanceLoader
from accounts.members.spreadsheets.previews import MaskedDiff
from accounts.members.spreadsheets.problems import ImportProblem, column_label, source_problem
from accounts.models import ImportBatch
from accounts.privacy import children, datamap
from accounts.privacy.masking import mask_value
from accounts.privacy.reveal import REVEAL_PERMISSION


class RecordResource(resources.ModelResource):
    """What the three record resources share: checks, all-or-nothing, bulk writes, safe exports."""

    #: Columns a file must have.
    required_columns: tuple[str, ...] = ()
    #: Model fields written alongside a field on update (derived columns kept in step; blind
    #: indexes are kept by ``writes.records_bulk_save`` for every model).
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
        #: Personal columns that a child's row hides too (PP-01: a member under 14 makes them all sensitive).
        self.child_columns = children.child_columns(self._meta.model)
        self.today = timezone.localdate()
        self._child_values_shown = False
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
                problems.append(ImportProblem(1, f"#{position}", _("This column has no name in the header.")))
            elif name in seen:
                problems.append(
                    ImportProblem(1, column_label(name, position),
                                  _("This column appears more than once in the header."))
                )
            elif name not in allowed:
                problems.append(ImportProblem(
                    1, column_label(name, position), _("Unknown column; the columns are: %(columns)s.")
                    % {"columns": ", ".join(allowed)}
                ))
            seen.add(name)
        for name in self.required_columns:
            if name not in seen:
                problems.append(ImportProblem(1, name, _("This column is required.")))
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
                key = cell_text(value)
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

    #: Whether a file of new records takes the streamed fast path (``spreadsheets.streaming``).
    streams = False

    def prepare_rows(self, rows: list[dict]) -> None:
        """Load what one chunk of the streamed fast path refers to, one query per kind (subclasses)."""

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
            problems.append(ImportProblem(1, "", _("The file is empty: it needs a header line and records.")))
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
                errors[field.attribute] = [str(exc) or _("This value is not valid.")]
        index = kwargs.get("row_number", 0) - 1
        if index in self._duplicates:
            attribute, lines = self._duplicates[index]
            listed = ", ".join(str(line) for line in lines)
            errors.setdefault(attribute, []).append(
                _("This key appears more than once in the file: lines %(lines)s.") % {"lines": listed})
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

        The model's rules are ``full_clean``'s, compiled once per model (``row_checks``): the same
        problems and messages at a fraction of the cost per row.

        Uniqueness is checked for the whole file at once (keys load existing records in bulk;
        duplicates inside the file are found up front) and constraints by the record checks, so
        ``full_clean`` runs no query per row. The database constraints stay as the last guard.
        """
        errors = {key: list(value) for key, value in (import_validation_errors or {}).items()}
        exclude = set(errors) | set(self.resolved_fields)
        # ``full_clean``'s field rules and messages, compiled once per model (issue 15).
        found = row_checks.model_field_errors(instance, exclude)
        if found:
            for key, messages in ValidationError(found).message_dict.items():
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

    def after_write(self, new_objs: list, changed_objs: list) -> None:
        """What the written rows feed, in the import's transaction (subclasses: derived tables)."""

    def after_stream(self) -> None:
        """What the chunks of a streamed import feed once, after the last one (subclasses: summed tables)."""

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
            writes.records_bulk_save(
                model=self._meta.model,
                new_objs=list(self.create_instances),
                changed_objs=list(self.update_instances),
                update_fields=self.update_fields(),
                user=self.user,
                many_to_many=many_to_many,
            )
            self.after_write(list(self.create_instances), list(self.update_instances))
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
            self.batch = writes.import_batch_record(
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
        if name in self.child_columns and children.is_child_record(instance, self.today):
            return mask_value(field.get_value(instance), self.child_columns[name].mask)
        return str(field.export(instance))

    def export_field(self, field, instance, **kwargs):
        name = self.get_field_name(field)
        child = name in self.child_columns and children.is_child_record(instance, self.today)
        if name in self.sensitive and not self.reveal:
            value = mask_value(field.get_value(instance), self.sensitive[name].mask)
        elif child and not self.reveal:
            value = mask_value(field.get_value(instance), self.child_columns[name].mask)
        else:
            self._child_values_shown |= child
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
        logged = set(self.sensitive) | (set(self.child_columns) if self._child_values_shown else set())
        shown = [self.get_field_name(field) for field in fields if self.get_field_name(field) in logged]
        if shown:
            writes.sensitive_export_log(
                user=self.user,
                model=self._meta.model,
                field_names=shown,
                row_count=len(dataset),
                ip_address=self.ip_address,
            )

