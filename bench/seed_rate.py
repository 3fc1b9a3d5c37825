"""Seeding rate: demo members per second, with all their rows (issue 3, requirement 13).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/seed_rate.py --members 100000

Runs ``accounts.members.seeding.seed.demo_members_seed`` (the code behind ``manage.py seed_demo --members N``):
bulk_create per model and chunk, encryption and blind indexes included. Starts from an empty member
table (``--keep`` to add to what is there; existing members are skipped, not counted as created).
``--workers 1`` (the default) is what ``seed_demo`` does; ``--workers 2`` splits the range between
two processes, as a loader on a two-core machine could.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from _common import BENCH_SEED, database_name, member_count, reset_members, setup, vacuum_analyze

ROW_KEYS = ("institutions", "related persons", "identity documents", "verifications", "payment instruments",
            "device records", "transactions")


def _worker(args) -> dict:
    first, last, seed, chunk = args
    from django.db import connections

    from accounts.members.seeding.seed import demo_members_seed

    try:
        return demo_members_seed(count=last, first=first, seed=seed, chunk_size=chunk)
    finally:
        connections.close_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--chunk-size", type=int, default=None, help="members per chunk (default: the seeder's)")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the range (default 1)")
    parser.add_argument("--keep", action="store_true", help="do not empty the member tables first")
    args = parser.parse_args()

    setup()
    from django.db import connections

    from accounts.members.seeding.reference import product_lines_ensure
    from accounts.members.seeding.seed import DEFAULT_CHUNK_SIZE, demo_members_seed
    from accounts.progress import progress

    if not args.keep:
        reset_members()
    before = member_count()
    chunk = args.chunk_size or DEFAULT_CHUNK_SIZE
    print(
        f"database {database_name()}: {before:,} members before; seeding {args.members:,} "
        f"(chunk {chunk}, workers {args.workers})",
        flush=True,
    )
    start = time.perf_counter()
    if args.workers == 1:
        with progress(total=args.members, desc="members", unit="member") as bar:
            counts = Counter(demo_members_seed(count=args.members, seed=args.seed, chunk_size=chunk, bar=bar))
    else:
        import multiprocessing

        product_lines_ensure()
        # Interleaved slices of 10 chunks, so both processes stay busy to the end.
        step = chunk * 10
        tasks = [(first, min(first + step - 1, args.members), args.seed, chunk)
                 for first in range(1, args.members + 1, step)]
        connections.close_all()  # no connection may cross a fork
        counts = Counter()
        with multiprocessing.get_context("fork").Pool(args.workers) as pool, progress(
            total=args.members, desc="members", unit="member"
        ) as bar:
            for (first, last, _, _), result in zip(tasks, pool.imap(_worker, tasks), strict=True):
                counts.update(result)
                bar.update(last - first + 1)
    seconds = time.perf_counter() - start
    created = counts["members created"]
    rows = created + sum(counts[key] for key in ROW_KEYS)
    vacuum_analyze()

    print()
    print(f"seed_rate: {args.members:,} demo members with all their rows, bulk_create in chunks, "
          f"{args.workers} process(es)")
    for key, value in counts.items():
        print(f"  {key:<22} {value:>12,}")
    print(f"  {'rows':<22} {rows:>12,}  (members, profiles, related persons, documents, verifications,")
    print(f"  {'':<22} {'':>12}   instruments, devices, transactions; product-line links not counted)")
    print(f"  elapsed                {seconds:>12.1f} s")
    print(f"  rate                   {created / seconds:>12,.0f} members/s")
    print(f"  rate                   {rows / seconds:>12,.0f} rows/s")
    print(f"  members now            {member_count():>12,}")


if __name__ == "__main__":
    main()
