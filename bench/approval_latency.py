"""Approval → access package ready, through the real Celery worker (issue 15, requirement 4).

    .venv/bin/python bench/approval_latency.py                                  # 10,000 x 10, 1,000,000 x 1
    .venv/bin/python bench/approval_latency.py --sizes 10000 --runs 10

The database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/bench_i15_approval``) is
created and migrated when missing; the broker is ``REDIS_URL`` (default ``redis://127.0.0.1:6379/14``).
For each size it seeds once (COPY, encrypted columns and blind indexes computed as ``save()`` does,
the daily volumes added) a member with that many transaction records and 200 device records, starts
a Celery worker subprocess (``--pool solo``: the build runs in the process whose memory is read),
and ``--runs`` times: a fresh access request, started, verified and submitted by one officer,
approved by another through ``request_fulfil`` (the supervisor's approval, committed), then the
``AccessPackage`` row is polled until ``ready`` (downloadable: ``package_for_token`` finds it) or
``failed``. Prints p50/p95 of approval → ready, the rows and the worker's peak memory (VmHWM).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

from _common import percentile

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_i15_approval"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
ROOT = Path(__file__).resolve().parent.parent
BATCH = 20_000


def bench_setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    os.environ.setdefault("REDIS_URL", DEFAULT_REDIS_URL)  # before Django: tasks go to the broker, not inline
    from _common import setup

    setup()


def officers():
    from django.contrib.auth.models import Group

    from accounts.models import StaffUser
    from accounts.staff import roles

    users = []
    for email in ("bench-preparer@bench.example", "bench-supervisor@bench.example"):
        user, _ = StaffUser.objects.get_or_create(email=email, defaults={"full_name": "Bench Officer"})
        user.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
        users.append(StaffUser.objects.get(pk=user.pk))
    return users


def member_with(size: int):
    """The bench member with ``size`` transaction records (seeded once by COPY; reruns reuse it)."""
    from _common import _copy
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.members.volumes import volumes_add
    from accounts.models import DeviceRecord, Member, TransactionRecord
    from accounts.progress import progress

    number = f"L{size:09d}"
    member = Member.objects.filter(member_number=number).first()
    if member is not None and TransactionRecord.objects.filter(member=member).count() == size:
        return member
    now = timezone.now()
    with transaction.atomic():
        if member is not None:  # a seeding that was interrupted: start the member again
            member.delete()
        member = Member.objects.create(
            member_number=number, legal_name="Bench Trader", local_name="测试会员", nationality="CN",
            date_of_birth=datetime.date(1988, 4, 2), email=f"{number.lower()}@bench.example",
            phone="+86 138 0000 0001", registered_at=now - datetime.timedelta(days=2000))
        with connection.cursor() as wrapper:
            cursor = wrapper.cursor
            _copy(cursor, DeviceRecord, [
                DeviceRecord(member_id=member.pk, ip_address="203.0.113.7", device_id=f"dev-{i}",
                             browser="Firefox 140", region="Shanghai", location="31.2304,121.4737",
                             seen_at=now - datetime.timedelta(hours=i)) for i in range(200)], connection)
            with progress(total=size, desc=f"seeding {size:,} transactions", unit="row") as bar:
                for start in range(0, size, BATCH):
                    orders = [
                        TransactionRecord(member_id=member.pk, order_number=f"{number}-{i:08d}",
                                          order_time=now - datetime.timedelta(minutes=i),
                                          counterparty_nickname=f"peer{i % 977}", asset_type="BTC",
                                          quantity=Decimal("0.0100000000"), amount=Decimal("650.00") + i % 100)
                        for i in range(start, min(start + BATCH, size))]
                    _copy(cursor, TransactionRecord, orders, connection)
                    volumes_add(orders, new_members=start == 0)  # later batches share days
                    bar.update(len(orders))
    return member


def fresh_request(member, preparer):
    from requests_desk import lifecycle, workflow
    from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
    from requests_desk.models import IdentityCheck, Request

    # Web intake without an e-mail address: the letter is kept for posting (no mail server needed).
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, member=member, subject="Copy of my data")
    workflow.transition(request=request, name="start", user=preparer)
    IdentityCheck.objects.create(request=request, method=VerificationMethod.ACCOUNT_LOGIN,
                                 evidence="logged-in session", verified_by=preparer)
    workflow.transition(request=request, name="submit_for_approval", user=preparer)
    return Request.objects.get(pk=request.pk)


def start_worker() -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(4)  # the worker imports Django and connects to Redis
    if worker.poll() is not None:
        raise SystemExit("the Celery worker did not start")
    return worker


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def approve_and_wait(member, preparer, supervisor, timeout: float) -> tuple[float, int, str]:
    from requests_desk.fulfilment.dispatcher import request_fulfil
    from requests_desk.models import AccessPackage

    request = fresh_request(member, preparer)
    start = time.perf_counter()
    request_fulfil(request=request, user=supervisor, note="Bench approval")
    approved = time.perf_counter() - start
    while time.perf_counter() - start < timeout:
        row = AccessPackage.objects.filter(request=request).values("status", "rows_total", "error").first()
        if row and row["status"] in ("ready", "failed"):
            if row["status"] == "failed":
                raise SystemExit(f"build failed: {row['error']}")
            return time.perf_counter() - start, row["rows_total"], f"approval returned in {approved:.3f} s"
        time.sleep(0.05)
    raise SystemExit(f"not ready after {timeout:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--large-runs", type=int, default=1, help="runs for sizes above 100,000")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()

    bench_setup()
    from django.db import connection

    preparer, supervisor = officers()
    print(f"database {connection.settings_dict['NAME']} ({connection.vendor}); broker {os.environ['REDIS_URL']}")
    for size in args.sizes:
        seed_start = time.perf_counter()
        member = member_with(size)
        print(f"member with {size:,} transactions ready in {time.perf_counter() - seed_start:.1f} s")
        runs = args.runs if size <= 100_000 else args.large_runs
        worker = start_worker()
        try:
            times = []
            for i in range(runs):
                seconds, rows, note = approve_and_wait(member, preparer, supervisor, args.timeout)
                times.append(seconds)
                print(f"  run {i + 1}: {seconds:.3f} s approve → ready ({rows:,} rows; {note})")
            print(f"{size:>10,} transactions  runs {runs}  p50 {statistics.median(times):.3f} s  "
                  f"p95 {percentile(times, 95):.3f} s  worker peak memory (VmHWM) {peak_mib(worker.pid):.0f} MiB")
        finally:
            worker.terminate()
            worker.wait(timeout=30)


if __name__ == "__main__":
    main()
