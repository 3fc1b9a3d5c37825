"""Erasure rate: the engine vs a naive per-object loop vs a hand-written raw SQL floor (issue 5, req. 10).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_erasure .venv/bin/python bench/erasure.py --members 20000

Seeds ``--members`` members (every fifth an institution with a profile and two related persons), each
with 3 identity documents with small encrypted files, 5 device records, 20 transaction records, a
verification, a payment instrument, a guardian, a consent event and state, and simple-history rows
for everything that keeps history (two versions of each member). Loaded with COPY into
``bench_erasure``, then kept as the template database ``bench_erasure_seed`` with a copy of the
media directory, so every method starts from exactly the same data:

1. **engine**: ``retention.erasure.runner.erase_members`` in chunks of ``--chunk-size``. The queries of one
   chunk are counted at two chunk sizes first (they must be equal), then the rest is timed.
2. **raw SQL floor**: the same UPDATE/DELETE statements written by hand (``= ANY(%s)`` per chunk,
   one transaction per chunk, file names to the outbox and files deleted after commit by a pool of
   ``retention.outbox.DRAIN_THREADS`` threads while the next chunk runs, as the engine's claimer
   does, one erasure record per member) - what the engine cannot beat. It skips what the engine adds: the legal-hold
   and eligibility re-selection, the per-member counts, admin log entries and member-number copies.
3. **naive loop**: the same data map applied object by object: per member and per model (history
   included), fetch every row and ``delete()``/``save()`` it through the ORM (simple-history then
   writes a history row per deleted object, which the loop deletes too). Timed on
   ``--naive-sample`` members and extrapolated to the full set (it says so).

Each method works on its own copy of the database and media; they take turns chunk by chunk (engine
chunk, floor chunk, a few naive members) so that a busy, shared machine slows them alike.

Targets: engine >= 50x the naive loop, engine time <= 3x the raw floor, constant queries per chunk.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_erasure")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-erasure-media"))

from _common import setup, timer
from erasure_seed import (  # noqa: F401  (the other erasure benches use them through this module)
    MEDIA_SEED,
    NUMBER_PREFIX,
    SEED_DB_SUFFIX,
    _admin,
    _clone,
    _seed_exists,
    member_ids,
    seed,
)


# --- The three methods ----------------------------------------------------------------------------
def run_engine(ids: list[int], chunk_size: int) -> None:
    from retention.choices import ErasureTrigger
    from retention.erasure import runner

    result = runner.erase_members(member_ids=ids, trigger=ErasureTrigger.CANCELLATION, chunk_size=chunk_size)
    assert len(result.erased) == len(ids) and not result.failed, (len(result.erased), result.failed)


def engine_queries(ids: list[int]) -> int:
    """Queries of one engine chunk of ``ids`` (the file drain after commit is counted apart)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from retention import outbox

    drain = outbox.drain
    outbox.drain = lambda **kwargs: 0
    try:
        with CaptureQueriesContext(connection) as ctx:
            run_engine(ids, chunk_size=len(ids))
    finally:
        outbox.drain = drain
    drain()  # two queries per 2,000 files, after the chunk has committed
    return len(ctx.captured_queries)


FLOOR_DELETES = (
    # children first, as the foreign keys require
    "accounts_historicalidentitydocument", "accounts_identitydocument",
    "accounts_historicalrelatedperson", "accounts_relatedperson",
    "accounts_historicalinstitutionprofile", "accounts_institutionprofile",
    "accounts_historicalverification", "accounts_verification",
    "accounts_historicalpaymentinstrument", "accounts_paymentinstrument",
    "accounts_devicerecord",
    "consents_consentstate", "consents_consentevent", "consents_reconsentnotice", "consents_smsreply",
    "consents_historicalguardian", "consents_guardian",
)
TOKEN_SQL = "substr(replace(gen_random_uuid()::text, '-', ''), 1, 32)"  # noqa: S105 - SQL, not a secret
SCRUB = (f"legal_name = {TOKEN_SQL}, local_name = {TOKEN_SQL}, nationality = '', date_of_birth = NULL, "
         "email = '', email_bidx = NULL, phone = '', phone_bidx = NULL")


