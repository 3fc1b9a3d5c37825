"""The erasure engine (PP-02, PP-29, PP-33, PP-37, PP-42; design decision 5).

``erase_members`` makes members' personal data unrecoverable everywhere the back office keeps it,
as the data map (``accounts.datamap``) says, field by field:

========================  ===================================================================
data-map action           what the engine does
========================  ===================================================================
DELETE_ROW                the row is deleted (children first, see *Order* below)
SET_NULL                  NULL, or ``""`` for a column that is not nullable
TOKEN                     a fresh random token per row, generated **by the database**
                          (PostgreSQL ``gen_random_uuid()``, SQLite ``randomblob()``, both
                          from a CSPRNG) in the same UPDATE: random, never derived from the
                          value, no per-row statement. Encrypted columns are emptied instead
                          (a random non-ciphertext would no longer decrypt). The member
                          number becomes ``X`` + 15 random hex characters the same way; the
                          new numbers are read back (``RETURNING`` on PostgreSQL) and copied
                          into the member's history rows and the references to it.
GENERALISE_YEAR           dates become 1 January of their year; a plain year column is kept;
                          an encrypted date is emptied (its plain year companion stays)
RETAIN_THEN_PSEUDONYMISE  kept while the legal retention of its category runs
                          (``settings.LEGAL_RETENTION_DAYS``, counted from the closure date);
                          the row is detached from the person: the member row becomes a
                          *tombstone* (random member number, status closed, no identity), so
                          transaction records keep amounts and times and point at the
                          tombstone. Once the retention has passed - or at once for the
                          under-14 trigger, which has no retention exception - the value is
                          anonymised in place: nullable -> NULL, dates -> year, free text ->
                          token, choices and amounts kept, links kept (to the tombstone);
                          rows that also declare DELETE_ROW are deleted instead.
DELETE_FILE               the file name goes to the outbox (``retention.outbox``) in the same
                          transaction, the column is emptied (or the row deleted), and the
                          outbox is drained after commit and by every later run.
========================  ===================================================================

It reaches live rows, simple-history rows (``Historical*`` and their many-to-many history),
many-to-many link rows, files (live *and* older versions named only in history), admin
``LogEntry`` rows of the erased objects (their object label and change message are emptied),
copies of the member number kept as text elsewhere (any ``member_number`` column, e.g. the access
log and erasure-run items, is rewritten to the tombstone's number) and cache keys registered with
``register_cache_keys``.

**Set-based.** Per chunk of members (``ERASURE_CHUNK_SIZE``), each model gets at most one
``UPDATE``/``DELETE`` per retention group (running / passed / catch-up). The rows changed per
member (for the erasure records) and the names of deleted files come back with the statement
itself (``RETURNING``) on PostgreSQL when the member id is a column of the table; otherwise (SQLite,
or a subject path through a join) a ``GROUP BY`` count runs first and the statement is skipped
when there is nothing to change. The number of queries per chunk depends on the number of models,
never on the number of members or rows (``tests/retention/test_engine.py`` asserts it; for the
current data map of 33 models, 33 queries per chunk on PostgreSQL, plus two per 2,000 files for
the drain after commit). One query first asks which models hold any row of the chunk's members,
so models with nothing to change cost no statement.

**Order.** Models are processed children first: a model that has a foreign key to another model in
the plan goes before it, so a subject path through a parent (``request__member``) is followed
before the parent's link is nulled, and ``PROTECT`` children are gone before their parent. Rows
are deleted with one raw ``DELETE`` (no per-object collector, no signals, so simple-history writes
no new history row holding the old values); Django's ``on_delete`` is emulated set-based for
rows that still point at them (``CASCADE`` deletes, ``SET_NULL`` nulls, ``PROTECT`` fails the
member with a clear error).

**Transactions, locks, crashes.** Each chunk is one transaction: it locks its members
(``retention.locks``), re-selects them (``eligible``), skips members under an active legal hold,
erases, writes one ``ErasureRecord`` per erased member and the run's item statuses, and commits.
A killed worker therefore leaves every member either untouched or fully erased, and a rerun
finishes the job. On PostgreSQL the chunk runs ``set_config('privacy.erasure', 'on', true)`` so
the consent ledger's append-only trigger lets it delete the member's consent events.

**Idempotent.** An erased member is a tombstone; running the engine on it again changes nothing
(no counts, no second erasure record), except once its retention has passed: the tombstone keeps
its closure date (``cancelled_at``) while something is retained, and ``expire_retention`` (a job to
schedule) anonymises the retained rows once the longest legal retention period has passed and
clears that date (*catch-up*; it happens once).

**Failures.** A chunk that fails is retried member by member, so one member's failure never
stops the others; ``EngineResult.failed`` maps each failed member number to a clear error naming
the model and the reason, never a value.

``retention`` imports ``accounts`` only: every other app's data is reached through the data map.
"""

from __future__ import annotations

import datetime
import json
import logging
import re
import secrets
import string
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache

from celery.exceptions import SoftTimeLimitExceeded
from django.apps import apps
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache as django_cache
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured, ValidationError
from django.db import DatabaseError, InterfaceError, NotSupportedError, connection, models, transaction
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.expressions import Expression, Func
from django.db.models.functions import Cast, Coalesce, Trunc
from django.db.models.query import QuerySet
from django.db.models.sql import subqueries as sql
from django.utils import timezone

from accounts import crypto
from accounts.choices import MemberStatus
from accounts.datamap import Category, Erasure, Personal, declaration, member_lookup
from accounts.models import Member
from retention import locks, outbox
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem, LegalHold

logger = logging.getLogger(__name__)

ENGINE_VERSION = "1"

#: A tombstone's member number: ``X`` and 15 random lower-case letters or digits (about 77 bits).
#: Real member numbers are ``M`` and digits, so a tombstone is recognisable and never collides.
TOMBSTONE_PREFIX = "X"
TOMBSTONE_LENGTH = 15
_TOMBSTONE_ALPHABET = string.ascii_lowercase + string.digits
_TOMBSTONE_RE = re.compile(rf"^{TOMBSTONE_PREFIX}[0-9a-z]{{{TOMBSTONE_LENGTH}}}$")
#: Random tokens written by the database: 32 hex characters (128 bits) or the column's length.
TOKEN_LENGTH = 32


