"""The presence probe: which models hold any row of a chunk's members, in one query.

Most members have no requests, SMS replies or holds; asking every model costs one round trip
each. The probe asks all of them at once (``EXISTS`` per model, ``UNION ALL``), so the chunk runs
no statement for a model with nothing to change. On PostgreSQL the probe is compiled once per
process and only its array parameter changes; on SQLite, past ``_PROBE_MAX_PARAMS`` bound
parameters, it is skipped and every model is treated as present.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models

from retention.erasure.plan import ModelPlan

#: Above this many bound parameters the presence probe is skipped (PostgreSQL allows 65,535).
_PROBE_MAX_PARAMS = 30_000


def present_models(plans: Iterable[ModelPlan], ids: list[int]) -> set[type[models.Model]]:
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
