"""The fast path of an import of new records: streamed, checked row by row, written chunk by chunk (issue 15).

django-import-export's ``import_row`` costs far more per row than the checks themselves (instance
loading, deep copies, the diff and its preview). An import whose keys are all new needs none of
it, so ``records_stream_import`` reads the file as a stream (``formats.RecordStream``: bounded
memory), and for each chunk of ``CHUNK_SIZE`` records:

1. loads what the chunk refers to in one query per kind (members, their product lines);
2. checks every row with the resource's own widgets, model rules and record checks
   (``RecordResource.row_problems``), so the problems and their texts are the same: line as in
   the file, column, reason, never the value; keys repeated inside the file are collected and
   reported on every line that has them;
3. looks the chunk's keys up in one query; a key already stored raises ``StoredRecords`` and the
   caller runs the general path (``RecordResource.import_data``: updates, unchanged rows, refusals);
4. writes the chunk (on PostgreSQL by COPY: ``writes.records_copy_insert``, or for audited rows
   ``writes.records_copy_insert_with_history``, sent by ``write_behind`` while the next chunk is
   checked; elsewhere ``writes.records_bulk_save``) and the resource's ``after_write`` (the daily
   volumes summed), unless a problem is already known; after the last chunk, the resource's
   ``after_stream`` (the summed daily volumes written once).

All of it runs in one transaction, rolled back if any row had a problem, for a dry run, or on a
database error: all or nothing. A dry run does the same work and the same writes (so database
rules are checked too) and rolls back, so it is as fast as the real run.
"""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from dataclasses import dataclass, field
from itertools import islice

from django.core.exceptions import NON_FIELD_ERRORS, ObjectDoesNotExist, ValidationError
from django.db import DatabaseError, router, transaction
from django.utils.translation import gettext as _
from import_export import widgets
from import_export.fields import NOT_PROVIDED

from accounts.members import bulk_copy, bulk_lookup, history_copy
from accounts.members.spreadsheets import instances, write_behind, writes
from accounts.members.spreadsheets.cells import cell_text
from accounts.members.spreadsheets.formats import RecordStream
from accounts.members.spreadsheets.problems import ImportProblem
from accounts.privacy import crypto
from accounts.privacy.fields import BlindIndexField

#: Records checked and written together: bounds memory and the number of queries per record.
CHUNK_SIZE = 5000


class StoredRecords(Exception):
    """The file names a record that is already stored: the general path decides (update, skip, refuse)."""


class RollBack(Exception):
    """Leaves the import's transaction without keeping anything (a problem, or a dry run)."""


@dataclass
class StreamResult:
    total_rows: int = 0
    new: int = 0
    problems: list[ImportProblem] = field(default_factory=list)
    batch: object = None


def chunks(stream: RecordStream, size: int):
    records = iter(stream)
    while chunk := list(islice(records, size)):
        yield chunk