@dataclass
class EngineResult:
    """What one call of ``erase_members`` did (or, in a dry run, would do).

    ``erased`` holds the *original* member numbers of the members erased now: report them, do not
    store them (after the erasure they are personal data nobody should keep).
    """

    erased: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add_counts(self, counts: dict[str, int]) -> None:
        for label, n in counts.items():
            if n:
                self.counts[label] = self.counts.get(label, 0) + n

    def merge(self, other: EngineResult) -> None:
        self.erased.extend(other.erased)
        self.held.extend(other.held)
        self.skipped.extend(other.skipped)
        self.failed.update(other.failed)
        self.add_counts(other.counts)


class ErasureError(Exception):
    """A member could not be erased; the message names the model and the reason, never a value."""


# --- Keyed hash, tombstones -------------------------------------------------------------------------
def subject_hash(member_number: str) -> str:
    """Keyed hash (HMAC-SHA256 under ``BLIND_INDEX_KEY``) of a member number, for erasure records."""
    return crypto.blind_index("erasure", member_number)


def was_erased(member_number: str) -> bool:
    """Whether a member with this number was erased (PP-02), answered without keeping the number."""
    return ErasureRecord.objects.filter(subject_hash=subject_hash(member_number)).exists()


def is_tombstone_number(member_number: str) -> bool:
    return bool(_TOMBSTONE_RE.match(member_number or ""))


def new_tombstone_number() -> str:
    """A tombstone number drawn in Python (hand-written tools; the engine draws them in SQL)."""
    return TOMBSTONE_PREFIX + "".join(secrets.choice(_TOMBSTONE_ALPHABET) for _ in range(TOMBSTONE_LENGTH))


# --- Cache keys ------------------------------------------------------------------------------------
_CACHE_KEY_BUILDERS: list[Callable[[dict[int, str]], Iterable[str]]] = []


def register_cache_keys(builder: Callable[[dict[int, str]], Iterable[str]]) -> Callable:
    """Register ``builder(members)`` -> cache keys holding data of ``members`` ({pk: member number}).

    The engine deletes those keys after each chunk commits. No app caches member data today; an
    app that starts to must register its keys here (from its ``AppConfig.ready``).
    """
    if builder not in _CACHE_KEY_BUILDERS:
        _CACHE_KEY_BUILDERS.append(builder)
    return builder


def unregister_cache_keys(builder: Callable) -> None:
    if builder in _CACHE_KEY_BUILDERS:
        _CACHE_KEY_BUILDERS.remove(builder)


