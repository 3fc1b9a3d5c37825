"""The plan: what erasure does to every model about members, and to each of its fields.

``plan()`` reads the data map (``accounts.privacy.datamap``) into one ``ModelPlan`` per model that declares
a subject (live models, simple-history rows and their many-to-many history), each with a
``FieldPlan`` per personal field, and orders them **children first**: a model that has a foreign
key to another model in the plan goes before it, so a subject path through a parent
(``request__member``) is followed before the parent's link is nulled, and ``PROTECT`` children are
gone before their parent. The plan is built once per process; a declaration the engine cannot
honour (e.g. SET_NULL on a required date) fails ``plan()`` before anything is touched.

``assignment`` decides, per field, what the UPDATE writes for rows kept in a retention *mode*
(``erase``, ``running``, ``expired``, ``catchup``), as the data map's action says:

========================  ===================================================================
data-map action           what the engine does
========================  ===================================================================
DELETE_ROW                the row is deleted (children first, see above)
SET_NULL                  NULL, or ``""`` for a column that is not nullable
TOKEN                     a fresh random token per row, generated **by the database**
                          (``expressions.RandomToken``) in the same UPDATE: random, never
                          derived from the value, no per-row statement. Encrypted columns are
                          emptied instead (a random non-ciphertext would no longer decrypt).
                          The member number becomes a tombstone number the same way
                          (``tombstones.TombstoneNumber``); the new numbers are read back and
                          copied into the member's history rows and the references to it.
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
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured
from django.db import models
from django.db.models.functions import Trunc
from django.db.models.query import QuerySet

from accounts.privacy.datamap import Erasure, Personal, declaration, member_lookup
from retention.erasure.expressions import TOKEN_LENGTH, RandomToken, where_in


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


def history_base(model) -> type[models.Model] | None:
    if model.__name__.startswith("Historical"):
        return getattr(model, "instance_type", None)
    return None


def is_m2m_history(model) -> bool:
    return any(f.name == "m2m_history_id" for f in model._meta.concrete_fields)


def _base_field(model, name: str) -> models.Field:
    base = history_base(model)
    if base is not None and not is_m2m_history(model):
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
        base = history_base(model)
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
            if assignment(p, fp, "erase") is IMPOSSIBLE:
                found.append(f"{p.label}.{fp.name} is declared {fp.action.label!r} but cannot be emptied")
    return found


def max_retention_days() -> int:
    """The longest legal retention (days) any planned model keeps rows for; 0 when none is retained."""
    days = [p.retention_days for p in plan() if p.retention_days is not None]
    return max(days, default=0)


# --- Per-field assignments --------------------------------------------------------------------------
IMPOSSIBLE = object()
SKIP = object()
CLEAR_M2M = object()
TOMBSTONE = object()  # the member number becomes the tombstone's number
CLOSURE = object()  # the closure date is kept (set to now if the member never cancelled)


def _empty(fp: FieldPlan):
    if fp.is_m2m:
        return CLEAR_M2M
    if fp.field.null:
        return None
    if fp.is_text:
        return ""
    if isinstance(fp.field, models.JSONField):
        default = fp.field.get_default()
        return default if default in ({}, []) else {}
    return IMPOSSIBLE


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
        return SKIP  # already a year
    return _empty(fp)


def _retained_value_expired(fp: FieldPlan):
    """A retained value once its retention has passed: anonymised in place."""
    if fp.is_relation:
        return SKIP  # a link to the tombstone (or to a detached parent) identifies nobody
    if fp.is_m2m:
        return CLEAR_M2M
    if fp.field.null:
        return None
    if isinstance(fp.field, models.DateField):  # DateTimeField too
        return _year(fp)
    if getattr(fp.base_field, "is_number", False):
        return SKIP  # an encrypted amount or quantity: kept, like a plain one
    if fp.is_text and not fp.base_field.choices:
        return _token(fp)
    return SKIP  # choices, amounts, quantities: not identifying once detached


def assignment(p: ModelPlan, fp: FieldPlan, mode: str):
    """What ``UPDATE`` writes into ``fp`` for rows kept in ``mode``; ``SKIP`` leaves it as is.

    Modes: ``erase`` (no retention declared), ``running`` (retention still runs), ``expired``
    (retention passed or none for the trigger), ``catchup`` (a tombstone whose retention passed).
    """
    action = fp.action
    if mode == "catchup" and action != Erasure.RETAIN_THEN_PSEUDONYMISE:
        return SKIP  # done at the first erasure
    if action == Erasure.RETAIN_THEN_PSEUDONYMISE:
        if p.is_subject and fp.is_identifier:
            return SKIP if mode == "catchup" else TOMBSTONE
        if mode == "running":
            return CLOSURE if (p.is_subject and not p.is_history and fp.name == "cancelled_at") else SKIP
        return _retained_value_expired(fp)
    if action == Erasure.DELETE_ROW:  # on a row kept for a running retention
        if fp.is_relation:
            return SKIP
        value = _empty(fp)
        return SKIP if value is IMPOSSIBLE else value
    if action == Erasure.SET_NULL:
        return _empty(fp)
    if action == Erasure.TOKEN:
        return _token(fp)
    if action == Erasure.GENERALISE_YEAR:
        return _year(fp)
    if action == Erasure.DELETE_FILE:
        return _empty(fp)
    return IMPOSSIBLE  # pragma: no cover - a new action must be taught to the engine