def records_stream_import(*, resource, stream: RecordStream, dry_run: bool = False,
                          chunk_size: int | None = None) -> StreamResult:
    """Check and write every record of ``stream`` (all new), all or nothing; see the module docstring.

    Raises ``StoredRecords`` (nothing kept) when a key of the file is already stored.
    """
    result = StreamResult()
    model = resource._meta.model
    headers = stream.headers
    fields = [f for f in resource.get_import_fields() if f.column_name in headers]
    columns = column_names(resource)
    unique = [resource.fields[name] for name in resource.unique_columns()
              if resource.fields[name].column_name in headers]
    lines_of_key: dict[str, dict[str, list[int]]] = {f.attribute: defaultdict(list) for f in unique}
    update_fields = resource.update_fields()
    plan = row_plan_of(resource, fields)
    # Rows without history or many-to-many values, on PostgreSQL, are copied in (no primary keys needed).
    copies = bulk_copy.available() and not hasattr(model, "history") and not any(
        isinstance(f.widget, widgets.ManyToManyWidget) for f in fields
    )
    # Audited rows (members), on PostgreSQL: copied in too, with reserved ids, history and links (``history_copy``).
    copies_with_history = not copies and history_copy.available(model)
    # ... sent while the next chunk is checked (``write_behind``).
    behind = write_behind.WriteBehind() if copies_with_history else None
    repeated = False  # a key seen twice: the import is refused, so nothing more is written
    try:
        # ``behind`` leaves first: no COPY of the import outlives its transaction.
        with transaction.atomic(), behind if behind is not None else nullcontext():
            # The import's record (PP-16) first, so the rows can point to it; its counts at the end.
            result.batch = writes.import_batch_record(
                source=resource.source, user=resource.user, model=model, total_rows=0, new=0, updated=0,
                unchanged=0,
            )
            for chunk in chunks(stream, chunk_size or CHUNK_SIZE):
                rows = [dict(zip(headers, cells, strict=True)) for _line, cells in chunk]
                resource.prepare_rows(rows)
                new_objs, many_to_many = [], defaultdict(list)
                for (line, _cells), row in zip(chunk, rows, strict=True):
                    result.total_rows += 1
                    if resource.on_row is not None:
                        resource.on_row()
                    for key_field in unique:
                        key = cell_text(row[key_field.column_name])
                        if key:
                            lines = lines_of_key[key_field.attribute][key]
                            lines.append(line)
                            repeated = repeated or len(lines) > 1
                    instance, m2m, errors = row_instance(resource, row, plan)
                    if errors:
                        result.problems.extend(problems_of(line, errors, columns))
                        continue
                    new_objs.append(instance)
                    for name, related in m2m.items():
                        many_to_many[name].append((instance, related))
                result.new += len(new_objs)
                _wait_behind(behind, result)  # the chunk before stored: this chunk's queries may run
                if _any_stored(resource, rows):
                    raise StoredRecords()
                if result.problems or stream.read_problems or repeated or not new_objs:
                    continue  # nothing will be kept: do not write what the rollback would undo
                batch_field = model._meta.get_field("import_batch") if resource.links_batch else None
                db = router.db_for_write(model, instance=result.batch)  # asked once, not per row
                for obj in new_objs:
                    resource.prepare_for_write(obj)
                    if batch_field is not None:  # ``obj.import_batch = batch`` without the descriptor's checks
                        instances.set_related(obj, batch_field, result.batch, db=db)
                try:
                    if copies:
                        writes.records_copy_insert(model=model, objs=new_objs)
                    elif copies_with_history:
                        writes.records_copy_insert_with_history(model=model, objs=new_objs, user=resource.user,
                                                                many_to_many=dict(many_to_many), behind=behind)
                    else:
                        if hasattr(model, "history"):  # no after_write reads these rows' values (members)
                            writes.records_encrypt_for_insert(model=model, objs=new_objs)
                        writes.records_bulk_save(model=model, new_objs=new_objs, changed_objs=[],
                                                 update_fields=update_fields, user=resource.user,
                                                 many_to_many=dict(many_to_many))
                    resource.after_write(new_objs, [])
                except Exception as exc:  # reported as a problem; the transaction rolls back
                    result.problems.append(failed_problem(exc))
                    raise RollBack() from None
            _wait_behind(behind, result)
            result.problems.extend(duplicate_problems(lines_of_key, columns))
            result.problems.extend(stream.read_problems)
            if not result.problems:
                try:
                    resource.after_stream()  # what the chunks feed once (the daily volumes)
                except Exception as exc:  # reported as a problem; the transaction rolls back
                    result.problems.append(failed_problem(exc))
                    raise RollBack() from None
            writes.import_batch_counts(batch=result.batch, total_rows=result.total_rows, new=result.new)
            if result.problems or dry_run:
                raise RollBack()
    except RollBack:
        pass
    except DatabaseError as exc:
        result.problems.append(failed_problem(exc))
    if result.problems or dry_run:
        result.batch = None
    result.problems.sort()
    return result


def _wait_behind(behind, result: StreamResult) -> None:
    """Wait for the chunk ``write_behind`` is sending; its failure is the import's (reported, rolled back)."""
    if behind is None:
        return
    try:
        behind.wait()
    except Exception as exc:
        result.problems.append(failed_problem(exc))
        raise RollBack() from None


def column_names(resource) -> dict[str, str]:
    """The file's column of each of the resource's fields, by field name and by attribute."""
    columns = {name: f.column_name for name, f in resource.fields.items()}
    columns.update({f.attribute: f.column_name for f in resource.fields.values() if f.attribute})
    return columns


