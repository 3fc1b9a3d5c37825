"""Import rate: rows/s of our import, real run and dry run, Python's peak memory, and the peer (issue 15, req. 2).

    .venv/bin/python bench/import_rate.py                      # database bench_import_rate
    .venv/bin/python bench/import_rate.py --members 20000 --transactions 100000 --peer-rows 5000
    .venv/bin/python bench/import_rate.py --members 20000 --transactions 0      # members only

The CSV files (the rows of ``bench/peers/import_vs_import_export.py``: individuals with a product
line, five orders a member) are written to a temporary folder and imported the way
``manage.py import_records`` does, streamed from disk (``records_import_file``):

- **real run**: members, then transactions, committed (timed);
- **dry run**: the same files again into an empty copy, rolled back (timed);
- **peak**: a dry run of each file under ``tracemalloc`` (not timed: tracing slows Python down),
  Python's peak allocation while importing, to compare with the file's size;
- **peer**: django-import-export's default path (``peer_resources``) on the first ``--peer-rows``
  rows of each file, in the same run, so the ratio holds whatever the machine's load.

The machine's load (``os.getloadavg``) is printed before and after. ``--transactions 0`` measures
the members only (no order file, no peer of orders).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/: _common and the benches
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_import_rate")

from _common import setup
from erasure import _clone, _close_wrappers, _drop, _using
from import_vs_import_export import (
    MEMBER_COLUMNS,
    SOURCE,
    TRANSACTION_COLUMNS,
    csv_bytes,
    member_rows,
    peer_resources,
    run_peer,
    transaction_rows,
)

LINE = "spot"  # the product line ``member_rows`` names (its orders take it, PP-19)


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def ours(resource_class, path: Path, *, dry_run: bool) -> tuple[float, int]:
    from accounts.members.spreadsheets import imports

    start = time.perf_counter()
    report = imports.records_import_file(resource_class=resource_class, path=path, file_format="csv",
                                         source=SOURCE, dry_run=dry_run)
    seconds = time.perf_counter() - start
    if report.problems:
        raise SystemExit(f"our import refused the file: {report.problems[:3]}")
    return seconds, report.new


def peak(resource_class, path: Path) -> int:
    tracemalloc.start()
    try:
        ours(resource_class, path, dry_run=True)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--transactions", type=int, default=100_000, help="0: the members only.")
    parser.add_argument("--peer-rows", type=int, default=5_000, help="Rows of each file the peer imports.")
    args = parser.parse_args()

    setup()
    from django.conf import settings
    from django.db import connection

    from accounts.members.spreadsheets.members import MemberResource
    from accounts.members.spreadsheets.transactions import TransactionRecordResource
    from accounts.models import ProductLine

    work = settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_member, accounts_historicalmember, accounts_importbatch, "
                       "accounts_historicalmember_product_lines, accounts_productline RESTART IDENTITY CASCADE")
    ProductLine.objects.create(code=LINE, name="Spot")
    dry_db, peer_db = work + "_dry", work + "_peer"
    _clone(work, dry_db)
    _clone(work, peer_db)

    members = member_rows(args.members)
    transactions = transaction_rows(args.transactions, args.members)
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    files = {"members": (MemberResource, folder / "members.csv", csv_bytes(MEMBER_COLUMNS, members))}
    if args.transactions:
        files["transactions"] = (TransactionRecordResource, folder / "transactions.csv",
                                 csv_bytes(TRANSACTION_COLUMNS, transactions))
    for _resource, path, content in files.values():
        path.write_bytes(content)
    print(f"load before: {load()}")

    figures = {}
    for kind, (resource_class, path, content) in files.items():
        with _using(work, Path(os.environ["MEDIA_ROOT"])):
            real = ours(resource_class, path, dry_run=False)
        with _using(dry_db, Path(os.environ["MEDIA_ROOT"])):
            if kind == "transactions":  # the dry run's orders need their members
                ours(MemberResource, files["members"][1], dry_run=False)
            dry = ours(resource_class, path, dry_run=True)
            peak_bytes = peak(resource_class, path)
        figures[kind] = (real, dry, peak_bytes, len(content))

    # The peer: the library's default path on the first rows of each file (members first).
    peers = peer_resources()  # its transaction resource finds orders by blind index
    peer_figures = {}
    with _using(peer_db, Path(os.environ["MEDIA_ROOT"])):
        sample = members[: args.peer_rows]
        numbers = {row[0] for row in sample}
        start = time.perf_counter()
        made = run_peer(peers["members"], csv_bytes(MEMBER_COLUMNS, sample))
        peer_figures["members"] = (time.perf_counter() - start, made)
        if args.transactions:
            rows = [row for row in transactions if row[0] in numbers][: args.peer_rows]
            start = time.perf_counter()
            made = run_peer(peers["transactions"], csv_bytes(TRANSACTION_COLUMNS, rows))
            peer_figures["transactions"] = (time.perf_counter() - start, made)
    print(f"load after: {load()}")

    print()
    header = (f"{'file':<13} {'rows':>8} {'real s':>7} {'real rows/s':>12} {'dry s':>7} {'dry rows/s':>11} "
              f"{'peak MiB':>9} {'file MiB':>9} {'peer rows/s':>12} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for kind, ((real_s, real_n), (dry_s, dry_n), peak_bytes, size) in figures.items():
        peer_s, peer_n = peer_figures[kind]
        peer_rate = peer_n / peer_s
        print(f"{kind:<13} {real_n:>8,} {real_s:>7.1f} {real_n / real_s:>12,.0f} "
              f"{dry_s:>7.1f} {dry_n / dry_s:>11,.0f} "
              f"{peak_bytes / 2**20:>9.1f} {size / 2**20:>9.1f} {peer_rate:>12,.0f} "
              f"{real_n / real_s / peer_rate:>5.1f}x")
    print(f"(peer measured on {args.peer_rows:,} rows of each file; peak = tracemalloc, dry run streamed from disk)")
    _close_wrappers()
    _drop(dry_db)
    _drop(peer_db)


if __name__ == "__main__":
    main()
