"""The column-oriented fast path of an import of new records: no model instance per good row (issue 15, requirement 2).

At 10,000 rows a second an import has 100 µs per row for everything. The row-by-row fast path
(``accounts.members.spreadsheets.streaming``) spends most of it on one model instance per row,
widget layers and per-value conversions. A resource with a *column plan* (``column_plan``, e.g.
``order_columns.OrderColumns`` for transaction records, ``member_columns.MemberColumns`` for
members) takes this path instead, with the same
streaming, chunks, queries per chunk, problems and all-or-nothing. For each chunk of
``streaming.CHUNK_SIZE`` records:

1. the key of every row is read once and its blind index made once: one query finds a key already
   stored (``streaming.StoredRecords``: the caller runs the general path), and the same index is
   written; keys repeated inside the file are reported on every line that has them;
2. the plan loads what the chunk refers to (the resource's own look-ups) and, a part of
   ``PART_SIZE`` rows at a time, vouches for the rows whose every cell is certainly good, as
   values ready to store; every other row is checked the general way (``streaming.row_instance``:
   the resource's widgets, ``row_checks``, ``record_checks``), so each problem, its line, column
   and message, is the general path's, never the value;
3. while nothing is wrong, each part is written at once: encrypted columns a column at a time
   (``crypto.encrypt_many``), the rows as text into one ``COPY`` per chunk (PostgreSQL; the server
   stores a part while the next one is checked), or ``bulk_create`` elsewhere; the plan sums what
   the rows add to (``written``: the daily volumes) and, once the chunk's COPY is closed (no query
   can run while it is open), may write the sums (``chunk_written``); after the last chunk, the
   resource's ``after_stream``. Rows of an audited model (members) go with their history rows and
   many-to-many links (``_HistoryWriter``): the plan gives a part's stored columns
   (``table_values``), and on PostgreSQL ``write_behind``'s thread reserves each part's ids and
   sends its COPYs (``history_copy.column_copies``) while the next part is checked (the driver
   waits for it before any other query), elsewhere ``writes.records_bulk_save``.

One transaction, rolled back on any problem, for a dry run (which does the same work, so it is as
fast), or on a database error: all or nothing.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from django.db import DatabaseError, connection, transaction
from psycopg import sql

from accounts.members import bulk_copy, bulk_lookup, history_copy
from accounts.members.spreadsheets import row_checks, streaming, write_behind, writes
from accounts.members.spreadsheets.cells import cell_text
from accounts.members.spreadsheets.formats import RecordStream
from accounts.members.spreadsheets.problems import ImportProblem
from accounts.privacy import crypto
from accounts.privacy.fields import BlindIndexField, Ciphertext, EncryptedDecimalField

#: Rows checked, then written, together inside a chunk: the server stores one part while the next is checked.
PART_SIZE = 1000


def plan_for(resource, headers: list[str]):
    """The resource's column plan for a file with these columns, or None (the row-by-row path)."""
    plan_class = getattr(resource, "column_plan", None)
    if plan_class is None:
        return None
    try:
        return plan_class(resource, headers)
    except row_checks.NotColumnar:
        return None


