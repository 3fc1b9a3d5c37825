"""Exact ID-number lookup: blind index vs decrypt-and-scan (issue 3, requirement 13; target >= 1000x).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/blind_index.py --members 100000
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench .venv/bin/python bench/blind_index.py --members 1000000

The database must hold demo members ``M000000001`` … ``M{N}``: missing ones are added by the lean
loader (member + one identity document each, COPY, two processes); members already there (e.g.
from ``seed_rate.py``) are kept. It refuses a database holding many more members than asked for.

- Blind index: ``IdentityDocument.objects.filter(number_bidx=blind_index("document", typed))``, i.e.
  an HMAC of the normalised number and one indexed equality. Timed for ``--lookups`` random members
  (median and 95th percentile), and through ``members_by_exact_value`` (the admin's search selector).
- Decrypt-and-scan: read every document number, decrypt it in Python (``from_db_value``), normalise
  and compare. Measured on the full table (no extrapolation), ``--scans`` times.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from _common import BENCH_SEED, database_name, lean_fill, median, member_count, ms, setup, vacuum_analyze


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=BENCH_SEED)
    parser.add_argument("--lookups", type=int, default=200, help="blind-index lookups to time")
    parser.add_argument("--scans", type=int, default=None, help="full decrypt-and-scan passes (default 3, 1 at 1M+)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the lean loader")
    args = parser.parse_args()
    scans = args.scans or (1 if args.members >= 1_000_000 else 3)

    setup()
    from django.utils import timezone

    from accounts.members.seeding.members import MemberGenerator
    from accounts.members.seeding.plan import member_number
    from accounts.members.selectors import members_by_exact_value
    from accounts.models import IdentityDocument, Member
    from accounts.privacy import crypto

    before = member_count()
    if before > args.members * 1.01:
        raise SystemExit(
            f"{database_name()} holds {before:,} members, more than --members {args.members:,}: "
            "use another database (or seed_rate.py, which starts from empty)."
        )
    print(f"database {database_name()}: {before:,} members", flush=True)
    if before < args.members:
        created, seconds = lean_fill(count=args.members, seed=args.seed, workers=args.workers)
        print(f"lean loader: {created:,} members + {created:,} documents in {seconds:.1f} s "
              f"({created / seconds:,.0f} members/s, COPY, {args.workers} processes)", flush=True)
        vacuum_analyze()
    members = member_count()
    documents = IdentityDocument.objects.count()
    numbered = IdentityDocument.objects.exclude(number_bidx=None).count()

    # Targets: random members' primary documents, regenerated from the seed (the generator is
    # deterministic), typed as a person would (lower case, a space in the middle).
    rng = random.Random(args.seed)
    generator = MemberGenerator(seed=args.seed, today=timezone.localdate())
    targets = []
    for index in rng.sample(range(1, args.members + 1), args.lookups):
        number = generator.plan(index, lean=True).documents[0].number
        typed = number.lower()
        targets.append((member_number(index), f"{typed[:4]} {typed[4:]}"))

    # Warm the connection and the index pages once, as a running site would have them.
    IdentityDocument.objects.filter(number_bidx=crypto.blind_index("document", targets[0][1])).exists()
    index_times, selector_times = [], []
    for expected, typed in targets:
        start = time.perf_counter()
        found = list(
            IdentityDocument.objects.filter(number_bidx=crypto.blind_index("document", typed)).values_list(
                "member__member_number", flat=True
            )
        )
        index_times.append(time.perf_counter() - start)
        assert expected in found, "the blind index missed a document"
    for expected, typed in targets[:50]:
        start = time.perf_counter()
        found = list(members_by_exact_value(typed).values_list("member_number", flat=True))
        selector_times.append(time.perf_counter() - start)
        assert expected in found, "members_by_exact_value missed a member"

    scan_times = []
    for expected, typed in targets[:scans]:
        wanted = crypto.normalise("document", typed)
        start = time.perf_counter()
        matches = []
        rows = IdentityDocument.objects.order_by().values_list("member_id", "number")
        for member_id, number in rows.iterator(chunk_size=20_000):  # decrypted by from_db_value
            if number and crypto.normalise("document", number) == wanted:
                matches.append(member_id)
        scan_times.append(time.perf_counter() - start)
        assert Member.objects.filter(pk__in=matches, member_number=expected).exists(), "the scan missed it"

    index_median = median(index_times)
    scan_median = median(scan_times)
    p95 = statistics.quantiles(index_times, n=20)[-1]
    print()
    print(f"blind_index: exact ID-number lookup at {members:,} members")
    print(f"  identity documents          {documents:>12,}  ({numbered:,} with a number)")
    print(f"  blind index, median         {ms(index_median):>12}  (p95 {ms(p95)}, {len(index_times)} lookups)")
    print(f"  admin search selector       {ms(median(selector_times)):>12}  (members_by_exact_value, median of "
          f"{len(selector_times)}: e-mail, phone, document, card and related-person indexes)")
    print(f"  decrypt-and-scan, median    {scan_median:>10.2f} s  ({len(scan_times)} full pass(es) over all "
          f"{documents:,} rows, measured, not extrapolated; {documents / scan_median:,.0f} rows/s)")
    print(f"  ratio scan / blind index    {scan_median / index_median:>12,.0f}x  (target >= 1,000x)")


if __name__ == "__main__":
    main()
