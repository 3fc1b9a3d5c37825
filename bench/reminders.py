"""The deadline-reminder job over 100k and 1M open requests: first run, rerun, a beat every 15 minutes
(issue 6, requirement 12; issue 15, requirement 3).

    .venv/bin/python bench/reminders.py                      # 100k then 1M, database bench_desk
    .venv/bin/python bench/reminders.py --sizes 100000       # one size
    .venv/bin/python bench/reminders.py --beats 10           # consecutive beat runs after the rerun

Targets: the same number of queries at every size; a run that finds nothing (the rerun) takes no longer
than the run that sent, with the full reminder log in place; its claim reads only the requests whose
``reminder_due_at`` has come (the ``EXPLAIN ANALYZE`` of each claim statement is printed: an index
range scan, no plan that reads the log per request); and a beat every 15 minutes is cheap (the time
of the tenth consecutive run is printed).

The database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/bench_desk``) is created,
migrated and filled to exactly each size with COPY (emptied first when it holds more): open requests
received over the last 20 days (so due dates run from five days overdue to two weeks ahead), 100
agents, 3 supervisors. Before each size the reminder log, the job's runs and every request's schedule
are reset (as right after migration 0004). Then: the first run (claims and sends everything due, looks
at every open request), ``ANALYZE`` of the log and the requests (as autovacuum would after a write
that size: the planner knows the log is full and the schedule spread out), the rerun at the same
moment (must find nothing), and ``--beats`` runs at 15-minute steps after it (each sends what came due
in its 15 minutes: requests turning overdue, and the day's new stages after a local midnight). Mail
goes to Django's in-memory backend, so the figures are the job's own work.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

from _desk import copy_requests, desk_setup, request_count, staff_ensure


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{platform.node()}: {os.cpu_count()} cores, load average {load}"


def run_once(label: str, now) -> dict:
    from django.core import mail
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from requests_desk import reminders

    mail.outbox = []
    load = os.getloadavg()[0]
    with CaptureQueriesContext(connection) as queries:
        start = time.perf_counter()
        result = reminders.send_request_reminders(now=now)
        seconds = time.perf_counter() - start
    return {
        "run": label, "seconds": seconds, "queries": len(queries), "claimed": sum(result.claimed.values()),
        "sent": result.sent, "emails": result.emails, "looked at": result.details["requests looked at"],
        "every": result.details["every open request looked at"], "load": load,
        "sql": [q["sql"] for q in queries.captured_queries],
    }


def explain_claim(statements: list[str]) -> None:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the run's schedule UPDATE and claim INSERTs, rolled back."""
    from django.db import connection, transaction

    claims = [sql for sql in statements if sql.startswith("UPDATE \"requests_desk_request\"")
              or sql.startswith("INSERT INTO \"requests_desk_reminderlog\"")]

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic(), connection.cursor() as cursor:
            for sql in claims:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}")
                plan = "\n".join(f"    {row[0]}" for row in cursor.fetchall())
                print(f"  {sql[:110]}…\n{plan}", flush=True)
            raise Rollback
    except Rollback:
        pass


def print_row(size: int, row: dict) -> None:
    print(f"{size:>9} open | {row['run']:<16} | {row['seconds']:7.3f} s | {row['queries']:>2} queries | "
          f"looked at {row['looked at']:>7} | claimed {row['claimed']:>7} | sent {row['sent']:>7} | "
          f"e-mails {row['emails']:>3} | load {row['load']:.2f}", flush=True)


def reset(size: int, agents: list[int], seed: int) -> None:
    from django.db import connection

    from requests_desk.models import REMINDER_RECHECK
    from requests_desk.reminders import JOB_NAME

    have = request_count()
    if have > size:  # a larger earlier run (or take_next's pool): start this size afresh
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE requests_desk_request RESTART IDENTITY CASCADE")
        have = 0
    if have < size:
        seconds = copy_requests(size - have, assignees=agents, assigned_share=0.9, seed=seed + have)
        print(f"loaded {size - have:,} open requests with COPY in {seconds:.1f} s "
              f"({(size - have) / seconds:,.0f}/s)", flush=True)
    start = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE requests_desk_reminderlog")
        cursor.execute("DELETE FROM retention_jobrun WHERE job = %s", [JOB_NAME])
        cursor.execute("UPDATE requests_desk_request SET reminder_due_at = %s, reminder_run = NULL",
                       [REMINDER_RECHECK])
        cursor.execute("VACUUM ANALYZE requests_desk_request")
    print(f"reset the log, the job's runs and every request's schedule in {time.perf_counter() - start:.1f} s",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--beats", type=int, default=10, help="consecutive runs 15 minutes apart after the rerun")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    desk_setup()
    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    agents, supervisors = staff_ensure()
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server = cursor.fetchone()[0]
    print(f"{machine()}; PostgreSQL {server}", flush=True)
    print(f"database {settings.DATABASES['default']['NAME']}: {len(agents)} agents, {len(supervisors)} supervisors, "
          f"reminder days {settings.REQUEST_REMINDER_DAYS}, time zone {settings.TIME_ZONE}", flush=True)
    rows = []
    for size in sorted(args.sizes):
        reset(size, agents, args.seed)
        now = timezone.now()  # first run and rerun at the same moment: the rerun must find nothing new
        first = run_once("first run", now)
        print_row(size, first)
        with connection.cursor() as cursor:
            # What autovacuum does within a minute of a write this size: the planner then knows the log
            # is full and the schedule is spread out (its statistics from the reset say "all due").
            cursor.execute("ANALYZE requests_desk_reminderlog")
            cursor.execute("ANALYZE requests_desk_request")
            cursor.execute("SELECT count(*) FROM requests_desk_reminderlog")
            print(f"reminder log: {cursor.fetchone()[0]:,} rows; log and requests analysed", flush=True)
        rerun = run_once("rerun", now)
        print_row(size, rerun)
        print("EXPLAIN (ANALYZE) of the rerun's claim statements (rolled back):", flush=True)
        explain_claim(rerun["sql"])
        beats = []
        for beat in range(1, args.beats + 1):
            row = run_once(f"beat {beat} (+{15 * beat} min)", now + datetime.timedelta(minutes=15 * beat))
            print_row(size, row)
            beats.append(row)
        rows.append({"size": size, "first": first, "rerun": rerun, "beats": beats})
        if beats:
            print(f"{size:,} open requests: tenth-or-last beat run {beats[-1]['seconds']:.3f} s, "
                  f"{beats[-1]['queries']} queries", flush=True)
    print(f"\nSummary ({machine()}, {datetime.date.today():%d %B %Y})")
    print("| open requests | first run | rerun (nothing to send) | last of the beat runs | "
          "beat runs (min to max) | queries first / rerun / beat | reminders claimed |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        first, rerun, beats = r["first"], r["rerun"], r["beats"]
        last = f"{beats[-1]['seconds']:.3f} s" if beats else "—"
        spread = (f"{min(b['seconds'] for b in beats):.3f} to {max(b['seconds'] for b in beats):.3f} s"
                  if beats else "—")
        beat_queries = beats[-1]["queries"] if beats else "—"
        print(f"| {r['size']:,} | {first['seconds']:.2f} s | {rerun['seconds']:.3f} s | {last} | {spread} | "
              f"{first['queries']} / {rerun['queries']} / {beat_queries} | {first['claimed']:,} |")
    for r in rows:
        ok = r["rerun"]["seconds"] <= r["first"]["seconds"] and r["rerun"]["claimed"] == 0
        print(f"{r['size']:,}: rerun no longer than the first run and found nothing: {ok}")


if __name__ == "__main__":
    main()