def records_columnar_import(*, resource, plan, stream: RecordStream, dry_run: bool = False,
                            chunk_size: int | None = None) -> streaming.StreamResult:
    """Check and write every record of ``stream`` (all new) with ``plan``, all or nothing; see the module docstring.

    Raises ``streaming.StoredRecords`` (nothing kept) when a key of the file is already stored.
    """
    result = streaming.StreamResult()
    model = resource._meta.model
    headers = stream.headers
    fields = [f for f in resource.get_import_fields() if f.column_name in headers]
    columns = streaming.column_names(resource)
    key_field = resource.fields[resource.key_field_name]
    key_at = headers.index(key_field.column_name)
    index = next((f for f in model._meta.concrete_fields
                  if isinstance(f, BlindIndexField) and f.source == key_field.attribute), None)
    row_plan = streaming.row_plan_of(resource, fields)
    writer = _HistoryWriter(model, plan, resource.user) if hasattr(model, "history") else _Writer(
        model, plan.attnames, index)
    keys = _Keys(key_field.attribute)
    try:
        # The writer leaves first: no COPY of the import outlives its transaction.
        with transaction.atomic(), writer:
            result.batch = writes.import_batch_record(
                source=resource.source, user=resource.user, model=model, total_rows=0, new=0, updated=0,
                unchanged=0,
            )
            writer.batch_id = result.batch.pk if resource.links_batch else None
            for chunk in streaming.chunks(stream, chunk_size or streaming.CHUNK_SIZE):
                _wait(writer, result)  # what the writer still sends is stored: this chunk's queries may run
                texts = [cell_text(cells[key_at]) for _line, cells in chunk]
                hashes = [crypto.blind_index(index.kind, text) if text else None for text in texts] if index else texts
                if bulk_lookup.any_row_where_in(model, index.name if index else key_field.attribute, hashes):
                    raise streaming.StoredRecords()
                plan.prepare(chunk)
                for (line, _cells), text in zip(chunk, texts, strict=True):
                    keys.add(text, line)
                with writer.part_sink() as sink:
                    for start in range(0, len(chunk), PART_SIZE):
                        part = chunk[start:start + PART_SIZE]
                        rows = _checked_part(resource, plan, row_plan, headers, columns, part, result)
                        if result.problems or stream.read_problems or keys.repeated or not rows:
                            continue  # nothing will be kept: do not write what the rollback would undo
                        try:
                            sink(rows, hashes[start:start + PART_SIZE])
                            plan.written([row for row in rows if row is not None])
                        except Exception as exc:  # reported as a problem; the transaction rolls back
                            result.problems.append(streaming.failed_problem(exc))
                            raise streaming.RollBack() from None
                if not result.problems:
                    try:
                        plan.chunk_written()  # queries again, once the COPY is closed
                    except Exception as exc:  # reported as a problem; the transaction rolls back
                        result.problems.append(streaming.failed_problem(exc))
                        raise streaming.RollBack() from None
            _wait(writer, result)
            result.problems.extend(keys.problems(columns))
            result.problems.extend(stream.read_problems)
            if not result.problems:
                try:
                    resource.after_stream()  # what the chunks feed once (the daily volumes)
                except Exception as exc:  # reported as a problem; the transaction rolls back
                    result.problems.append(streaming.failed_problem(exc))
                    raise streaming.RollBack() from None
            writes.import_batch_counts(batch=result.batch, total_rows=result.total_rows, new=result.new)
            if result.problems or dry_run:
                raise streaming.RollBack()
    except streaming.RollBack:
        pass
    except DatabaseError as exc:
        result.problems.append(streaming.failed_problem(exc))
    if result.problems or dry_run:
        result.batch = None
    result.problems.sort()
    return result


def _wait(writer, result) -> None:
    """Wait for what the writer sends in the background; its failure is the import's (reported, rolled back)."""
    try:
        writer.wait()
    except Exception as exc:
        result.problems.append(streaming.failed_problem(exc))
        raise streaming.RollBack() from None


def _checked_part(resource, plan, row_plan, headers, columns, part, result) -> list[tuple | None]:
    """The part's rows ready to store (None for a row with a problem), its problems added to ``result``."""
    rows, slow = plan.checked(part)
    if slow:
        plan.before_general(part, slow)
    for i in slow:
        line, cells = part[i]
        instance, m2m, errors = streaming.row_instance(resource, dict(zip(headers, cells, strict=True)), row_plan)
        if errors:
            result.problems.extend(streaming.problems_of(line, errors, columns))
        else:
            rows[i] = plan.from_instance(instance, m2m)
    result.total_rows += len(part)
    result.new += len(part) - sum(row is None for row in rows)
    if resource.on_row is not None:
        for _row in part:
            resource.on_row()
    return rows


