"""The access package for a member with 10k transactions (issue 6, requirement 12): rows/s and queries.

    .venv/bin/python bench/access_package.py                       # database bench_access
    .venv/bin/python bench/access_package.py --transactions 10000 100000

The database (``DATABASE_URL``, default ``postgres://postgres@127.0.0.1:5432/bench_access``) is created
and migrated when missing. For each size it makes (once, idempotently) a member with that many
transaction records plus the rest of a realistic account (identity documents, verifications, a card,
200 device records, consent events, an access request with 20 messages), then times

- ``package_content``: reading every data-map model of the member and writing the ZIP (the work);
- ``access_package_build``: the same plus encryption at rest and the ``AccessPackage`` row;

each ``--repeat`` times (the median is printed), with the number of queries, and once more under
``tracemalloc`` for the peak of Python memory (rows are streamed, so it should stay far below what
10k model instances would take). Claims: the query count is the same for every size (one per
data-map model, plus one per exported relation), and rows/s does not fall as the member grows.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import time
import tracemalloc
from decimal import Decimal

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_access"
OFFICER = "bench-officer@bench.example"


def bench_setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    from _common import setup

    setup()


def officer():
    from django.contrib.auth.models import Group

    from accounts.models import StaffUser
    from accounts.staff import roles

    user, _ = StaffUser.objects.get_or_create(email=OFFICER, defaults={"full_name": "Bench Officer"})
    user.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    return StaffUser.objects.get(pk=user.pk)  # fresh permission cache


def member_with(transactions: int, user):
    """The bench member for this size and its access request (created once; reruns reuse them)."""
    from django.utils import timezone

    from accounts.models import (
        DeviceRecord,
        IdentityDocument,
        Member,
        PaymentInstrument,
        TransactionRecord,
        Verification,
    )
    from consents.choices import ActorKind, Channel, ConsentAction
    from consents.ledger import consent_record
    from consents.models import PolicyVersion, Purpose
    from requests_desk import lifecycle, workflow
    from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
    from requests_desk.messages import message_record_inbound
    from requests_desk.models import IdentityCheck, Request

    number = f"B{transactions:09d}"
    member = Member.objects.filter(member_number=number).first()
    if member is None:
        now = timezone.now()
        member = Member.objects.create(
            member_number=number, legal_name="Bench Member", local_name="测试会员", nationality="CN",
            date_of_birth=datetime.date(1988, 4, 2), email=f"{number.lower()}@bench.example",
            phone="+86 138 0000 0001", registered_at=now - datetime.timedelta(days=2000),
        )
        for i in range(3):
            IdentityDocument.objects.create(member=member, kind="passport", issuing_country="CN",
                                            number=f"E{transactions % 1000:03d}{i:05d}")
        Verification.objects.create(member=member, level="real_name", method="id_number_check", outcome="passed")
        PaymentInstrument.objects.create(member=member, kind="bank_card", bank_name="Bench Bank",
                                         number="6222 0200 1234 5678")
        DeviceRecord.objects.bulk_create(
            DeviceRecord(member=member, ip_address="203.0.113.7", device_id=f"dev-{i}", browser="Firefox 140",
                         region="Shanghai", location="31.2304,121.4737", seen_at=now - datetime.timedelta(hours=i))
            for i in range(200)
        )
        batch = 5000
        for start in range(0, transactions, batch):
            TransactionRecord.objects.bulk_create(
                TransactionRecord(
                    member=member, order_number=f"{number}-{i:08d}", order_time=now - datetime.timedelta(minutes=i),
                    counterparty_nickname=f"peer{i % 977}", asset_type="BTC", quantity=Decimal("0.0100000000"),
                    amount=Decimal("650.00") + i % 100,
                )
                for i in range(start, min(start + batch, transactions))
            )
        PolicyVersion.objects.filter(published_at__gt=now - datetime.timedelta(days=1500)).update(
            published_at=now - datetime.timedelta(days=1500))
        for purpose in Purpose.objects.filter(kind="additional", is_biometric=False, introduced_in__isnull=True):
            consent_record(member=member, purpose=purpose, action=ConsentAction.GRANT, policy_version=None,
                           channel=Channel.APP, actor_kind=ActorKind.MEMBER,
                           occurred_at=now - datetime.timedelta(days=1000))
    request = Request.objects.filter(member=member, type=RequestType.ACCESS).order_by("pk").first()
    if request is None:
        request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                           channel=IntakeChannel.WEB, member=member, subject="Copy of my data")
        workflow.transition(request=request, name="start", user=user)
        IdentityCheck.objects.create(request=request, method=VerificationMethod.ACCOUNT_LOGIN,
                                     evidence="logged-in session", verified_by=user)
        for i in range(20):
            message_record_inbound(request=request, body=f"Message {i} about my data", subject=f"m{i}")
        request = Request.objects.get(pk=request.pk)
    return member, request


def measure(member, request, user, repeat: int) -> dict:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from requests_desk import access_package

    content_times, build_times = [], []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as content_queries:
            start = time.perf_counter()
            content = access_package.package_content(member=member, reference=request.reference)
            content_times.append(time.perf_counter() - start)
        with CaptureQueriesContext(connection) as build_queries:
            start = time.perf_counter()
            built = access_package.access_package_build(request=request, user=user)
            build_times.append(time.perf_counter() - start)
        access_package.package_file_discard(built.package)
        built.package.delete()
    tracemalloc.start()
    access_package.package_content(member=member, reference=request.reference)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rows = sum(content.records_per_model.values())
    return {
        "rows": rows,
        "transactions": content.records_per_model.get("accounts.TransactionRecord", 0),
        "content_s": statistics.median(content_times),
        "build_s": statistics.median(build_times),
        "content_queries": len(content_queries),
        "build_queries": len(build_queries),
        "zip_kb": len(content.data) / 1024,
        "peak_mb": peak / (1024 * 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transactions", type=int, nargs="+", default=[10, 10_000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    bench_setup()
    from django.db import connection

    from requests_desk.access_package import export_plan

    user = officer()
    print(f"database {connection.settings_dict['NAME']} ({connection.vendor}); data-map models exported: "
          f"{len(export_plan())}")
    header = (f"{'transactions':>12} {'rows':>7} {'package s':>10} {'rows/s':>9} {'queries':>8} "
              f"{'build s':>8} {'queries':>8} {'ZIP KiB':>8} {'peak MiB':>9}")
    print(header)
    print("-" * len(header))
    for size in args.transactions:
        member, request = member_with(size, user)
        r = measure(member, request, user, args.repeat)
        print(f"{r['transactions']:>12,} {r['rows']:>7,} {r['content_s']:>10.3f} {r['rows'] / r['content_s']:>9,.0f} "
              f"{r['content_queries']:>8} {r['build_s']:>8.3f} {r['build_queries']:>8} {r['zip_kb']:>8.0f} "
              f"{r['peak_mb']:>9.1f}")


if __name__ == "__main__":
    main()