def run_floor(ids: list[int], chunk_size: int) -> None:
    """The same changes as the engine, as hand-written SQL: the floor nothing can beat."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import IdentityDocument
    from accounts.privacy.storage import protected_storage
    from retention import outbox
    from retention.erasure.records import subject_hash
    from retention.erasure.tombstones import new_tombstone_number

    # The engine's claimer deletes a chunk's files in the background (``outbox.BackgroundDrain``,
    # ``outbox.DRAIN_THREADS`` threads) while the next chunk runs; the floor does the same, so it
    # stays an honest floor: its unlinks go to a pool of as many threads while it runs the next
    # chunk, and it marks a chunk's outbox rows done (in this thread) once they are gone.
    pool = ThreadPoolExecutor(max_workers=outbox.DRAIN_THREADS)
    unlinking = None  # the previous chunk's (results, files)

    def mark_done(results, files) -> None:
        list(results)  # waits for that chunk's unlinks
        with connection.cursor() as cursor:
            cursor.execute("UPDATE retention_filedeletionoutbox SET deleted_at = now() "
                           "WHERE deleted_at IS NULL AND storage_name = ANY(%s)", [files])

    for start in range(0, len(ids), chunk_size):
        part = ids[start : start + chunk_size]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('privacy.erasure', 'on', true)")
            cursor.execute("SELECT id, member_number FROM accounts_member WHERE id = ANY(%s) ORDER BY id FOR UPDATE",
                           [part])
            numbers = cursor.fetchall()
            cursor.execute("SELECT file FROM accounts_identitydocument WHERE member_id = ANY(%s) AND file <> '' "
                           "UNION SELECT file FROM accounts_historicalidentitydocument "
                           "WHERE member_id = ANY(%s) AND file <> ''", [part, part])
            files = [row[0] for row in cursor.fetchall()]
            cursor.execute("INSERT INTO retention_filedeletionoutbox (storage_name, created_at) "
                           "SELECT unnest(%s::text[]), now()", [files])
            for table in FLOOR_DELETES:
                cursor.execute(f"DELETE FROM {table} WHERE member_id = ANY(%s)", [part])
            cursor.execute("UPDATE accounts_transactionrecord SET counterparty_nickname = '' "  # encrypted: emptied
                           "WHERE member_id = ANY(%s)", [part])
            cursor.execute("DELETE FROM accounts_historicalmember_product_lines WHERE history_id IN "
                           "(SELECT history_id FROM accounts_historicalmember WHERE id = ANY(%s))", [part])
            new = [new_tombstone_number() for _ in numbers]
            pks = [pk for pk, _ in numbers]
            cursor.execute(f"UPDATE accounts_historicalmember h SET member_number = t.new, {SCRUB}, "
                           "history_change_reason = NULL FROM unnest(%s::bigint[], %s::text[]) AS t(id, new) "
                           "WHERE h.id = t.id", [pks, new])
            cursor.execute(f"UPDATE accounts_member m SET member_number = t.new, {SCRUB}, status = 'closed', "
                           "cancelled_at = coalesce(cancelled_at, now()) "
                           "FROM unnest(%s::bigint[], %s::text[]) AS t(id, new) WHERE m.id = t.id", [pks, new])
            now = timezone.now()
            cursor.execute("INSERT INTO retention_erasurerecord (subject_hash, trigger, counts, started_at, "
                           "finished_at, engine_version, request_reference) "
                           "SELECT unnest(%s::text[]), 'cancellation', '{}'::jsonb, %s, %s, '1', '' "
                           "ON CONFLICT DO NOTHING",
                           [[subject_hash(number) for _, number in numbers], now, now])
        if unlinking is not None:
            mark_done(*unlinking)
        unlinking = (pool.map(protected_storage.delete, files), files)
    if unlinking is not None:
        mark_done(*unlinking)
    pool.shutdown()
    assert not IdentityDocument.objects.filter(member_id__in=ids).exists()


KEEP = object()


def _naive_value(p, fp, tombstone: str):
    """What a per-object loop writes into one field of a kept row (Python tokens and dates), or ``KEEP``."""
    from django.db import models

    from accounts.privacy.datamap import Erasure

    f, action = fp.field, fp.action
    if action == Erasure.RETAIN_THEN_PSEUDONYMISE:
        return tombstone if (p.is_subject and fp.is_identifier) else KEEP
    if action == Erasure.GENERALISE_YEAR and not fp.encrypted:
        return "year" if isinstance(f, models.DateField) else KEEP
    if action == Erasure.TOKEN and fp.is_text and not fp.encrypted:
        return secrets.token_hex(16)[: f.max_length or 32]
    if fp.is_m2m or (fp.is_relation and not f.null):
        return KEEP
    if f.null:
        return None
    if isinstance(f, models.JSONField):
        return {}
    return "" if fp.is_text else KEEP


def run_naive(ids: list[int]) -> None:
    """A first attempt: the same data map, applied object by object.

    For each member, for each model of the data map (children first, history included), every row
    is fetched and then ``delete()``d or changed and ``save()``d through the ORM: Django's collector
    and signals run, simple-history writes a row for every delete (deleted again when its history
    model's turn comes). Covers the same models as the engine; skips legal holds and retention.
    """
    import datetime as dt

    from django.db import connection, models, transaction
    from django.utils import timezone

    from accounts.models import Member
    from retention.erasure.plan import plan
    from retention.erasure.records import subject_hash
    from retention.erasure.tombstones import new_tombstone_number
    from retention.models import ErasureRecord

    plans = [p for p in plan() if not p.is_subject or p.is_history]
    member_plan = next(p for p in plan() if p.is_subject and not p.is_history)
    for pk in ids:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('privacy.erasure', 'on', true)")
            number = Member.objects.values_list("member_number", flat=True).get(pk=pk)
            tombstone = new_tombstone_number()
            started = timezone.now()
            for p in [*plans, member_plan]:
                for row in list(p.model._base_manager.filter(**{p.lookup: pk})):
                    if p.has_delete_row and not p.is_subject:
                        for fp in p.file_fields:
                            name = getattr(row, fp.name)
                            if name and hasattr(name, "delete"):
                                name.delete(save=False)
                        models.Model.delete(row)  # past the ledger's ORM guard, as the trigger allows
                        continue
                    for fp in p.fields:
                        value = _naive_value(p, fp, tombstone)
                        if value is KEEP:
                            continue
                        if value == "year":
                            current = getattr(row, fp.name)
                            value = current.replace(month=1, day=1) if current else current
                        setattr(row, fp.name, value)
                    if p is member_plan:
                        row.status = "closed"
                        row.cancelled_at = row.cancelled_at or dt.datetime.now(dt.UTC)
                    row.save()
            ErasureRecord.objects.create(subject_hash=subject_hash(number), trigger="cancellation",
                                         counts={}, started_at=started, finished_at=timezone.now(),
                                         engine_version="naive")


# --- Main -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--reuse-seed", action="store_true", help="Keep the seeded template from a previous run.")
    parser.add_argument("--limit", type=int, default=None, help="Erase only this many members (a quick look).")
    args = parser.parse_args()

    setup()
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType

    from retention.erasure.plan import plan

    work = settings.DATABASES["default"]["NAME"]
    template = work + SEED_DB_SUFFIX
    if not (args.reuse_seed and _seed_exists(template) and MEDIA_SEED.exists()):
        with timer() as t:
            seed(args.members)
        print(f"seeded {args.members:,} members in {t['seconds']:.1f} s", flush=True)
        _clone(work, template)

    # Three copies of the same data, one per method, each with its own media directory.
    media = Path(settings.MEDIA_ROOT)
    copies = {"engine": (work, media), "floor": (work + "_floor", Path(f"{media}-floor")),
              "naive": (work + "_naive", Path(f"{media}-naive"))}
    for name, folder in copies.values():
        _clone(template, name)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(MEDIA_SEED, folder)

    with _using(*copies["engine"]):
        ids = member_ids()
        ContentType.objects.get_for_models(*[p.model for p in plan()], for_concrete_models=False)  # process cache
        warm, second = ids[: args.chunk_size], ids[args.chunk_size : args.chunk_size + 50]
        queries_full = engine_queries(warm)
        queries_small = engine_queries(second)
    rest = ids[args.chunk_size + 50 :][: args.limit]
    chunks = [rest[i : i + args.chunk_size] for i in range(0, len(rest), args.chunk_size)]
    sample = rest[: args.naive_sample]
    per_round = -(-len(sample) // len(chunks))

    # The machine is shared: the methods take turns, chunk by chunk, so they meet the same load.
    seconds = {"engine": 0.0, "floor": 0.0, "naive": 0.0}
    from accounts.progress import progress

    with progress(total=len(chunks), desc="engine / floor / naive, in turns", unit="chunk") as bar:
        for index, part in enumerate(chunks):
            for method, work_on in (("engine", lambda p=part: run_engine(p, args.chunk_size)),
                                    ("floor", lambda p=part: run_floor(p, args.chunk_size)),
                                    ("naive", lambda i=index: run_naive(sample[i * per_round : (i + 1) * per_round]))):
                with _using(*copies[method]):
                    start = time.perf_counter()
                    work_on()
                    seconds[method] += time.perf_counter() - start
            bar.update(1)

    n = len(rest)
    engine_rate, floor_rate = n / seconds["engine"], n / seconds["floor"]
    naive_rate = len(sample) / seconds["naive"]
    naive_seconds = n / naive_rate
    print()
    print(f"Erasure of {n:,} members (of {len(ids):,} seeded; chunks of {args.chunk_size}; each member with "
          "3 documents + files, 5 devices, 20 transactions, consents, history; every 5th an institution)")
    print(f"  engine              {engine_rate:10,.0f} members/s   {seconds['engine']:8.1f} s")
    print(f"  raw SQL floor       {floor_rate:10,.0f} members/s   {seconds['floor']:8.1f} s")
    print(f"  naive object loop   {naive_rate:10,.1f} members/s   {naive_seconds:8.1f} s  (measured on "
          f"{len(sample)} members, extrapolated to {n:,})")
    print(f"  engine vs naive     {engine_rate / naive_rate:10,.0f}x faster   (target >= 50x)")
    print(f"  engine vs floor     {seconds['engine'] / seconds['floor']:10,.2f}x the floor's time (target <= 3x)")
    print(f"  queries per chunk   {queries_full} for {len(warm)} members, {queries_small} for {len(second)} members"
          f" ({'constant' if queries_full == queries_small else 'NOT constant'}; {len(plan())} models in the plan;"
          " + 2 per 2,000 files for the drain after commit)")
    _close_wrappers()
    for name, folder in list(copies.values())[1:]:
        _drop(name)
        shutil.rmtree(folder, ignore_errors=True)
    _clone(template, work)  # leave the working database seeded for the next look


_WRAPPERS: dict = {}


@contextmanager
def _using(database: str, media: Path):
    """Point the default connection and the media root at one method's copy.

    Each copy keeps its own open connection (as a worker does), so taking turns costs no reconnect
    and no cold catalog caches in the server.
    """
    from django.db import connections
    from django.test.utils import override_settings

    wrapper = _WRAPPERS.get(database)
    if wrapper is None:
        current = connections["default"]
        wrapper = current.__class__({**current.settings_dict, "NAME": database}, alias="default")
        _WRAPPERS[database] = wrapper
    connections._connections.default = wrapper
    with override_settings(MEDIA_ROOT=str(media)):
        wrapper.ensure_connection()
        yield


def _close_wrappers() -> None:
    for wrapper in _WRAPPERS.values():
        wrapper.close()
    _WRAPPERS.clear()


def _drop(name: str) -> None:
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with _admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
