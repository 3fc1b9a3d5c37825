"""Demo data for the retention jobs (issue 5, requirement 9): every job has work after ``make run``.

Runs after the accounts step (staff users, members). Idempotent: members are matched by member
number, holds/reviews/assessments by what they are about, old device records by device id. A
member the jobs have erased is a tombstone under a new number, so the next ``seed_demo`` creates its
demo counterpart again: after every ``make run`` the jobs have work.

- members cancelled before the grace period (``anonymise_cancelled`` erases them) and within it
  (it leaves them), one past it but under a legal hold (held, reported);
- members under 14 (``purge_under_14``): the accounts seeder's 13-year-olds when it made some,
  otherwise two of our own, one of whom turns 14 tomorrow;
- device records older than the security-data retention (``expire_security_data``);
- a product line about to close, with members who use only it and one who also trades spot
  (``shutdown_service launchpad --dry-run``);
- a processing review and an impact assessment falling due soon (``send_review_reminders``).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.members.choices import AssetType, MemberStatus
from accounts.members.volumes import volumes_add
from accounts.models import DeviceRecord, Member, ProductLine, StaffUser, TransactionRecord
from retention import services
from retention.choices import ReviewOutcome, RiskLevel
from retention.jobs.under_14 import under_14_member_ids
from retention.models import ImpactAssessment, LegalHold, ProcessingReview

LEGACY_LINE = ("launchpad", "Launchpad (closing)")
OFFICER_EMAIL = "compliance@demo.example"
HOLD_REASON = "Demo: preserved for a pending regulator inquiry (case DEMO-2026-01)."


@dataclass(frozen=True)
class DemoMember:
    number: str
    role: str
    legal_name: str
    nationality: str
    cancelled_days_ago: int | None = None
    child_age: int | None = None
    lines: tuple[str, ...] = ("spot",)
    old_devices: int = 0


DEMO_MEMBERS = (
    DemoMember("R900000001", "cancelled long ago", "Demo Cancelled One", "CN", cancelled_days_ago=75),
    DemoMember("R900000002", "cancelled long ago", "Demo Cancelled Two", "SG", cancelled_days_ago=60),
    DemoMember("R900000003", "cancelled long ago", "Demo Cancelled Three", "DE", cancelled_days_ago=45),
    DemoMember("R900000004", "cancelled recently", "Demo Recent One", "CN", cancelled_days_ago=5, old_devices=2),
    DemoMember("R900000005", "cancelled recently", "Demo Recent Two", "JP", cancelled_days_ago=12, old_devices=1),
    DemoMember("R900000006", "held", "Demo Held Member", "CN", cancelled_days_ago=90, old_devices=2),
    DemoMember("R900000007", "under 14", "Demo Child One", "CN", child_age=13),
    DemoMember("R900000008", "turns 14 tomorrow", "Demo Child Two", "SG", child_age=13),
    DemoMember("R900000009", "launchpad only", "Demo Launchpad One", "IN", lines=("launchpad",), old_devices=2),
    DemoMember("R900000010", "launchpad only", "Demo Launchpad Two", "IN", lines=("launchpad",), old_devices=1),
    DemoMember("R900000011", "launchpad and spot", "Demo Launchpad Three", "DE", lines=("launchpad", "spot"),
               old_devices=2),
)


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - years, day=28)


def _date_of_birth(spec: DemoMember, today: datetime.date) -> datetime.date:
    if spec.role == "turns 14 tomorrow":
        return _years_before(today + datetime.timedelta(days=1), 14)
    if spec.child_age is not None:
        return _years_before(today, spec.child_age) - datetime.timedelta(days=40)
    return datetime.date(1980 + int(spec.number[-2:]), 3, 14)


def _officer() -> StaffUser:
    officer = StaffUser.objects.filter(email=OFFICER_EMAIL).first()
    officer = officer or StaffUser.objects.filter(is_superuser=True).order_by("pk").first()
    if officer is None:
        raise RuntimeError("No demo staff user to own the legal hold; run the staff-users step first.")
    return officer


def _lines() -> dict[str, ProductLine]:
    legacy, _ = ProductLine.objects.get_or_create(code=LEGACY_LINE[0], defaults={"name": LEGACY_LINE[1]})
    spot, _ = ProductLine.objects.get_or_create(code="spot", defaults={"name": "Spot trading"})
    return {legacy.code: legacy, spot.code: spot}


def _member(spec: DemoMember, *, now: datetime.datetime, lines: dict[str, ProductLine]) -> tuple[Member, bool]:
    member = Member.objects.filter(member_number=spec.number).first()
    if member is not None:
        return member, False
    today = timezone.localdate(now)
    member = Member(
        member_number=spec.number,
        legal_name=spec.legal_name,
        nationality=spec.nationality,
        date_of_birth=_date_of_birth(spec, today),
        email=f"{spec.number.lower()}@demo-member.example",
        phone=f"+86 139 0000 {spec.number[-4:]}",
        registered_at=now - datetime.timedelta(days=400),
    )
    if spec.cancelled_days_ago is not None:
        member.status = MemberStatus.CANCELLED
        member.cancelled_at = now - datetime.timedelta(days=spec.cancelled_days_ago)
    member.save()
    member.product_lines.set([lines[code] for code in spec.lines])
    # Data of a service belongs to one of the member's lines (PP-19): the device to the first, the
    # orders in turn, so a member with two lines has records of both.
    DeviceRecord.objects.create(
        member=member, product_line=lines[spec.lines[0]], ip_address="198.51.100.20",
        device_id=f"demo-{spec.number}-current", browser="Firefox 140", region="Shanghai",
        location="31.23040,121.47370",
        seen_at=now - datetime.timedelta(days=3),
    )
    orders = TransactionRecord.objects.bulk_create(
        TransactionRecord(
            # Keyed by the row, not the number: an erased demo member's orders are kept (legal retention).
            member=member, product_line=lines[spec.lines[i % len(spec.lines)]], order_number=f"DEMO-{member.pk}-{i}",
            order_time=now - datetime.timedelta(days=30 * i),
            counterparty_nickname=f"demotrader{i}", asset_type=AssetType.BTC, quantity=Decimal("0.1"),
            amount=Decimal("6500.00"),
        )
        for i in range(1, 4)
    )
    volumes_add(orders)
    return member, True


def _old_devices(member: Member, count: int, *, now: datetime.datetime, line: ProductLine) -> int:
    """Device records past the retention period, ids fixed per member so a rerun adds none."""
    retention_days = settings.SECURITY_DATA_RETENTION_DAYS
    wanted = {f"demo-{member.member_number}-old-{i}": retention_days + 30 * i for i in range(1, count + 1)}
    have = set(DeviceRecord.objects.filter(member=member, device_id__in=wanted).values_list("device_id", flat=True))
    new = [
        DeviceRecord(member=member, product_line=line, ip_address="203.0.113.50", device_id=device_id,
                     browser="Chrome 110", region="Beijing", location="39.90420,116.40740",
                     seen_at=now - datetime.timedelta(days=days))
        for device_id, days in wanted.items() if device_id not in have
    ]
    DeviceRecord.objects.bulk_create(new)
    return len(new)


def _review_and_assessment(officer: StaffUser, today: datetime.date) -> int:
    created = 0
    if not ProcessingReview.objects.filter(processing="Marketing SMS and profiling (PP-12)").exists():
        services.processing_review_record(
            processing="Marketing SMS and profiling (PP-12)", reviewer=officer,
            reviewed_on=today - datetime.timedelta(days=358), outcome=ReviewOutcome.ACTIONS_REQUIRED,
            findings="Unsubscribe replies took up to two days to apply; fixed by the SMS endpoint.",
            next_due=today + datetime.timedelta(days=7),
        )
        created += 1
    if not ProcessingReview.objects.filter(processing="Advanced face verification (PP-10)").exists():
        services.processing_review_record(
            processing="Advanced face verification (PP-10)", reviewer=officer,
            reviewed_on=today - datetime.timedelta(days=30), outcome=ReviewOutcome.COMPLIANT,
            next_due=today + datetime.timedelta(days=335),
        )
        created += 1
    if not ImpactAssessment.objects.filter(scope="Trading platform personal-data flows").exists():
        services.impact_assessment_record(
            scope="Trading platform personal-data flows", risk_level=RiskLevel.MEDIUM,
            assessed_on=today - datetime.timedelta(days=355), assessor=officer,
            next_due=today + datetime.timedelta(days=10),
        )
        created += 1
    return created


@transaction.atomic
def seed_retention(*, bar=None, **options) -> dict[str, int]:
    now = timezone.now()
    today = timezone.localdate(now)
    if bar is not None:
        bar.total = len(DEMO_MEMBERS) + 1
        bar.refresh()
    officer = _officer()
    lines = _lines()
    counts = {"members created": 0, "old device records": 0, "legal holds": 0, "reviews and assessments": 0}
    own_numbers = {spec.number for spec in DEMO_MEMBERS}
    # Only the birth-year candidates are decrypted (as the job does).
    seeder_children = any(n not in own_numbers for n in under_14_member_ids(today=today).values())
    for spec in DEMO_MEMBERS:
        if spec.child_age is not None and seeder_children:
            if bar is not None:
                bar.update(1)
            continue
        member, created = _member(spec, now=now, lines=lines)
        counts["members created"] += created
        if spec.old_devices:
            counts["old device records"] += _old_devices(member, spec.old_devices, now=now,
                                                           line=lines[spec.lines[0]])
        if spec.role == "held" and not LegalHold.objects.filter(member=member, reason=HOLD_REASON).exists():
            services.legal_hold_place(member=member, reason=HOLD_REASON, owner=officer,
                                      starts_on=today - datetime.timedelta(days=20))
            counts["legal holds"] += 1
        if bar is not None:
            bar.update(1)
    counts["reviews and assessments"] = _review_and_assessment(officer, today)
    if bar is not None:
        bar.update(1)
    return counts


def register(steps) -> None:
    steps.append(("retention", None, seed_retention))
