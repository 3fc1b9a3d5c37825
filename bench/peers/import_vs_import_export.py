"""Our import vs django-import-export's default path, on the same CSV rows (issue 15, req. 1).

    .venv/bin/python bench/peers/import_vs_import_export.py                          # database bench_peers_import
    .venv/bin/python bench/peers/import_vs_import_export.py --members 20000 --transactions 100000 \
        --peer-transactions 20000

One CSV of ``--members`` members (individuals: name, local name, nationality, date of birth, e-mail,
phone, status, registration time) and one of ``--transactions`` transaction records (5 a member by
default), made in memory from a fixed seed. Two copies of an empty, migrated database, one per method:

- **ours**: ``accounts.members.spreadsheets.imports.records_import`` with ``MemberResource`` /
  ``TransactionRecordResource`` (what ``manage.py import_records`` and the admin run): every row
  checked, all or nothing, existing keys loaded in one query per 5,000, ``bulk_create`` with the
  history rows in bulk, an ``ImportBatch`` with the source (PP-16);
- **peer**: a plain ``import_export.resources.ModelResource`` for ``Member`` (the same columns,
  ``import_id_fields = ["member_number"]``) and one for ``TransactionRecord`` (the member by
  ``ForeignKeyWidget(Member, "member_number")``), ``import_data(dataset, dry_run=False,
  use_transactions=True)``: the library's default path (one instance lookup and one ``save()`` a
  row; simple-history writes its history row per save).

The files are cut into ``--parts`` pieces and the methods take turns piece by piece (ours, peer,
ours, peer, ...), so a busy, shared machine slows them alike. By default the peer imports every member;
for transactions it imports ``--peer-transactions`` rows of the file (spread over the same
pieces) and its rate is extrapolated to the whole file, which the table says; ``--peer-members`` does
the same for members (the peer's transaction rows then name only members it imported).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _common and the benches
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_peers_import")

from _common import setup
from erasure import _clone, _close_wrappers, _drop, _using

SOURCE = "Bench import: Example Partner Ltd, data-sharing agreement DSA-BENCH-1"
MEMBER_COLUMNS = ("member_number", "kind", "status", "verification_level", "registered_at", "nationality",
                  "legal_name", "local_name", "date_of_birth", "email", "phone", "product_lines")
TRANSACTION_COLUMNS = ("member_number", "order_number", "order_time", "counterparty_nickname", "asset_type",
                       "quantity", "amount")


# --- The same rows for both ----------------------------------------------------------------------
def member_rows(count: int, seed: int = 15) -> list[tuple]:
    draw = random.Random(seed)
    rows = []
    for i in range(count):
        born = datetime.date(1950, 1, 1) + datetime.timedelta(days=draw.randrange(0, 365 * 50))
        rows.append((f"I{i:09d}", "individual", "active", "real_name",
                     f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} 10:{i % 60:02d}:00", draw.choice(("CN", "HK", "SG")),
                     f"Import Name {i}", f"导入 {i}", born.isoformat(), f"import{i}@mail.example",
                     f"+86 137 {i:08d}", "spot"))  # one product line: its orders take it (PP-19)
    return rows


def transaction_rows(count: int, members: int, seed: int = 15) -> list[tuple]:
    draw = random.Random(seed + 1)
    return [(f"I{i % members:09d}", f"T{i:010d}", f"2025-{1 + i % 12:02d}-{1 + i % 28:02d} 09:{i % 60:02d}:00",
             f"peer{draw.randrange(1000)}", draw.choice(("BTC", "ETH", "USDT")),
             f"{draw.randrange(1, 10_000) / 1000:.4f}", f"{draw.randrange(100, 1_000_000) / 100:.2f}")
            for i in range(count)]


def csv_bytes(columns: tuple, rows: list[tuple]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerows(rows)
    return out.getvalue().encode()


def parts(rows: list, n: int) -> list[list]:
    size = -(-len(rows) // n)
    return [rows[i : i + size] for i in range(0, len(rows), size)]


# --- The two methods -----------------------------------------------------------------------------
def peer_resources():
    """The plain resources a django-import-export user writes first."""
    from import_export import fields, resources, widgets

    from accounts.models import Member, ProductLine, TransactionRecord
    from accounts.privacy import crypto

    class PlainMemberResource(resources.ModelResource):
        product_lines = fields.Field(attribute="product_lines", column_name="product_lines",
                                     widget=widgets.ManyToManyWidget(ProductLine, field="code"))

        # The one declared field: the encrypted date is a text column to the library, whose default
        # widget would hand Member.save() a string.
        date_of_birth = fields.Field(attribute="date_of_birth", column_name="date_of_birth",
                                     widget=widgets.DateWidget("%Y-%m-%d"))

        class Meta:
            model = Member
            fields = MEMBER_COLUMNS
            import_id_fields = ["member_number"]

    class PlainTransactionResource(resources.ModelResource):
        member = fields.Field(attribute="member", column_name="member_number",
                              widget=widgets.ForeignKeyWidget(Member, "member_number"))

        class Meta:
            model = TransactionRecord
            fields = ("member", "order_number", "order_time", "counterparty_nickname", "asset_type", "quantity",
                      "amount")
            import_id_fields = ["order_number"]

        def get_instance(self, instance_loader, row):
            # The order number is encrypted since issue 14: the default per-row look-up by it is
            # refused, so the peer looks each row up by its blind index (still one query a row).
            return TransactionRecord.objects.filter(
                order_number_bidx=crypto.blind_index("order", row["order_number"])
            ).first()

    return {"members": PlainMemberResource, "transactions": PlainTransactionResource}


def run_peer(resource_class, content: bytes) -> int:
    import tablib

    dataset = tablib.Dataset().load(content.decode(), format="csv")
    result = resource_class().import_data(dataset, dry_run=False, use_transactions=True)
    if result.has_errors() or result.has_validation_errors():
        first = (result.base_errors or [e for row in result.error_rows for e in row.errors] or result.invalid_rows)[0]
        raise SystemExit(f"peer import failed: {getattr(first, 'error', first)!r} "
                         f"{getattr(first, 'traceback', '') or getattr(first, 'error_dict', '')}")
    return result.totals["new"]


def run_ours(resource_class, content: bytes) -> int:
    from accounts.members.spreadsheets import imports

    dataset = imports.dataset_from_file(content=content, file_name="records.csv")
    report = imports.records_import(resource_class=resource_class, dataset=dataset, source=SOURCE)
    if report.problems:
        raise SystemExit(f"our import refused the file: {report.problems[:3]}")
    return report.new


def timed(database: str, run, *args) -> tuple[float, int, int]:
    """Seconds, rows written and queries. Queries are counted by an execute wrapper: Django's
    ``CaptureQueriesContext`` keeps only the last 9,000, fewer than the peer sends for one piece."""
    from django.db import connection

    count = [0]

    def counter(execute, sql, params, many, context):
        count[0] += 1
        return execute(sql, params, many, context)

    with _using(database, Path(os.environ["MEDIA_ROOT"])), connection.execute_wrapper(counter):
        start = time.perf_counter()
        rows = run(*args)
        seconds = time.perf_counter() - start
    return seconds, rows, count[0]


def table_counts(database: str) -> tuple[int, int, int]:
    from accounts.models import Member, TransactionRecord

    with _using(database, Path(os.environ["MEDIA_ROOT"])):
        return (Member.objects.count(), TransactionRecord.objects.count(), Member.history.count())


# --- Main ----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--peer-members", type=int, default=20_000,
                        help="Members the peer imports (its rate is extrapolated to the file).")
    parser.add_argument("--peer-transactions", type=int, default=20_000,
                        help="Transaction rows the peer imports (its rate is extrapolated to the file).")
    parser.add_argument("--parts", type=int, default=5, help="Pieces per file; the methods take turns per piece.")
    args = parser.parse_args()

    setup()
    from django.conf import settings
    from django.db import connection

    from accounts.members.spreadsheets.members import MemberResource
    from accounts.members.spreadsheets.transactions import TransactionRecordResource
    from accounts.progress import progress

    work = settings.DATABASES["default"]["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_member, accounts_historicalmember, accounts_importbatch, "
                       "accounts_historicalmember_product_lines RESTART IDENTITY CASCADE")
        cursor.execute("INSERT INTO accounts_productline (code, name) VALUES ('spot', 'Spot') "
                       "ON CONFLICT (code) DO NOTHING")
    peer_db = work + "_peer"
    _clone(work, peer_db)
    peers = peer_resources()

    members = member_rows(args.members)
    transactions = transaction_rows(args.transactions, args.members)
    # The peer's sample: its first members of each piece, and transactions of members it has.
    peer_members = min(args.peer_members, args.members)
    peer_numbers = {row[0] for piece in parts(members, args.parts) for row in piece[: -(-peer_members // args.parts)]}
    per_piece = -(-min(args.peer_transactions, args.transactions) // args.parts)
    plan = [("members", MemberResource, peers["members"], MEMBER_COLUMNS, piece,
             [row for row in piece if row[0] in peer_numbers]) for piece in parts(members, args.parts)]
    plan += [("transactions", TransactionRecordResource, peers["transactions"], TRANSACTION_COLUMNS, piece,
              [row for row in piece if row[0] in peer_numbers][:per_piece])
             for piece in parts(transactions, args.parts)]

    totals = {(kind, method): [0.0, 0, 0] for kind in ("members", "transactions") for method in ("ours", "peer")}
    with progress(total=len(plan), desc="ours / import-export, in turns", unit="piece") as bar:
        for kind, ours_class, peer_class, columns, ours_rows, peer_rows in plan:
            for method, database, run, rows in (("ours", work, run_ours, ours_rows),
                                                ("peer", peer_db, run_peer, peer_rows)):
                klass = ours_class if method == "ours" else peer_class
                seconds, made, queries = timed(database, run, klass, csv_bytes(columns, rows))
                assert made == len(rows), (kind, method, made, len(rows))
                t = totals[(kind, method)]
                t[0], t[1], t[2] = t[0] + seconds, t[1] + made, t[2] + queries
            bar.update(1)

    counts = {"ours": table_counts(work), "peer": table_counts(peer_db)}
    print()
    print(f"Import of {args.members:,} members and {args.transactions:,} transaction records "
          f"(CSV, {args.parts} pieces each, turns interleaved)")
    header = f"{'file':<13} {'method':<22} {'rows':>8} {'seconds':>9} {'rows/s':>9} {'queries':>9} {'q/row':>6}"
    print(header)
    print("-" * len(header))
    for kind, total in (("members", args.members), ("transactions", args.transactions)):
        ours, peer = totals[(kind, "ours")], totals[(kind, "peer")]
        ours_rate, peer_rate = ours[1] / ours[0], peer[1] / peer[0]
        print(f"{kind:<13} {'ours (records_import)':<22} {ours[1]:>8,} {ours[0]:>9.1f} {ours_rate:>9,.0f} "
              f"{ours[2]:>9,} {ours[2] / ours[1]:>6.3f}")
        note = "" if peer[1] == total else f"   measured on {peer[1]:,} rows; {total / peer_rate:,.0f} s extrapolated"
        print(f"{kind:<13} {'import-export default':<22} {peer[1]:>8,} {peer[0]:>9.1f} {peer_rate:>9,.0f} "
              f"{peer[2]:>9,} {peer[2] / peer[1]:>6.3f}{note}")
        print(f"{kind:<13} {'ours / peer rows/s':<22} {ours_rate / peer_rate:>37.1f}x")
    print()
    for method, (m, t, h) in counts.items():
        print(f"  {method}: {m:,} members, {t:,} transaction records, {h:,} member history rows in the database")
    _close_wrappers()
    _drop(peer_db)


if __name__ == "__main__":
    main()