class _Keys:
    """The lines of each key of the file: the first line only, until a key comes back (bounded memory)."""

    def __init__(self, attribute: str):
        self.attribute = attribute
        self.first: dict[str, int] = {}
        self.lines: dict[str, list[int]] = defaultdict(list)
        self.repeated = False

    def add(self, key: str, line: int) -> None:
        if not key:
            return
        first = self.first.setdefault(key, line)
        if first != line:
            if key not in self.lines:
                self.lines[key].append(first)
            self.lines[key].append(line)
            self.repeated = True

    def problems(self, columns) -> list[ImportProblem]:
        return streaming.duplicate_problems({self.attribute: self.lines}, columns)


class _Writer:
    """Writes checked rows (values in ``attnames`` order) with their blind indexes: COPY, or ``bulk_create``."""

    def __init__(self, model, attnames: tuple[str, ...], index: BlindIndexField | None):
        self.model = model
        self.attnames = attnames
        self.batch_id = None
        fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        at = {name: i for i, name in enumerate(attnames)}
        #: Per column of the table: ("value", position) | ("index",) | ("batch",)
        self.sources = []
        for field in fields:
            if index is not None and field.attname == index.attname:
                self.sources.append(("index", None, field))
            elif field.attname == "import_batch_id":
                self.sources.append(("batch", None, field))
            else:
                self.sources.append(("value", at[field.attname], field))
        self.fields = fields
        self.statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table), sql.SQL(", ").join(sql.Identifier(f.column) for f in fields))

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, traceback):
        return False

    def wait(self) -> None:
        """Nothing is sent in the background: each chunk's COPY is closed at the chunk's end."""

    def part_sink(self):
        return _CopySink(self) if bulk_copy.available() else _BulkSink(self)

    def table_columns(self, rows: list[tuple], hashes: list) -> list[list]:
        """The table's columns for the rows (None rows left out), encrypted columns made a column at a time."""
        kept = [i for i, row in enumerate(rows) if row is not None]
        columns = []
        for source, position, field in self.sources:
            if source == "index":
                columns.append([hashes[i] for i in kept])
            elif source == "batch":
                columns.append([self.batch_id] * len(kept))
            else:
                values = [rows[i][position] for i in kept]
                columns.append(_encrypted(field, values) if getattr(field, "encrypted", False) else values)
        return columns


class _HistoryWriter:
    """Writes checked rows of an audited model (members) with their history rows and many-to-many links.

    The plan gives a part's stored columns (``plan.table_values``: derived columns made) and links;
    the encrypted columns are encrypted here, a column at a time. On PostgreSQL
    (``history_copy.available``) ``write_behind``'s thread reserves the part's ids and sends its
    COPYs (``history_copy.column_copies``: members, history rows, links, the links' history rows)
    while the next part is checked; ``wait`` before any other query of the import. Elsewhere the
    rows are instances holding their tokens, written by ``writes.records_bulk_save``.
    """

    def __init__(self, model, plan, user):
        self.model = model
        self.plan = plan
        self.user = user
        self.batch_id = None
        self.fields = [f for f in model._meta.concrete_fields if not f.primary_key]
        self.behind = write_behind.WriteBehind() if history_copy.available(model) else None
        self.user_id = history_copy.history_user_id(model, None, user)

    def __enter__(self):
        if self.behind is not None:
            self.behind.__enter__()
        return self

    def __exit__(self, kind, exc, traceback):
        if self.behind is not None:
            self.behind.__exit__(kind, exc, traceback)
        return False

    def wait(self) -> None:
        if self.behind is not None:
            self.behind.wait()

    def part_sink(self):
        return _HistorySink(self)

    def write(self, rows: list[tuple]) -> None:
        values, links = self.plan.table_values(rows)
        for field in self.fields:
            if getattr(field, "encrypted", False):
                values[field.attname] = _encrypted(field, values[field.attname])
            elif field.attname == "import_batch_id":
                values[field.attname] = [self.batch_id] * len(rows)
        if self.behind is not None:
            model, user_id = self.model, self.user_id

            def send(raw) -> None:  # in the second thread, after the part before: ids, then the COPYs
                copies, _ids = history_copy.column_copies(model=model, values=values, links=links, user_id=user_id,
                                                          reason=writes.HISTORY_REASON, raw_connection=raw)
                history_copy.write_copies(raw, copies)

            self.behind.submit_job(send)
            return
        attnames = [f.attname for f in self.fields]
        objs = [self.model(**dict(zip(attnames, row, strict=True)))
                for row in zip(*(values[name] for name in attnames), strict=True)]
        _as_tokens(self, objs)
        many_to_many = {}
        for name, pairs in links.items():
            related_model = self.model._meta.get_field(name).related_model
            related: dict[int, list] = defaultdict(list)
            for position, pk in pairs:
                related[position].append(related_model(pk=pk))  # only their keys are read
            many_to_many[name] = [(objs[position], found) for position, found in related.items()]
        writes.records_bulk_save(model=self.model, new_objs=objs, changed_objs=[], update_fields=[], user=self.user,
                                 many_to_many=many_to_many)


