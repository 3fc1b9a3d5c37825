"""The access package vs Django's plain per-model serialisation of the same member (issue 15, req. 1).

    .venv/bin/python bench/peers/access_vs_serializers.py                  # database bench_peers_access
    .venv/bin/python bench/peers/access_vs_serializers.py --transactions 10 10000 100000 --repeat 3

The member is the one ``bench/access_package.py`` builds (``member_with``: that many transaction
records, 3 identity documents, a card, 200 device records, consents, an access request with 20
messages), made once per size in ``DATABASE_URL`` (default ``bench_peers_access``). Two ways to turn it
into a ZIP, taking turns ``--repeat`` times (ours, peer, ours, peer, ...):

- **ours**: ``requests_desk.access_package.package_content``: every data-map model of the member,
  only the fields the data map exports, with their labels and categories, JSON and CSV per category,
  streamed through temporary files into a ZIP;
- **peer**: for every model of the same export plan, ``django.core.serializers.serialize("json",
  queryset)`` of the member's rows (every concrete field, the default), one JSON file per model in a
  ZIP (deflated, as ours). This is what a plain "dump the member's rows" export does.

Printed per size and method: rows, median seconds, rows/s, queries, ZIP size, peak Python memory
(``tracemalloc``, one extra run each) and the ratio. What the peer leaves out or lets through is
listed at the end (it writes every column, including the blind indexes and staff foreign keys, and
no labels, categories, CSV or README).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _common and the benches
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_peers_access")

from access_package import bench_setup, member_with, officer  # bench/access_package.py


def peer_content(member) -> tuple[bytes, int]:
    """Django's serializer, one model at a time, the member's rows with every field."""
    from django.core import serializers

    from requests_desk.access_package import export_plan

    buffer = io.BytesIO()
    rows = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source in export_plan():
            queryset = source.model._base_manager.filter(**{source.lookup: member.pk}).order_by("pk")
            text = serializers.serialize("json", queryset)
            rows += text.count('"model": ')
            archive.writestr(f"{source.model._meta.label_lower}.json", text)
    return buffer.getvalue(), rows


def ours_content(member, reference: str) -> tuple[bytes, int]:
    from requests_desk.access_package import package_content

    content = package_content(member=member, reference=reference)
    return content.data, sum(content.records_per_model.values())


def measure(methods: dict, repeat: int) -> dict:
    """Each method ``repeat`` times in turns, then once each under tracemalloc."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    seconds = {name: [] for name in methods}
    result = {name: {} for name in methods}
    for _ in range(repeat):
        for name, run in methods.items():
            with CaptureQueriesContext(connection) as ctx:
                start = time.perf_counter()
                data, rows = run()
                seconds[name].append(time.perf_counter() - start)
            result[name].update(rows=rows, queries=len(ctx.captured_queries), zip_kb=len(data) / 1024)
    for name, run in methods.items():
        tracemalloc.start()
        run()
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result[name].update(seconds=statistics.median(seconds[name]), peak_mb=peak / (1024 * 1024))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bench_setup()
    from django.db import connection

    user = officer()
    print(f"database {connection.settings_dict['NAME']}; ours: package_content; peer: serializers.serialize('json') "
          "per model of the same export plan")
    header = (f"{'transactions':>12} {'method':<6} {'rows':>7} {'seconds':>8} {'rows/s':>9} {'queries':>8} "
              f"{'ZIP KiB':>8} {'peak MiB':>9} {'peer/ours time':>15}")
    print(header)
    print("-" * len(header))
    for size in args.transactions:
        member, request = member_with(size, user)
        r = measure({"ours": lambda m=member, ref=request.reference: ours_content(m, ref),
                     "peer": lambda m=member: peer_content(m)}, args.repeat)
        for name in ("ours", "peer"):
            x = r[name]
            ratio = f"{r['peer']['seconds'] / r['ours']['seconds']:.2f}x" if name == "peer" else ""
            print(f"{size:>12,} {name:<6} {x['rows']:>7,} {x['seconds']:>8.3f} {x['rows'] / x['seconds']:>9,.0f} "
                  f"{x['queries']:>8} {x['zip_kb']:>8.0f} {x['peak_mb']:>9.1f} {ratio:>15}")
    print()
    print("The peer writes every concrete column (blind indexes, staff and batch foreign keys, internal flags),")
    print("no labels or categories from the data map, no CSV, no README and no access-log or package row.")


if __name__ == "__main__":
    main()