def problems_of(line: int, errors: dict[str, list], columns: dict[str, str]) -> list[ImportProblem]:
    """A row's errors (field name -> messages) as problems: its line, the column, the reason."""
    return [ImportProblem(line, "" if name == NON_FIELD_ERRORS else columns.get(name, name), str(message))
            for name, messages in errors.items() for message in messages]


def failed_problem(exc: Exception) -> ImportProblem:
    # Database errors can quote values: name the kind of error only.
    return ImportProblem(0, "", _("The import failed (%(kind)s); nothing was written.") % {"kind": type(exc).__name__})


def duplicate_problems(lines_of_key, columns) -> list[ImportProblem]:
    problems = []
    for attribute, by_key in lines_of_key.items():
        for lines in by_key.values():
            if len(lines) > 1:
                listed = ", ".join(str(line) for line in lines)
                problems.extend(
                    ImportProblem(line, columns.get(attribute, attribute),
                                  _("This key appears more than once in the file: lines %(lines)s.")
                                  % {"lines": listed})
                    for line in lines
                )
    return problems


def _plain(column) -> bool:
    """A column whose ``Field.save`` is a plain ``setattr`` of its widget's value (every column of ours)."""
    return (not column.readonly and "__" not in column.attribute and column.default is NOT_PROVIDED
            and column.saves_null_values)


@dataclass
class _RowPlan:
    """How each column of the file is read into a new instance, decided once per import (``instances``)."""

    make: object
    #: (column, how: "m2m" | "set" | "save", setter for "set")
    columns: list[tuple]


def row_plan_of(resource, fields) -> _RowPlan:
    model = resource._meta.model
    plain = [column for column in fields
             if not isinstance(column.widget, widgets.ManyToManyWidget) and _plain(column)]
    setters = dict(zip((c.attribute for c in plain), instances.column_setters(model, [c.attribute for c in plain]),
                       strict=True))
    columns = []
    for column in fields:
        if isinstance(column.widget, widgets.ManyToManyWidget):
            columns.append((column, "m2m", None))
        elif column in plain:  # what ``Field.save`` does for it, without its layers (issue 15)
            columns.append((column, "set", setters[column.attribute]))
        else:
            columns.append((column, "save", None))
    return _RowPlan(make=instances.instance_factory(model), columns=columns)


def row_instance(resource, row: dict, plan: _RowPlan) -> tuple:
    """A new instance from one row, its many-to-many values and its problems (field name -> messages).

    The same steps as the general path (``RecordResource.import_instance`` and ``validate_instance``):
    every column read, one error per bad column, then the model's rules and the record checks.
    """
    instance = plan.make()
    errors: dict[str, list] = {}
    m2m = {}
    for column, how, setter in plan.columns:
        try:
            if how == "set":
                setter(instance, column.widget.clean(row[column.column_name], row=row))
            elif how == "m2m":
                m2m[column.attribute] = column.clean(row)
            else:
                column.save(instance, row)
        except (ValueError, TypeError, ArithmeticError, ObjectDoesNotExist) as exc:
            errors[column.attribute] = [str(exc) or _("This value is not valid.")]
    try:
        resource.validate_instance(instance, errors)
    except ValidationError as exc:
        return instance, m2m, {key: list(messages) for key, messages in exc.message_dict.items()}
    return instance, m2m, {}


def _any_stored(resource, rows: list[dict]) -> bool:
    """Whether a key of these rows is already stored: one query (an encrypted key by its blind index)."""
    key_field = resource.fields[resource.key_field_name]
    keys = set()
    for row in rows:
        try:
            key = key_field.widget.clean(row.get(key_field.column_name))
        except (ValueError, TypeError, ArithmeticError):
            continue  # the row's own problem is reported
        if key not in (None, ""):
            keys.add(key)
    if not keys:
        return False
    model = resource._meta.model
    index = next((f for f in model._meta.concrete_fields
                  if isinstance(f, BlindIndexField) and f.source == key_field.attribute), None)
    if index is None:
        return bulk_lookup.any_row_where_in(model, key_field.attribute, keys)
    return bulk_lookup.any_row_where_in(model, index.name, {crypto.blind_index(index.kind, str(key)) for key in keys})
