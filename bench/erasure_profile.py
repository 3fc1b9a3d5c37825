"""Profile of one erasure claimer: per-statement timing and cProfile over its chunks.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_i15_erasure \\
        .venv/bin/python bench/erasure_profile.py --members 5000 [--chunk-size 1000] [--cprofile 25]

Needs the seed of ``bench/erasure_workers.py`` (template ``<db>_seed`` and its media copy). Makes a
fresh copy of it (``<db>_prof``), an approved run over the first ``--members`` members, and runs the
claimer loop of the ``retention.erase_run_chunk`` task (``claims.erase_run_claimed``) in this
process with ``connection.execute_wrapper`` timing every statement. Prints the members per second,
the time per chunk, the statements grouped by their first words with their time per chunk, the
Python time (wall minus SQL) and, with ``--cprofile N``, cProfile's top N functions by own time.
Statement texts are printed, never their parameters (the seed is synthetic, but the habit holds).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_i15_erasure")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-i15-erasure-media"))

import erasure as base  # noqa: E402 - after the environment defaults it reads
from _common import setup  # noqa: E402


def _shape(sql: str) -> str:
    """A statement's first words, with literals and ANY arrays folded, to group its runs."""
    text = re.sub(r"\s+", " ", sql).strip()
    text = re.sub(r"'[^']*'", "'?'", text)
    return text[:150]


class Timer:
    def __init__(self, explain: str = "", chunks: int = 1) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.explain = re.compile(explain) if explain else None
        self.explained: dict[str, int] = defaultdict(int)
        self.chunks = chunks

    def __call__(self, execute, sql, params, many, context):
        if self.explain and not many and self.explain.search(sql) and self.explained[_shape(sql)] < self.chunks:
            # EXPLAIN (ANALYZE, BUFFERS) of the statement in a savepoint rolled back, then the statement.
            self.explained[_shape(sql)] += 1
            cursor = context["cursor"]
            cursor.execute("SAVEPOINT explain_profile")
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()), flush=True)
            cursor.execute("ROLLBACK TO SAVEPOINT explain_profile")
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = _shape(sql)
            self.seconds[key] += time.perf_counter() - started
            self.calls[key] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--chunk-size", type=int, default=0)
    parser.add_argument("--cprofile", type=int, default=0, help="Print cProfile's top N functions (own time).")
    parser.add_argument("--top", type=int, default=25, help="Statements to print.")
    parser.add_argument("--explain", default="", help="EXPLAIN (ANALYZE, BUFFERS) the statements matching this "
                        "regular expression (in a savepoint rolled back, before the statement runs).")
    parser.add_argument("--explain-chunks", type=int, default=1, help="Chunks whose statements are explained.")
    args = parser.parse_args()
    setup(migrate=False)
    from django.conf import settings
    from django.db import connection, connections

    size = args.chunk_size or settings.ERASURE_CHUNK_SIZE
    work = settings.DATABASES["default"]["NAME"]
    template = work + base.SEED_DB_SUFFIX
    if not base._seed_exists(template):
        sys.exit(f"no seed {template}: run bench/erasure_workers.py first")
    copy = work + "_prof"
    media = Path(f"{settings.MEDIA_ROOT}-prof")
    base._clone(template, copy)
    shutil.rmtree(media, ignore_errors=True)
    shutil.copytree(base.MEDIA_SEED, media)
    os.sync()
    load = os.getloadavg()
    with base._using(copy, media):
        import erasure_workers

        from retention.erasure.claims import erase_run_claimed

        ids = base.member_ids()[: args.members]
        run_id = erasure_workers._approved_run(ids)
        timer = Timer(args.explain, args.explain_chunks)
        profiler = cProfile.Profile() if args.cprofile else None
        started = time.perf_counter()
        with connection.execute_wrapper(timer):
            if profiler:
                profiler.enable()
            result = erase_run_claimed(run_id=run_id, chunk_size=size)
            if profiler:
                profiler.disable()
        wall = time.perf_counter() - started
    base._close_wrappers()
    connections.close_all()
    chunks = -(-len(ids) // size)
    sql = sum(timer.seconds.values())
    print(f"load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; after: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"{len(result.erased):,} members erased in {wall:.2f} s = {len(ids) / wall:,.0f} members/s; "
          f"{chunks} chunks of {size}: {wall / chunks * 1000:.0f} ms per chunk, SQL {sql / chunks * 1000:.0f} ms, "
          f"rest (Python, drain waits) {(wall - sql) / chunks * 1000:.0f} ms")
    print(f"{sum(timer.calls.values()) / chunks:.1f} statements per chunk; the heaviest (ms per chunk, calls):")
    for key in sorted(timer.seconds, key=timer.seconds.get, reverse=True)[: args.top]:
        print(f"  {timer.seconds[key] / chunks * 1000:8.1f}  {timer.calls[key]:5d}  {key}")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.cprofile)
    base._drop(copy)
    shutil.rmtree(media, ignore_errors=True)


if __name__ == "__main__":
    main()
