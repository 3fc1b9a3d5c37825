"""Shared by the benchmark scripts: Django set-up, the benchmark database, and a fast lean loader.

Not a test module and not imported by the application. Every script starts with::

    from _common import setup
    setup()

which points Django at ``config.settings`` (``DATABASE_URL`` must name a PostgreSQL database whose
name starts with ``bench``), creates that database when it is missing, migrates it, and turns query
logging off (``DEBUG`` stays on only so that the development keys are accepted).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench"
BENCH_SEED = 2026


def setup(*, migrate: bool = True) -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("DEBUG", "true")  # development keys only; query logging is switched off below
    os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-media"))
    import django

    django.setup()
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not is_bench_database(str(db["NAME"])):
        sys.exit(f"Benchmarks run on a PostgreSQL database named bench* or *_bench; DATABASE_URL names {db['NAME']!r}.")
    _create_database(db)
    # Measure what production runs: no query log in memory, no debug pages.
    settings.DEBUG = False
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def is_bench_database(name: str) -> bool:
    """Only a database named for benchmarks is emptied and refilled (``bench``, ``bench_desk``,
    ``wt_reminders_bench``, and a script's copies of one: ``wt_erasure_bench_floor``)."""
    return name.startswith("bench") or name.endswith("_bench") or "_bench_" in name


def _create_database(db: dict) -> None:
    import psycopg
    from psycopg import sql

    params = {
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone()
        if not exists:
            print(f"creating database {db['NAME']}", flush=True)
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))


def database_name() -> str:
    from django.conf import settings

    return settings.DATABASES["default"]["NAME"]


def vacuum_analyze() -> None:
    """Fresh planner statistics after a bulk load (autovacuum would get there, later)."""
    from django.db import connection

    with connection.cursor() as cursor:
        for table in ("accounts_member", "accounts_identitydocument", "accounts_member_product_lines",
                      "accounts_transactionrecord", "accounts_devicerecord"):
            cursor.execute(f"VACUUM ANALYZE {table}")


def reset_members() -> None:
    """Empty every table that hangs off members (bench databases only: checked by ``setup``)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_member, accounts_productline RESTART IDENTITY CASCADE")


@contextmanager
def timer():
    result = {}
    start = time.perf_counter()
    yield result
    result["seconds"] = time.perf_counter() - start


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of ``values``, interpolated between the two nearest (one value: itself)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes), as every bench prints them beside its figures."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


# --- The lean loader: members + one identity document each, through COPY ----------------------------
def _copy_columns(model) -> list:
    return [f for f in model._meta.concrete_fields if not f.primary_key]


def _copy(cursor, model, objects: list, connection) -> None:
    """COPY ``objects`` into ``model``'s table. Values go through each field's ``pre_save`` and
    ``get_db_prep_save``: blind indexes are computed and sensitive values encrypted exactly as
    ``save()`` and ``bulk_create`` do."""
    fields = _copy_columns(model)
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    statement = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({columns}) FROM STDIN"
    with cursor.copy(statement) as copy:
        for obj in objects:
            copy.write_row([f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields])


def _lean_chunk(first: int, last: int, seed: int, today) -> int:
    """Load members ``first``..``last`` that do not exist yet; one transaction per chunk."""
    from django.db import connection, transaction

    from accounts.members.seeding.plan import member_number
    from accounts.members.seeding.seed import iter_plans
    from accounts.models import IdentityDocument, Member, ProductLine

    numbers = (member_number(first), member_number(last))
    existing = set(Member.objects.filter(member_number__range=numbers).values_list("member_number", flat=True))
    plans = [p for p in iter_plans(start=first, stop=last + 1, seed=seed, today=today, lean=True)
             if p.member.member_number not in existing]
    if not plans:
        return 0
    lines = dict(ProductLine.objects.values_list("code", "pk"))
    with transaction.atomic(), connection.cursor() as wrapper:
        cursor = wrapper.cursor  # the psycopg cursor: COPY is not part of the DB-API
        _copy(cursor, Member, [p.member for p in plans], connection)
        ids = dict(Member.objects.filter(member_number__range=numbers).values_list("member_number", "pk"))
        documents = []
        through_rows = []
        for plan in plans:
            member_id = ids[plan.member.member_number]
            for document in plan.documents:
                document.member_id = member_id
                documents.append(document)
            through_rows.extend((member_id, lines[code]) for code in plan.product_lines)
        _copy(cursor, IdentityDocument, documents, connection)
        with cursor.copy("COPY accounts_member_product_lines (member_id, productline_id) FROM STDIN") as copy:
            for row in through_rows:
                copy.write_row(row)
    return len(plans)


def _lean_worker(args) -> int:
    first, last, seed, today = args
    from django.db import connections

    try:
        return _lean_chunk(first, last, seed, today)
    finally:
        connections.close_all()


def lean_fill(*, count: int, seed: int = BENCH_SEED, chunk: int = 5_000, workers: int = 2) -> tuple[int, float]:
    """Have demo members ``1..count`` (existing ones kept): lean rows for the missing ones.

    Returns (members created, seconds). Generation and encryption are CPU-bound Python: ``workers``
    processes share the chunks, each with its own connection.
    """
    import multiprocessing

    from django.db import connections
    from django.utils import timezone

    from accounts.members.seeding.reference import product_lines_ensure
    from accounts.progress import progress

    product_lines_ensure()
    today = timezone.localdate()
    tasks = [(first, min(first + chunk - 1, count), seed, today) for first in range(1, count + 1, chunk)]
    connections.close_all()  # no connection may cross a fork
    created = 0
    start = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(workers) as pool, progress(
        total=count, desc="lean members", unit="member"
    ) as bar:
        for (first, last, _, _), made in zip(tasks, pool.imap(_lean_worker, tasks), strict=True):
            created += made
            bar.update(last - first + 1)
    return created, time.perf_counter() - start


def member_count() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM accounts_member")
        return cursor.fetchone()[0]
