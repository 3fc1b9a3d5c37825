"""The deadline-reminder job over 100k and 1M open requests (issue 6, requirement 12).

    .venv/bin/python bench/reminders.py                      # 100k then 1M, database bench_desk
    .venv/bin/python bench/reminders.py --sizes 100000       # one size

Targets: the same number of queries at every size (the claim is one INSERT … SELECT per bucket; the
send is one UPDATE, one count per staff user and kind, and the ranked digest lines), and time roughly
linear or better in the number of reminders.

The database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/bench_desk``) is created,
migrated and filled to exactly each size with COPY (emptied first when it holds more): open requests
received over the last 20 days (so due dates run from five days overdue to two weeks ahead), 100
agents, 3 supervisors. Before each measured run the reminder log is emptied; then the job runs
twice: the first run claims and sends, the second (a doubled beat run) must find nothing. Mail goes
to Django's in-memory backend, so the figures are the job's own work: SQL, building the digests,
rendering one e-mail per staff user.
"""

from __future__ import annotations

import argparse
import time

from _desk import copy_requests, desk_setup, request_count, staff_ensure


def run_once(label: str, now) -> dict:
    from django.core import mail
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from requests_desk import reminders

    mail.outbox = []
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = reminders.send_request_reminders(now=now)
        seconds = time.perf_counter() - start
    return {
        "run": label, "seconds": seconds, "queries": len(queries), "claimed": sum(result.claimed.values()),
        "sent": result.sent, "emails": result.emails,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    desk_setup()
    from django.conf import settings
    from django.db import connection

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agents, supervisors = staff_ensure()
    print(f"database {settings.DATABASES['default']['NAME']}: {len(agents)} agents, {len(supervisors)} supervisors, "
          f"reminder days {settings.REQUEST_REMINDER_DAYS}", flush=True)
    rows = []
    for size in sorted(args.sizes):
        have = request_count()
        if have > size:  # a larger earlier run (or take_next's pool): start this size afresh
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE requests_desk_request RESTART IDENTITY CASCADE")
            have = 0
        if have < size:
            seconds = copy_requests(size - have, assignees=agents, assigned_share=0.9, seed=args.seed + have)
            print(f"loaded {size - have} open requests in {seconds:.1f} s", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE requests_desk_reminderlog")
            cursor.execute("VACUUM ANALYZE requests_desk_request")
        from django.utils import timezone

        now = timezone.now()  # both runs at the same moment: the doubled run must find nothing new
        for label in ("first run", "doubled run"):
            row = {"open requests": size, **run_once(label, now)}
            rows.append(row)
            print(f"{size:>9} open | {row['run']:<11} | {row['seconds']:7.2f} s | {row['queries']:>2} queries | "
                  f"claimed {row['claimed']:>7} | sent {row['sent']:>7} | e-mails {row['emails']:>3}", flush=True)
    firsts = [r for r in rows if r["run"] == "first run"]
    print("\nSummary")
    print("| open requests | run | seconds | queries | reminders claimed | sent | e-mails | reminders/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        rate = f"{r['sent'] / r['seconds']:,.0f}" if r["sent"] else "—"
        print(f"| {r['open requests']:,} | {r['run']} | {r['seconds']:.2f} | {r['queries']} | {r['claimed']:,} | "
              f"{r['sent']:,} | {r['emails']} | {rate} |")
    if len(firsts) > 1:
        small, large = firsts[0], firsts[-1]
        print(f"\nqueries constant: {len({r['queries'] for r in firsts}) == 1} "
              f"({', '.join(str(r['queries']) for r in firsts)}); "
              f"time ratio {large['seconds'] / small['seconds']:.1f}x for "
              f"{large['open requests'] / small['open requests']:.0f}x the requests "
              f"({large['sent'] / max(small['sent'], 1):.1f}x the reminders)")


if __name__ == "__main__":
    main()
