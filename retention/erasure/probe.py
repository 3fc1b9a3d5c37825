"""The presence probe: which models hold any row of a chunk's members, in one query.

Most members have no requests, SMS replies or holds; asking every model costs one round trip
each. The probe asks all of them at once (``EXISTS`` per model, ``UNION ALL``), so the chunk runs
no statement for a model with nothing to change. On PostgreSQL the probe is compiled once per
process and the chunk's ids are sent **once**, as one array that every model's ``EXISTS`` reads
through a one-row CTE (``WITH chunk(ids) AS (SELECT %s::bigint[])``, then ``= ANY((SELECT ids
FROM chunk)::bigint[])``, the cast making it an array, not a set of rows). Sent once per model
(about 30 copies of 1,000 ids), the statement's text was ~150 kB and the planner estimated the
selectivity of every id of every copy: 25-50 ms of planning per chunk for 2-4 ms of execution
(``EXPLAIN (ANALYZE)``, bench/README.md section 12). An array read from a subquery is a parameter
to the planner, not a constant it walks; every model's ``EXISTS`` is still an index probe of its
member column. On SQLite, past ``_PROBE_MAX_PARAMS`` bound parameters, the probe is skipped and
every model is treated as present.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models

from retention.erasure.expressions import id_array
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
        statement = _probe_statement(plans)
        params = [id_array(ids)]
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
def _probe_statement(plans: tuple[ModelPlan, ...]) -> str:
    """The PostgreSQL probe with one parameter: the chunk's ids, read by every model from a CTE."""
    marker = [-424242]  # an id no row has: every parameter must be this array, nothing else
    statement, params = _probe_sql(plans, marker)
    if not all(value == id_array(marker) for value in params) or "%%" in statement:  # pragma: no cover
        raise ImproperlyConfigured("The presence probe expects one array parameter per model, and no literal %.")
    body = statement.replace("%s::bigint[]", "%s").replace("%s", "(SELECT ids FROM chunk)::bigint[]")  # an array
    return f"WITH chunk(ids) AS (SELECT %s::bigint[]) {body}"