class _HistorySink:
    """A part of checked rows written at once (``_HistoryWriter.write``); the rows with a problem left out."""

    def __init__(self, writer: _HistoryWriter):
        self.writer = writer

    def __enter__(self):
        return self

    def __call__(self, rows: list[tuple | None], hashes: list) -> None:
        kept = [row for row in rows if row is not None]
        if kept:
            self.writer.write(kept)

    def __exit__(self, kind, exc, traceback):
        return False


def _encrypted(field, values: list) -> list:
    """What ``bulk_copy.encrypted_columns`` stores for these values: a token each, empty text and None as they are."""
    if isinstance(field, EncryptedDecimalField):
        exponent = Decimal(1).scaleb(-field.decimal_places)
        plain = [str(v.quantize(exponent)) if type(v) is Decimal and v.is_finite()
                 else (v if v in (None, "") else field.to_plain_text(v)) for v in values]
    else:
        plain = [v if v in (None, "") else field.to_plain_text(v) for v in values]
    todo = [i for i, v in enumerate(plain) if v not in (None, "")]
    tokens = crypto.encrypt_many([plain[i] for i in todo])
    for i, token in zip(todo, tokens, strict=True):
        plain[i] = token
    return plain


class _CopySink:
    """One COPY per chunk, a part of rows written as text at a time (the server stores it meanwhile)."""

    def __init__(self, writer: _Writer):
        self.writer = writer
        self._copy = None
        self._cursor = None

    def __enter__(self):
        return self

    def __call__(self, rows: list[tuple | None], hashes: list) -> None:
        columns = self.writer.table_columns(rows, hashes)
        if self._copy is None:
            self._cursor = connection.cursor()
            self._copy_context = self._cursor.cursor.copy(self.writer.statement)
            self._copy = self._copy_context.__enter__()
        with connection.wrap_database_errors:
            self._copy.write(bulk_copy.copy_text(columns).encode())

    def __exit__(self, kind, exc, traceback):
        if self._copy is None:
            return False
        try:
            with connection.wrap_database_errors:
                self._copy_context.__exit__(kind, exc, traceback)
        finally:
            self._cursor.close()
        return False


class _BulkSink:
    """Elsewhere than PostgreSQL: the rows as instances, written by ``bulk_create`` (tokens kept as they are)."""

    def __init__(self, writer: _Writer):
        self.writer = writer

    def __enter__(self):
        return self

    def __call__(self, rows: list[tuple | None], hashes: list) -> None:
        writer = self.writer
        columns = writer.table_columns(rows, hashes)
        objs = [writer.model(**dict(zip((f.attname for f in writer.fields), values, strict=True)))
                for values in zip(*columns, strict=True)]
        writes.records_bulk_save(model=writer.model, new_objs=_as_tokens(writer, objs), changed_objs=[],
                                 update_fields=[])

    def __exit__(self, kind, exc, traceback):
        return False


def _as_tokens(writer: _Writer, objs: list) -> list:
    for field in writer.fields:
        if getattr(field, "encrypted", False):
            for obj in objs:
                value = getattr(obj, field.attname)
                if value not in (None, ""):
                    setattr(obj, field.attname, Ciphertext(value))
    return objs