# --- Database expressions --------------------------------------------------------------------------
class RandomToken(Expression):
    """A fresh random hex token per row, generated by the database's CSPRNG (never from the value)."""

    output_field = CharField()

    def __init__(self, length: int = TOKEN_LENGTH):
        super().__init__()
        self.length = max(1, min(length, TOKEN_LENGTH))

    def as_sql(self, compiler, connection):  # pragma: no cover - only the two supported databases
        raise NotSupportedError(f"Random tokens are not implemented for {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        # gen_random_uuid() draws from pg_strong_random(); 122 random bits per row.
        return "substr(replace(gen_random_uuid()::text, '-', ''), 1, %s)", [self.length]

    def as_sqlite(self, compiler, connection):
        return "substr(lower(hex(randomblob(16))), 1, %s)", [self.length]


# --- The plan: what to do with every model about members --------------------------------------------
@dataclass(frozen=True)
class FieldPlan:
    name: str  # the field's name on the model (history models keep the base model's names)
    personal: Personal
    field: models.Field  # this model's field
    base_field: models.Field  # the live model's field (history columns lose unique, FileField, …)

    @property
    def action(self) -> Erasure:
        return self.personal.erasure

    @property
    def is_relation(self) -> bool:
        return bool(self.field.is_relation) and not self.field.many_to_many

    @property
    def is_m2m(self) -> bool:
        return bool(self.field.many_to_many)

    @property
    def encrypted(self) -> bool:
        return bool(getattr(self.base_field, "encrypted", False))

    @property
    def is_text(self) -> bool:
        return isinstance(self.field, models.CharField | models.TextField | models.FileField)

    @property
    def is_identifier(self) -> bool:
        """A unique text column of the member row (the member number): what the tombstone replaces."""
        return bool(self.base_field.unique) and isinstance(self.base_field, models.CharField)


@dataclass(frozen=True)
class ModelPlan:
    model: type[models.Model]
    lookup: str  # path from this model to the member's primary key, for ``filter(<lookup>__in=ids)``
    is_history: bool
    is_subject: bool  # the member row itself (or its history)
    fields: tuple[FieldPlan, ...]
    #: Longest legal retention (days) of its RETAIN fields' categories; None: nothing retained.
    retention_days: int | None

    @property
    def label(self) -> str:
        return self.model._meta.label

    @property
    def has_delete_row(self) -> bool:
        return any(fp.action == Erasure.DELETE_ROW for fp in self.fields)

    @property
    def file_fields(self) -> tuple[FieldPlan, ...]:
        return tuple(fp for fp in self.fields if fp.action == Erasure.DELETE_FILE)

    def queryset(self, ids: Iterable[int]) -> QuerySet:
        return self.model._base_manager.filter(where_in(self.lookup, ids))


class _AnyOf(Func):
    """``<column> = ANY(%s)`` with one array parameter (PostgreSQL): an index scan per chunk.

    ``IN (%s, %s, …)`` binds one parameter per id, which costs more than the statement; and
    ``IN (SELECT unnest(…))`` tempts the planner into hashing the whole table.
    """

    output_field = models.BooleanField()
    conditional = True

    def __init__(self, lookup: str, values: list):
        super().__init__(F(lookup))
        self.values = values

    def as_sql(self, compiler, connection, **extra):
        column, params = compiler.compile(self.source_expressions[0])
        return f"{column} = ANY(%s)", (*params, self.values)


def where_in(lookup: str, values: Iterable) -> Q | _AnyOf:
    """A filter for ``<lookup> IN values``: one array parameter on PostgreSQL, a plain list elsewhere."""
    values = list(values)
    if connection.vendor == "postgresql":
        return _AnyOf(lookup, values)
    return Q(**{f"{lookup}__in": values})


def _history_base(model) -> type[models.Model] | None:
    if model.__name__.startswith("Historical"):
        return getattr(model, "instance_type", None)
    return None


def _is_m2m_history(model) -> bool:
    return any(f.name == "m2m_history_id" for f in model._meta.concrete_fields)


def _base_field(model, name: str) -> models.Field:
    base = _history_base(model)
    if base is not None and not _is_m2m_history(model):
        try:
            return base._meta.get_field(name)
        except FieldDoesNotExist:  # history-only columns (history_change_reason)
            return model._meta.get_field(name)
    return model._meta.get_field(name)


def _retention_days(fields: Iterable[FieldPlan]) -> int | None:
    categories = {fp.personal.category for fp in fields if fp.action == Erasure.RETAIN_THEN_PSEUDONYMISE}
    if not categories:
        return None
    periods = settings.LEGAL_RETENTION_DAYS
    return max(int(periods.get(str(category), 0)) for category in categories)


def _build_plan() -> list[ModelPlan]:
    plans = []
    for model in apps.get_models():
        dm = declaration(model)
        if dm is None or not dm.subject or not dm.personal:
            continue
        fields = tuple(
            FieldPlan(name=name, personal=personal, field=model._meta.get_field(name),
                      base_field=_base_field(model, name))
            for name, personal in dm.personal.items()
        )
        base = _history_base(model)
        is_history = base is not None
        is_subject = dm.subject == "self"
        plans.append(
            ModelPlan(
                model=model,
                lookup=member_lookup(model, dm.subject),
                is_history=is_history,
                is_subject=is_subject,
                fields=fields,
                retention_days=_retention_days(fields),
            )
        )
    return _children_first(plans)


def _children_first(plans: list[ModelPlan]) -> list[ModelPlan]:
    """Order plans so a model comes before every model it has a foreign key to (Kahn's algorithm)."""
    by_model = {p.model: p for p in plans}
    referrers: dict[type, set[type]] = {p.model: set() for p in plans}
    for p in plans:
        for f in p.model._meta.concrete_fields:
            target = f.related_model if f.is_relation else None
            if target in by_model and target is not p.model:
                referrers[target].add(p.model)
    ordered: list[ModelPlan] = []
    done: set[type] = set()
    remaining = sorted(plans, key=lambda p: p.label)
    while remaining:
        ready = [p for p in remaining if referrers[p.model] <= done]
        if not ready:  # a cycle: deferred constraints (PostgreSQL, SQLite) still hold at commit
            ready = remaining[:1]
        for p in ready:
            ordered.append(p)
            done.add(p.model)
        remaining = [p for p in remaining if p.model not in done]
    return ordered


@cache
def plan() -> tuple[ModelPlan, ...]:
    """Every model about members with what erasure does to it, children first (cached per process)."""
    built = tuple(_build_plan())
    problems = _problems(built)
    if problems:
        raise ImproperlyConfigured("The data map asks the erasure engine for the impossible: " + "; ".join(problems))
    return built


def plan_problems() -> list[str]:
    """Declarations the engine cannot honour (e.g. SET_NULL on a required date); the suite asserts none."""
    return _problems(tuple(_build_plan()))


def _problems(plans: Iterable[ModelPlan]) -> list[str]:
    found = []
    for p in plans:
        if p.is_history:
            continue
        kept = not p.has_delete_row or p.retention_days
        for fp in p.fields:
            if not kept or fp.action in (Erasure.DELETE_ROW, Erasure.RETAIN_THEN_PSEUDONYMISE):
                continue
            if _assignment(p, fp, "erase") is _IMPOSSIBLE:
                found.append(f"{p.label}.{fp.name} is declared {fp.action.label!r} but cannot be emptied")
    return found


@cache
def _member_number_references() -> tuple[tuple[type[models.Model], str | None], ...]:
    """Models keeping a member number as text (a ``member_number`` column) other than the member row.

    With each, the name of its foreign key to the member if it has one: rows are then found through
    that indexed key (erasure-run items), otherwise by the number itself (the access log's index).
    """
    found = []
    for model in apps.get_models():
        if model is Member or _history_base(model) is Member:
            continue
        try:
            f = model._meta.get_field("member_number")
        except FieldDoesNotExist:
            continue
        if not (isinstance(f, models.CharField) and f.concrete):
            continue
        link = next(
            (fk.name for fk in model._meta.concrete_fields
             if fk.is_relation and fk.related_model is Member and not fk.many_to_many),
            None,
        )
        found.append((model, link))
    return tuple(sorted(found, key=lambda pair: pair[0]._meta.label))


@cache
def _reverse_relations(model) -> tuple:
    """Foreign keys of other models pointing at ``model`` whose ``on_delete`` needs emulating."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
            continue
        if rel.on_delete is models.DO_NOTHING or not rel.field.concrete:
            continue
        found.append(rel)
    return tuple(found)


# --- Per-field assignments --------------------------------------------------------------------------
_IMPOSSIBLE = object()
_SKIP = object()
_CLEAR_M2M = object()
_TOMBSTONE = object()  # the member number becomes the tombstone's number
_CLOSURE = object()  # the closure date is kept (set to now if the member never cancelled)


def _empty(fp: FieldPlan):
    if fp.is_m2m:
        return _CLEAR_M2M
    if fp.field.null:
        return None
    if fp.is_text:
        return ""
    if isinstance(fp.field, models.JSONField):
        default = fp.field.get_default()
        return default if default in ({}, []) else {}
    return _IMPOSSIBLE


def _token(fp: FieldPlan):
    if fp.is_m2m or fp.is_relation or fp.encrypted:
        return _empty(fp)
    if fp.is_text:
        return RandomToken(fp.field.max_length or TOKEN_LENGTH)
    return _empty(fp)


def _year(fp: FieldPlan):
    if fp.encrypted:
        return _empty(fp)
    if isinstance(fp.field, models.DateTimeField):
        return Trunc(fp.name, "year", output_field=models.DateTimeField())
    if isinstance(fp.field, models.DateField):
        return Trunc(fp.name, "year", output_field=models.DateField())
    if isinstance(fp.field, models.IntegerField):
        return _SKIP  # already a year
    return _empty(fp)


def _retained_value_expired(fp: FieldPlan):
    """A retained value once its retention has passed: anonymised in place."""
    if fp.is_relation:
        return _SKIP  # a link to the tombstone (or to a detached parent) identifies nobody
    if fp.is_m2m:
        return _CLEAR_M2M
    if fp.field.null:
        return None
    if isinstance(fp.field, models.DateField):  # DateTimeField too
        return _year(fp)
    if fp.is_text and not fp.base_field.choices:
        return _token(fp)
    return _SKIP  # choices, amounts, quantities: not identifying once detached


def _assignment(p: ModelPlan, fp: FieldPlan, mode: str):
    """What ``UPDATE`` writes into ``fp`` for rows kept in ``mode``; ``_SKIP`` leaves it as is.

    Modes: ``erase`` (no retention declared), ``running`` (retention still runs), ``expired``
    (retention passed or none for the trigger), ``catchup`` (a tombstone whose retention passed).
    """
    action = fp.action
    if mode == "catchup" and action != Erasure.RETAIN_THEN_PSEUDONYMISE:
        return _SKIP  # done at the first erasure
    if action == Erasure.RETAIN_THEN_PSEUDONYMISE:
        if p.is_subject and fp.is_identifier:
            return _SKIP if mode == "catchup" else _TOMBSTONE
        if mode == "running":
            return _CLOSURE if (p.is_subject and not p.is_history and fp.name == "cancelled_at") else _SKIP
        return _retained_value_expired(fp)
    if action == Erasure.DELETE_ROW:  # on a row kept for a running retention
        if fp.is_relation:
            return _SKIP
        value = _empty(fp)
        return _SKIP if value is _IMPOSSIBLE else value
    if action == Erasure.SET_NULL:
        return _empty(fp)
    if action == Erasure.TOKEN:
        return _token(fp)
    if action == Erasure.GENERALISE_YEAR:
        return _year(fp)
    if action == Erasure.DELETE_FILE:
        return _empty(fp)
    return _IMPOSSIBLE  # pragma: no cover - a new action must be taught to the engine


# --- One chunk --------------------------------------------------------------------------------------
@dataclass
class _Chunk:
    trigger: str
    now: datetime.datetime
    fresh: dict[int, str]  # pk -> original member number, to erase now
    closure: dict[int, datetime.datetime]  # pk -> closure date (cancelled_at or now)
    catchup: list[int]  # tombstones whose retention has passed
    tombstones: dict[int, str] = field(default_factory=dict)  # pk -> new member number
    per_member: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    totals: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    current: str = ""

    def split(self, days: int | None) -> tuple[list[int], list[int]]:
        """Fresh members whose retention of ``days`` still runs, and those for whom it has passed."""
        if not days or self.trigger == ErasureTrigger.UNDER_14:
            return [], sorted(self.fresh)
        limit = self.now - datetime.timedelta(days=days)
        running = sorted(pk for pk in self.fresh if self.closure[pk] > limit)
        expired = sorted(pk for pk in self.fresh if self.closure[pk] <= limit)
        return running, expired

    def add(self, label: str, by_member: dict[int, int]) -> int:
        total = 0
        for pk, n in by_member.items():
            if pk is None or not n:
                continue
            counts = self.per_member[pk]
            counts[label] = counts.get(label, 0) + n
            total += n
        if total:
            self.totals[label] = self.totals.get(label, 0) + total
        return total


def _count(chunk: _Chunk, model, qs: QuerySet, lookup: str) -> int:
    """One GROUP BY: rows per member of ``qs``, credited to those members."""
    chunk.current = model._meta.label
    rows = qs.order_by().values_list(lookup).annotate(n=Count("pk"))
    return chunk.add(model._meta.label, dict(rows))


def _collect_files(chunk: _Chunk, model, qs: QuerySet, names: Iterable[str]) -> None:
    for name in names:
        values = qs.exclude(**{name: ""}).exclude(**{f"{name}__isnull": True}).values_list(name, flat=True)
        chunk.files.extend(outbox.entry_name(model, name, value) for value in values.order_by())


def _local_column(model, lookup: str) -> str | None:
    """The column of ``model``'s own table that holds the member id, if the lookup needs no join."""
    if lookup == "pk":
        return model._meta.pk.column
    if "__" in lookup:
        return None
    try:
        return model._meta.get_field(lookup).column
    except FieldDoesNotExist:
        return None


def _returning(qs: QuerySet, kind: str, changes: dict | None, columns: list[str]) -> list[tuple]:
    """PostgreSQL: run the ORM's own DELETE/UPDATE of ``qs`` with ``RETURNING columns``, in one statement.

    The SQL is compiled by Django exactly as ``_raw_delete``/``update`` would run it; only the
    ``RETURNING`` clause is added, so the rows changed per member (and the file names of deleted
    rows) come back without a separate counting query.
    """
    if kind == "delete":
        query = qs.query.clone()
        query.__class__ = sql.DeleteQuery
    else:
        query = qs.query.chain(sql.UpdateQuery)
        query.add_update_values(changes)
    statement, params = query.get_compiler(qs.db).as_sql()
    returning = ", ".join(connection.ops.quote_name(c) for c in columns)
    with connection.cursor() as cursor:
        cursor.execute(f"{statement} RETURNING {returning}", params)
        return cursor.fetchall()


def _execute(chunk: _Chunk, model, qs: QuerySet, lookup: str, kind: str, changes: dict | None = None,
             file_names: Iterable[str] = ()) -> int:
    """Delete or update the rows of ``qs``, credit the rows per member, queue the files; returns the rows.

    On PostgreSQL, when the member id is a column of the table, one statement with ``RETURNING``;
    otherwise a ``GROUP BY`` count first (the statement is skipped when there is nothing to change).
    """
    chunk.current = model._meta.label
    file_names = list(file_names)
    column = _local_column(model, lookup)
    if connection.vendor == "postgresql" and column and not (kind == "update" and file_names):
        files = [model._meta.get_field(name).column for name in file_names]
        rows = _returning(qs, kind, changes, [column, *files])
        by_member: dict[int, int] = defaultdict(int)
        for row in rows:
            by_member[row[0]] += 1
            for name, value in zip(file_names, row[1:], strict=True):
                if value:
                    chunk.files.append(outbox.entry_name(model, name, value))
        return chunk.add(model._meta.label, by_member)
    total = _count(chunk, model, qs, lookup)
    if total:
        _collect_files(chunk, model, qs, file_names)
        if kind == "delete":
            qs._raw_delete(qs.db)
        else:
            qs.update(**changes)
    return total


def _delete(chunk: _Chunk, model, qs: QuerySet, lookup: str, file_names: Iterable[str] = ()) -> int:
    """Delete the rows of ``qs`` with one raw DELETE, emulating ``on_delete`` for rows pointing at them."""
    chunk.current = model._meta.label
    for rel in _reverse_relations(model):
        child = rel.related_model
        child_qs = child._base_manager.filter(**{f"{rel.field.name}__in": qs.values("pk")})
        child_lookup = f"{rel.field.name}__{lookup}"
        if rel.on_delete is models.CASCADE:
            # Usually the child was erased already (children go first): probe before deleting.
            chunk.current = child._meta.label
            if qs.filter(Exists(child._base_manager.filter(**{rel.field.name: OuterRef("pk")}))).exists():
                files = [f.name for f in child._meta.concrete_fields if isinstance(f, models.FileField)]
                _delete(chunk, child, child_qs, child_lookup, files)
        elif rel.on_delete is models.SET_NULL:
            _execute(chunk, child, child_qs, child_lookup, "update", {rel.field.name: None})
        elif rel.on_delete in (models.PROTECT, models.RESTRICT):
            chunk.current = child._meta.label
            # Driven from this member's (few) rows, probing the child's foreign-key index: asked the
            # other way round with LIMIT 1, the planner scans the whole child table when none match.
            referenced = Exists(child._base_manager.filter(**{rel.field.name: OuterRef("pk")}))
            if qs.filter(referenced).exists():
                raise ErasureError(
                    f"{model._meta.label}: rows are still referenced by {child._meta.label} "
                    f"({rel.field.name}, protected) and do not belong to this member"
                )
        else:
            raise ErasureError(f"{child._meta.label}.{rel.field.name}: on_delete rule not supported by the engine")
    return _execute(chunk, model, qs, lookup, "delete", file_names=file_names)


class TombstoneNumber(Expression):
    """A tombstone's member number, drawn per row by the database's CSPRNG: ``X`` + 15 hex characters."""

    output_field = CharField()

    def as_sql(self, compiler, connection):  # pragma: no cover - only the two supported databases
        raise NotSupportedError(f"Tombstone numbers are not implemented for {connection.vendor}.")

    def as_postgresql(self, compiler, connection):
        return "%s || substr(replace(gen_random_uuid()::text, '-', ''), 1, %s)", [TOMBSTONE_PREFIX, TOMBSTONE_LENGTH]

    def as_sqlite(self, compiler, connection):
        return "%s || substr(lower(hex(randomblob(8))), 1, %s)", [TOMBSTONE_PREFIX, TOMBSTONE_LENGTH]


def _apply(chunk: _Chunk, p: ModelPlan, ids: list[int], mode: str) -> None:
    """Apply ``p`` to the rows of members ``ids`` in ``mode`` (see ``_assignment``)."""
    if not ids:
        return
    chunk.current = p.label
    qs = p.queryset(ids)
    # DELETE_ROW wins unless the row is kept for a retention that still runs; the member row never goes.
    delete = not p.is_subject and p.has_delete_row and mode != "running"
    files = [fp.name for fp in p.file_fields] if mode != "catchup" else []
    if delete:
        _delete(chunk, p.model, qs, p.lookup, files)
        return

    changes: dict[str, object] = {}
    clear: list[FieldPlan] = []
    tombstone_field = None
    for fp in p.fields:
        value = _assignment(p, fp, mode)
        if value is _SKIP:
            continue
        if value is _IMPOSSIBLE:
            raise ErasureError(f"{p.label}.{fp.name}: cannot be emptied ({fp.action.label})")
        if value is _CLEAR_M2M:
            clear.append(fp)
        elif value is _TOMBSTONE:
            tombstone_field = fp.name
            if p.is_history:
                # The live row was done first: its history takes the same tombstone number.
                changes[fp.name] = Subquery(Member._base_manager.filter(pk=OuterRef(p.lookup)).values(fp.name)[:1])
            else:
                changes[fp.name] = TombstoneNumber()
        elif value is _CLOSURE:
            changes[fp.name] = Coalesce(F(fp.name), Value(chunk.now), output_field=models.DateTimeField())
        else:
            changes[fp.name] = value
    live_subject = p.is_subject and not p.is_history
    if live_subject and mode != "catchup":
        changes["status"] = MemberStatus.CLOSED
    if live_subject and mode == "catchup":
        changes["cancelled_at"] = None  # marks the catch-up as done

    for fp in clear:
        through = fp.field.remote_field.through
        source = fp.field.m2m_field_name()
        links = through._base_manager.filter(**{f"{source}__in": qs.values("pk")})
        _execute(chunk, through, links, f"{source}__{p.lookup}", "delete")
    if not changes:
        return
    if live_subject and tombstone_field and connection.vendor == "postgresql":
        chunk.current = p.label
        columns = [Member._meta.pk.column, Member._meta.get_field(tombstone_field).column]
        rows = _returning(qs, "update", changes, columns)
        chunk.tombstones.update(rows)
        chunk.add(p.label, {pk: 1 for pk, _number in rows})
        return
    _execute(chunk, p.model, qs, p.lookup, "update", changes, files)
    if live_subject and tombstone_field:
        chunk.tombstones.update(qs.values_list("pk", tombstone_field))


def _scrub_log_entries(chunk: _Chunk, plans: Iterable[ModelPlan]) -> None:
    """Admin log entries of the erased objects lose their object label and change message.

    One cheap query first (an index probe per content type) finds the content types that have log
    entries at all; only those are searched for the chunk's objects.
    """
    chunk.current = LogEntry._meta.label
    dm = declaration(LogEntry)
    changes = {}
    for name, personal in (dm.personal.items() if dm else ()):
        if personal.category == Category.STAFF:
            continue  # the staff user who acted is not the member's data
        f = LogEntry._meta.get_field(name)
        changes[name] = None if f.null else ""
    if not changes:
        return
    live = [p for p in plans if not p.is_history and not _is_m2m_history(p.model)]
    types = ContentType.objects.get_for_models(*[p.model for p in live], for_concrete_models=False)
    logged = set(
        ContentType.objects.filter(pk__in=[t.pk for t in types.values()])
        .filter(Exists(LogEntry.objects.filter(content_type=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    live = [p for p in live if types[p.model].pk in logged]
    if not live:
        return
    ids = sorted(chunk.fresh)
    condition = Q()
    for p in live:
        keys = p.queryset(ids).annotate(_key=Cast("pk", TextField())).values("_key")
        condition |= Q(content_type=types[p.model], object_id__in=keys)
    unchanged = Q(**{name: value for name, value in changes.items()})
    hits = list(LogEntry.objects.filter(condition).exclude(unchanged).values_list("pk", "content_type_id", "object_id"))
    if not hits:
        return
    by_type: dict[int, list[str]] = defaultdict(list)
    for _pk, type_id, object_id in hits:
        by_type[type_id].append(object_id)
    plan_by_type = {types[p.model].pk: p for p in live}
    per_member: dict[int, int] = defaultdict(int)
    for type_id, object_ids in by_type.items():
        p = plan_by_type[type_id]
        owner = dict(p.model._base_manager.filter(pk__in=object_ids).values_list("pk", p.lookup))
        for object_id in object_ids:
            per_member[owner.get(p.model._meta.pk.to_python(object_id))] += 1
    chunk.add(LogEntry._meta.label, per_member)
    LogEntry.objects.filter(pk__in=[h[0] for h in hits]).update(**changes)


def _rewrite_member_numbers(chunk: _Chunk) -> None:
    """Copies of the member number elsewhere (access log, run items, …) follow the tombstone."""
    if not chunk.tombstones:
        return
    old_to_new = {chunk.fresh[pk]: new for pk, new in chunk.tombstones.items()}
    owner = {chunk.fresh[pk]: pk for pk in chunk.tombstones}
    for model, link in _member_number_references():
        chunk.current = model._meta.label
        if link:
            qs = model._base_manager.filter(where_in(link, sorted(chunk.tombstones)))
            new = Subquery(Member._base_manager.filter(pk=OuterRef(link)).values("member_number")[:1])
            _execute(chunk, model, qs, link, "update", {"member_number": new})
            continue
        qs = model._base_manager.filter(where_in("member_number", old_to_new))
        by_number = dict(qs.order_by().values_list("member_number").annotate(n=Count("pk")))
        if not chunk.add(model._meta.label, {owner[number]: n for number, n in by_number.items()}):
            continue
        whens = [When(member_number=old, then=Value(old_to_new[old])) for old in by_number]
        qs.update(member_number=Case(*whens, default=F("member_number"), output_field=CharField()))


#: Above this many bound parameters the presence probe is skipped (PostgreSQL allows 65,535).
_PROBE_MAX_PARAMS = 30_000


def _present(plans: Iterable[ModelPlan], ids: list[int]) -> set[type[models.Model]]:
    """The models that hold any row of these members, in one query (``EXISTS`` per model).

    Lets the chunk skip every statement of a model with nothing to change (most members have no
    requests, SMS replies or holds), instead of one round trip per model to find out. On PostgreSQL
    the statement is compiled once per process: only its array parameter changes.
    """
    plans = tuple(plans)
    if not ids:
        return set()
    if connection.vendor == "postgresql":
        statement, slots = _probe_statement(plans)
        params = [ids] * slots
    else:
        if len(ids) * len(plans) > _PROBE_MAX_PARAMS:
            return {p.model for p in plans}
        statement, params = _probe_sql(plans, ids)
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return {plans[row[0]].model for row in cursor.fetchall()}


def _probe_sql(plans: tuple[ModelPlan, ...], ids) -> tuple[str, list]:
    parts, params = [], []
    for index, p in enumerate(plans):
        statement, values = p.queryset(ids).order_by().values("pk")[:1].query.sql_with_params()
        parts.append(f"SELECT {index} WHERE EXISTS ({statement})")
        params.extend(values)
    return " UNION ALL ".join(parts), params


@cache
def _probe_statement(plans: tuple[ModelPlan, ...]) -> tuple[str, int]:
    marker = [-424242]  # an id no row has: every parameter must be this array, nothing else
    statement, params = _probe_sql(plans, marker)
    if not all(value == marker for value in params):  # pragma: no cover - a lookup with extra parameters
        raise ImproperlyConfigured("The presence probe expects one array parameter per model.")
    return statement, len(params)


def _erase_chunk(chunk: _Chunk) -> None:
    plans = plan()
    if chunk.fresh:
        _scrub_log_entries(chunk, plans)
    chunk.current = "presence probe"
    present = _present(plans, sorted({*chunk.fresh, *chunk.catchup}))
    # The member rows first: their new (tombstone) numbers are copied into history and references.
    # Nothing else depends on the member row's values: every other model is found by member id.
    ordered = [p for p in plans if p.is_subject and not p.is_history]
    ordered += [p for p in plans if p not in ordered and p.model in present]
    for p in ordered:
        if p.retention_days is None:
            _apply(chunk, p, sorted(chunk.fresh), "erase")
            continue
        running, expired = chunk.split(p.retention_days)
        _apply(chunk, p, running, "running")
        _apply(chunk, p, expired, "expired")
        _apply(chunk, p, chunk.catchup, "catchup")
    _rewrite_member_numbers(chunk)
    chunk.current = "retention.FileDeletionOutbox"
    if chunk.files:
        outbox.enqueue(chunk.files)


# --- Driving the chunks ------------------------------------------------------------------------------
def _active_holds(member_ids: list[int], today: datetime.date) -> set[int]:
    if not member_ids:
        return set()
    return set(
        LegalHold.objects.filter(where_in("member_id", member_ids), released_at__isnull=True, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .values_list("member_id", flat=True)
        .distinct()
    )


def _max_retention_days() -> int:
    days = [p.retention_days for p in plan() if p.retention_days is not None]
    return max(days, default=0)


def _set_ledger_erasure(on: bool) -> None:
    # PP-02 outranks the ledger's permanence: the consent ledger's trigger (consents migration 0003)
    # lets this transaction delete the member's consent events. Plain SQL: retention never imports
    # consents. Switched off again at the end so it never leaks into an outer transaction.
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('privacy.erasure', %s, true)", ["on" if on else "off"])


def _describe(exc: BaseException, current: str) -> str:
    """A clear error without values: the model, and the kind of refusal."""
    if isinstance(exc, ErasureError):
        return str(exc)
    if isinstance(exc, DatabaseError):
        diag = getattr(exc.__cause__, "diag", None)
        table = getattr(diag, "table_name", None)
        model_label = current
        if table:
            for model in apps.get_models():
                if model._meta.db_table == table:
                    model_label = model._meta.label
        constraint = getattr(diag, "constraint_name", None)
        state = getattr(exc.__cause__, "sqlstate", None)
        detail = ", ".join(x for x in (f"SQLSTATE {state}" if state else "", f"constraint {constraint}"
                                       if constraint else "") if x)
        return f"{model_label or 'database'}: the database refused the change ({type(exc).__name__}" + (
            f"; {detail})" if detail else ")")
    return f"{current or 'engine'}: {type(exc).__name__}"


@dataclass
class _ChunkOutcome:
    erased: dict[int, str] = field(default_factory=dict)
    held: dict[int, str] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    tombstones: dict[int, str] = field(default_factory=dict)
    files: bool = False
    cache_members: dict[int, str] = field(default_factory=dict)


def _process_chunk(
    ids: list[int],
    *,
    trigger: str,
    run: ErasureRun | None,
    request_reference: str,
    dry_run: bool,
    eligible,
    now: datetime.datetime,
) -> _ChunkOutcome:
    outcome = _ChunkOutcome()
    started = timezone.now()
    chunk = _Chunk(trigger=trigger, now=now, fresh={}, closure={}, catchup=[])
    try:
        with transaction.atomic():
            _set_ledger_erasure(True)
            chunk.current = Member._meta.label
            rows = locks.lock_members(Member.objects.filter(where_in("pk", ids)))
            numbers = {pk: number for pk, number, _status, _cancelled in rows}
            if eligible is not None and rows:
                still = set(eligible(Member.objects.filter(where_in("pk", numbers))).values_list("pk", flat=True))
            else:
                still = set(numbers)
            held = _active_holds(sorted(still), timezone.localdate(now))
            retention_limit = now - datetime.timedelta(days=_max_retention_days())
            for pk, number, status, cancelled_at in rows:
                if pk not in still:
                    outcome.skipped[pk] = number
                elif pk in held:
                    outcome.held[pk] = number
                elif status == MemberStatus.CLOSED and is_tombstone_number(number):
                    outcome.skipped[pk] = number  # already erased; nothing more unless retention passed
                    if cancelled_at is not None and cancelled_at <= retention_limit:
                        chunk.catchup.append(pk)
                else:
                    chunk.fresh[pk] = number
                    chunk.closure[pk] = cancelled_at or now
            # Members locked by another run (skip_locked) are that run's: reported as skipped.
            missing = sorted(set(ids) - set(numbers))
            if missing:
                outcome.skipped.update(
                    dict(Member.objects.filter(pk__in=missing).values_list("pk", "member_number"))
                )
            if run is not None and numbers:
                _upsert_items(run, numbers)
            if chunk.fresh or chunk.catchup:
                _erase_chunk(chunk)
            outcome.erased = dict(chunk.fresh)
            outcome.tombstones = dict(chunk.tombstones)
            if chunk.fresh:
                chunk.current = ErasureRecord._meta.label
                _write_records(chunk, trigger=trigger, started=started, request_reference=request_reference, run=run)
            if run is not None:
                chunk.current = ErasureRun._meta.label
                _set_item_status(run, outcome.erased, ItemStatus.ERASED, now)
                _set_item_status(run, outcome.held, ItemStatus.HELD, now)
                _set_item_status(run, {pk: n for pk, n in outcome.skipped.items() if pk in numbers},
                                 ItemStatus.SKIPPED, now)
                _add_run_counts(run, chunk.totals)
            outcome.counts = dict(chunk.totals)
            outcome.files = bool(chunk.files)
            outcome.cache_members = {pk: chunk.fresh[pk] for pk in chunk.fresh}
            _set_ledger_erasure(False)
            if dry_run:
                transaction.set_rollback(True)
            else:
                transaction.on_commit(lambda: _after_commit(outcome))
    except (SoftTimeLimitExceeded, InterfaceError):
        raise
    except Exception as exc:
        raise _ChunkFailed(_describe(exc, chunk.current)) from exc
    return outcome


class _ChunkFailed(Exception):
    pass


def _write_records(chunk: _Chunk, *, trigger: str, started, request_reference: str, run) -> None:
    """One erasure record per member erased in the chunk; a re-erasure (after a restore) keeps the first."""
    finished = timezone.now()
    hashes = [subject_hash(number) for number in chunk.fresh.values()]
    counts = [dict(sorted(chunk.per_member.get(pk, {}).items())) for pk in chunk.fresh]
    if connection.vendor == "postgresql":
        meta = ErasureRecord._meta
        qn = connection.ops.quote_name
        column = {f.name: qn(f.column) for f in meta.concrete_fields}
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {qn(meta.db_table)} ({column['subject_hash']}, {column['counts']}, "  # noqa: S608
                f"{column['trigger']}, {column['started_at']}, {column['finished_at']}, "
                f"{column['engine_version']}, {column['request_reference']}, {column['run']}) "
                "SELECT h, c::jsonb, %s, %s, %s, %s, %s, %s FROM unnest(%s::text[], %s::text[]) AS t(h, c) "
                f"ON CONFLICT ({column['subject_hash']}) DO NOTHING",
                [trigger, started, finished, ENGINE_VERSION, request_reference, run.pk if run else None, hashes,
                 [json.dumps(c) for c in counts]],
            )
        return
    ErasureRecord.objects.bulk_create(
        [
            ErasureRecord(subject_hash=digest, trigger=trigger, counts=c, started_at=started, finished_at=finished,
                          engine_version=ENGINE_VERSION, request_reference=request_reference, run=run)
            for digest, c in zip(hashes, counts, strict=True)
        ],
        ignore_conflicts=True,
    )


def _after_commit(outcome: _ChunkOutcome) -> None:
    if outcome.files:
        outbox.drain()
    if outcome.cache_members and _CACHE_KEY_BUILDERS:
        keys = [key for builder in _CACHE_KEY_BUILDERS for key in builder(outcome.cache_members)]
        if keys:
            django_cache.delete_many(keys)


def _upsert_items(run: ErasureRun, numbers: dict[int, str]) -> None:
    ErasureRunItem.objects.bulk_create(
        [ErasureRunItem(run=run, member_id=pk, member_number=number) for pk, number in numbers.items()],
        ignore_conflicts=True,
    )


def _set_item_status(run: ErasureRun, members: dict[int, str], status: str, now, errors=None) -> None:
    if not members:
        return
    changes: dict[str, object] = {"status": status, "finished_at": now, "error": ""}
    if errors:
        changes["error"] = Case(
            *[When(member_id=pk, then=Value(errors[pk])) for pk in members], default=Value(""),
            output_field=TextField(),
        )
    ErasureRunItem.objects.filter(where_in("member_id", members), run=run).update(**changes)


def _add_run_counts(run: ErasureRun, counts: dict[str, int]) -> None:
    if not counts:
        return
    # Row lock: two workers finishing chunks of the same run must not lose each other's counts.
    current = ErasureRun.objects.select_for_update().filter(pk=run.pk).values_list("counts", flat=True).first() or {}
    merged = dict(current)
    for label, n in counts.items():
        merged[label] = merged.get(label, 0) + n
    ErasureRun.objects.filter(pk=run.pk).update(counts=dict(sorted(merged.items())))


def _record_failures(run: ErasureRun | None, failures: dict[int, tuple[str, str]], now) -> None:
    if run is None or not failures:
        return
    with transaction.atomic():
        _upsert_items(run, {pk: number for pk, (number, _e) in failures.items()})
        _set_item_status(run, {pk: number for pk, (number, _e) in failures.items()}, ItemStatus.FAILED, now,
                         errors={pk: error for pk, (_n, error) in failures.items()})


def erase_members(
    *,
    member_ids: Iterable[int],
    trigger: str,
    run: ErasureRun | None = None,
    request_reference: str = "",
    chunk_size: int | None = None,
    dry_run: bool = False,
    eligible: Callable[[QuerySet[Member]], QuerySet[Member]] | None = None,
    progress=None,
    now: datetime.datetime | None = None,
) -> EngineResult:
    """Erase ``member_ids`` chunk by chunk (PP-02); see the module docstring.

    - ``eligible(queryset)`` narrows a chunk's members *inside the lock* to those that still qualify
      (e.g. still cancelled); the others are reported as skipped. It must only filter.
    - ``run``: item statuses (erased / held / skipped / failed with its error) and counts are written
      to it in each chunk's transaction; its status goes to *running*, then *finished* (or *finished
      with failures*). A run that is prepared but not approved, or rejected, is refused (four eyes).
    - ``dry_run``: every chunk is executed and rolled back, so the result says exactly what would
      change; nothing is written, no file is deleted.
    - ``progress``: a tqdm-like bar (``.update(n)``) or a callable taking ``n``; advanced per chunk.
    """
    if trigger not in ErasureTrigger.values:
        raise ValueError(f"Unknown erasure trigger {trigger!r}.")
    if run is not None and not dry_run and run.status in (RunStatus.PREPARED, RunStatus.REJECTED):
        raise ValidationError(f"Erasure run #{run.pk} is {run.get_status_display().lower()}: it needs a "
                              "supervisor's approval before it can run.")
    plan()  # a bad declaration fails here, before anything is touched
    size = max(1, chunk_size or settings.ERASURE_CHUNK_SIZE)
    ids = sorted({int(pk) for pk in member_ids})
    advance = getattr(progress, "update", progress) if progress is not None else None
    result = EngineResult()
    if not dry_run and not connection.in_atomic_block:
        outbox.drain()  # files left by a run that died between its commit and its drain
    if run is not None and not dry_run:
        ErasureRun.objects.filter(pk=run.pk).update(
            status=RunStatus.RUNNING, started_at=Coalesce(F("started_at"), Value(timezone.now()))
        )
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        _run_part(part, result, trigger=trigger, run=run, request_reference=request_reference, dry_run=dry_run,
                  eligible=eligible, now=now or timezone.now())
        if advance is not None:
            advance(len(part))
    if run is not None and not dry_run:
        failed = ErasureRunItem.objects.filter(run=run, status=ItemStatus.FAILED).exists()
        ErasureRun.objects.filter(pk=run.pk).update(
            status=RunStatus.FINISHED_WITH_FAILURES if failed else RunStatus.FINISHED, finished_at=timezone.now()
        )
        run.refresh_from_db(fields=["status", "started_at", "finished_at", "counts"])
    return result


def _run_part(part: list[int], result: EngineResult, **options) -> None:
    """Run one chunk; when it fails, run its members one by one so the others are still erased."""
    try:
        outcome = _process_chunk(part, **options)
    except _ChunkFailed as exc:
        if len(part) > 1:
            for pk in part:
                _run_part([pk], result, **options)
            return
        number = Member.objects.filter(pk=part[0]).values_list("member_number", flat=True).first()
        if number is None:
            return
        error = str(exc)
        logger.warning("erasure of member %s failed: %s", number, error)
        result.failed[number] = error
        _record_failures(options["run"], {part[0]: (number, error)}, options["now"])
        return
    result.erased.extend(outcome.erased[pk] for pk in sorted(outcome.erased))
    result.held.extend(outcome.held[pk] for pk in sorted(outcome.held))
    result.skipped.extend(outcome.skipped[pk] for pk in sorted(outcome.skipped))
    result.add_counts(outcome.counts)


# --- Retention catch-up and re-application after a restore ------------------------------------------
def tombstones_due_for_retention(now: datetime.datetime | None = None) -> QuerySet[Member]:
    """Erased members (tombstones) whose longest legal retention has passed and is not yet applied."""
    now = now or timezone.now()
    limit = now - datetime.timedelta(days=_max_retention_days())
    return Member.objects.filter(
        status=MemberStatus.CLOSED, member_number__startswith=TOMBSTONE_PREFIX, cancelled_at__lte=limit
    )


def expire_retention(
    *, dry_run: bool = False, chunk_size: int | None = None, progress=None, now: datetime.datetime | None = None
) -> EngineResult:
    """Anonymise what tombstones kept for legal retention, once the retention has passed (PP-13)."""
    ids = list(tombstones_due_for_retention(now).order_by("pk").values_list("pk", flat=True))
    return erase_members(member_ids=ids, trigger=ErasureTrigger.CANCELLATION, chunk_size=chunk_size,
                         dry_run=dry_run, progress=progress, now=now)


@dataclass
class ReapplyResult:
    scanned: int
    matched: int
    engine: EngineResult


def erased_members_present(*, chunk_size: int = 2000, progress=None) -> dict[int, tuple[str, str]]:
    """Members whose keyed hash matches an erasure record: {pk: (trigger, request reference)}.

    Reads member numbers in primary-key chunks and asks for the matching records of each chunk with
    one ``IN`` query; nothing is decrypted, no row is fetched twice.
    """
    advance = getattr(progress, "update", progress) if progress is not None else None
    found: dict[int, tuple[str, str]] = {}
    last = 0
    while True:
        rows = list(
            Member.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "member_number")[:chunk_size]
        )
        if not rows:
            break
        last = rows[-1][0]
        hashes = {subject_hash(number): pk for pk, number in rows if not is_tombstone_number(number)}
        for digest, trigger, reference in ErasureRecord.objects.filter(subject_hash__in=list(hashes)).values_list(
            "subject_hash", "trigger", "request_reference"
        ):
            found[hashes[digest]] = (trigger, reference)
        if advance is not None:
            advance(len(rows))
    return found


def reapply_erasures(*, dry_run: bool = False, chunk_size: int | None = None, progress=None) -> ReapplyResult:
    """After a database restore, erase again every member an erasure record says was erased (PP-02)."""
    scan_progress = progress
    found = erased_members_present(progress=scan_progress)
    scanned = Member.objects.count()
    result = EngineResult()
    by_trigger: dict[tuple[str, str], list[int]] = defaultdict(list)
    for pk, key in found.items():
        by_trigger[key].append(pk)
    for (trigger, reference), ids in sorted(by_trigger.items()):
        result.merge(
            erase_members(member_ids=ids, trigger=trigger, request_reference=reference, chunk_size=chunk_size,
                          dry_run=dry_run)
        )
    return ReapplyResult(scanned=scanned, matched=len(found), engine=result)
