"""Issue 14, requirement 4: records belong to a product line, and a line's shutdown erases its records
for every member (PP-19), including members who keep another line. Runs on SQLite and PostgreSQL."""

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.members.selectors import transactions_by_order_number
from accounts.models import DeviceRecord, Member, ProductLine, TransactionRecord
from accounts.privacy import crypto
from accounts.privacy.datamap import service_scoped_models
from retention import services
from retention.erasure.records import was_erased
from retention.erasure.tombstones import is_tombstone_number
from retention.jobs.legal_retention import expire_legal_retention
from retention.jobs.shutdown import erase_kept_members_line_rows, shutdown_service
from retention.models import ErasureRecord, JobRun
from tests.clock import frozen
from tests.factories import DeviceRecordFactory, MemberFactory, TransactionRecordFactory
from tests.retention.snapshots import assert_unchanged, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clock():
    with frozen() as traveller:
        yield traveller


@pytest.fixture
def lines(db):
    return {
        "legacy": ProductLine.objects.create(code="legacy", name="Legacy options"),
        "spot": ProductLine.objects.create(code="spot", name="Spot"),
    }


def member_of(*codes, devices: int = 1, orders: int = 1, **kwargs) -> Member:
    """A member using ``codes``, with ``devices`` device records and ``orders`` orders on each of them."""
    member = MemberFactory(product_lines=list(codes), **kwargs)
    for line in ProductLine.objects.filter(code__in=codes):
        for _ in range(devices):
            DeviceRecordFactory(member=member, product_line=line)
        for _ in range(orders):
            TransactionRecordFactory(member=member, product_line=line)
    return member


def rows(model, member, code) -> int:
    return model.objects.filter(member=member, product_line__code=code).count()


def order_indexes(numbers) -> list[str]:
    """Order numbers are encrypted: rows are found through their blind index (PP-01)."""
    return [crypto.blind_index("order", number) for number in numbers]


def test_pp19_the_data_map_declares_transactions_and_devices_data_of_a_service():
    """The shutdown reads its list of models from the data map; payment instruments are account data."""
    scoped = {model._meta.label: name for model, name in service_scoped_models()}
    assert scoped == {"accounts.DeviceRecord": "product_line", "accounts.TransactionRecord": "product_line"}


def test_pp19_shutdown_erases_the_closed_lines_records_of_a_member_who_keeps_another_line(lines):
    """Device records of the closed line are deleted, its orders detached (legal retention); the rest stays."""
    both = member_of("legacy", "spot", devices=2, orders=2)
    nicknames = set(TransactionRecord.objects.filter(member=both).values_list("counterparty_nickname", flat=True))
    legacy_orders = set(TransactionRecord.objects.filter(member=both, product_line__code="legacy")
                        .values_list("order_number", flat=True))

    result = shutdown_service(product_line="legacy")

    both.refresh_from_db()
    assert both.status == MemberStatus.ACTIVE and not is_tombstone_number(both.member_number)
    assert not was_erased(both.member_number) and not ErasureRecord.objects.exists()
    assert list(both.product_lines.values_list("code", flat=True)) == ["spot"]
    # Kept: the other line's records, untouched.
    assert (rows(DeviceRecord, both, "spot"), rows(TransactionRecord, both, "spot")) == (2, 2)
    # Gone from the member: every record of the closed line.
    assert (rows(DeviceRecord, both, "legacy"), rows(TransactionRecord, both, "legacy")) == (0, 0)
    assert not DeviceRecord.objects.filter(product_line__code="legacy").exists()
    # The orders are kept for their legal retention (PP-13), pseudonymised as the engine does: they point
    # at a tombstone that identifies nobody, and the counterparty nickname is a random token.
    kept = TransactionRecord.objects.filter(order_number_bidx__in=order_indexes(legacy_orders)).select_related("member")
    assert kept.count() == 2
    tombstone = kept[0].member
    assert {t.member_id for t in kept} == {tombstone.pk} and tombstone.pk != both.pk
    assert is_tombstone_number(tombstone.member_number) and tombstone.status == MemberStatus.CLOSED
    assert (tombstone.legal_name, tombstone.email, tombstone.cancelled_at) == ("", "", timezone.now())
    assert not {t.counterparty_nickname for t in kept} & nicknames
    details = result.details
    assert details["members_keeping_another_line"] == 1
    assert details["line_rows_of_members_kept"] == {"accounts.DeviceRecord": 2, "accounts.TransactionRecord": 2}
    assert JobRun.objects.get(job="shutdown_service").counts["line_rows_of_members_kept"] == {
        "accounts.DeviceRecord": 2, "accounts.TransactionRecord": 2}

    # A rerun (e.g. after a crash) finds nothing more of the line; the tombstone's rows are not moved again.
    again = shutdown_service(product_line="legacy")
    assert again.details["line_rows_of_members_kept"] == {}
    moved = TransactionRecord.objects.filter(order_number_bidx__in=order_indexes(legacy_orders), member=tombstone)
    assert moved.count() == 2


def test_pp19_the_detached_orders_are_anonymised_once_their_legal_retention_has_passed(lines):
    """The tombstone is an erased member like any other: the PP-13 catch-up anonymises its rows later."""
    both = member_of("legacy", "spot", devices=0)
    order = TransactionRecord.objects.get(member=both, product_line__code="legacy").order_number
    shutdown_service(product_line="legacy")
    assert transactions_by_order_number(order).exists()

    result = expire_legal_retention(now=timezone.now() + datetime.timedelta(days=5 * 365 + 1))

    assert result.details["rows"]["accounts.TransactionRecord"] == 1
    assert not transactions_by_order_number(order).exists()  # the order number is a token now
    assert rows(TransactionRecord, both, "spot") == 1


def test_pp19_dry_run_reports_rows_per_model_and_per_line_and_writes_nothing(lines):
    """Rows of the members concerned per model and line, what goes from those who stay; nothing changes."""
    member_of("legacy", devices=1, orders=3)
    member_of("legacy", "spot", devices=2, orders=1)
    member_of("spot", devices=5, orders=5)  # not concerned
    unattributed = member_of("legacy", "spot", devices=0, orders=0)
    TransactionRecordFactory(member=unattributed, product_line=None)
    before = snapshot()

    result = shutdown_service(product_line="legacy", dry_run=True)

    assert_unchanged(before, snapshot())
    assert result.details["rows_by_line"] == {
        "accounts.DeviceRecord [legacy]": 3, "accounts.DeviceRecord [spot]": 2,
        "accounts.TransactionRecord [legacy]": 4, "accounts.TransactionRecord [spot]": 1,
        "accounts.TransactionRecord [(no line)]": 1,
    }
    assert result.details["line_rows_of_members_kept"] == {"accounts.DeviceRecord": 2, "accounts.TransactionRecord": 1}
    assert result.details["members_keeping_another_line"] == 1
    assert not JobRun.objects.exists()

    out = StringIO()
    call_command("shutdown_service", "legacy", "--dry-run", "--no-progress", stdout=out)
    report = out.getvalue()
    assert "rows_by_line:" in report and "accounts.TransactionRecord [legacy]: 4" in report
    assert "line_rows_of_members_kept:" in report and "accounts.DeviceRecord: 2" in report
    assert_unchanged(before, snapshot())


def test_pp19_a_member_whose_last_line_closes_is_erased_as_before(lines):
    """Whole-member erasure through the engine (trigger service shutdown) with one erasure record."""
    only = member_of("legacy", devices=2, orders=2)
    number = only.member_number

    result = shutdown_service(product_line="legacy")

    assert (result.selected, result.changed) == (1, 1)
    assert was_erased(number) and ErasureRecord.objects.count() == 1
    only.refresh_from_db()
    assert is_tombstone_number(only.member_number) and only.status == MemberStatus.CLOSED
    assert not DeviceRecord.objects.filter(member=only).exists()
    assert TransactionRecord.objects.filter(member=only).count() == 2  # kept on its own tombstone (PP-13)
    assert result.details["members_keeping_another_line"] == 0
    assert Member.objects.count() == 1  # no second tombstone: the engine's, as before


def test_pp19_a_member_under_legal_hold_keeps_the_closed_lines_records(lines, compliance_officer):
    """A hold in force blocks erasure of all of the member's data, a line's records included."""
    held = member_of("legacy", "spot")
    services.legal_hold_place(member=held, reason="Court order 2026/17", owner=compliance_officer,
                              starts_on=timezone.localdate())

    dry = shutdown_service(product_line="legacy", dry_run=True)
    result = shutdown_service(product_line="legacy")

    assert (rows(DeviceRecord, held, "legacy"), rows(TransactionRecord, held, "legacy")) == (1, 1)
    for report in (dry, result):
        assert report.details["members_keeping_another_line_held"] == 1
        assert report.details["members_keeping_another_line"] == 0
        assert report.details["line_rows_of_members_kept"] == {}


@pytest.mark.parametrize("members", [2, 20])
def test_pp19_the_line_step_runs_a_constant_number_of_queries_whatever_the_members(
    lines, members, django_assert_max_num_queries
):
    """One chunk of members who keep another line: the same statements for 2 members or 20."""
    for _ in range(members):
        member_of("legacy", "spot", devices=2, orders=2)
    # Next ids, holds, savepoint, write lock, owners, tombstones, detach, delete, the empty next page: 9 on
    # PostgreSQL (RETURNING), 12 on SQLite (a count before each statement).
    with django_assert_max_num_queries(12):
        result = erase_kept_members_line_rows(line=lines["legacy"], today=timezone.localdate(), chunk_size=100)
    assert result.members == members
    assert result.rows == {"accounts.DeviceRecord": 2 * members, "accounts.TransactionRecord": 2 * members}
    assert not DeviceRecord.objects.filter(product_line__code="legacy").exists()


def test_pp19_the_command_erases_the_line_for_members_who_stay_with_a_progress_bar(lines):
    """``manage.py shutdown_service`` runs the line step with its progress bar and prints its counts."""
    both = member_of("legacy", "spot", devices=1, orders=1)
    out, err = StringIO(), StringIO()

    call_command("shutdown_service", "legacy", "--no-input", stdout=out, stderr=err)

    assert "line_rows_of_members_kept:" in out.getvalue() and "members_keeping_another_line: 1" in out.getvalue()
    assert "legacy" in err.getvalue()  # the bar, on stderr
    assert (rows(DeviceRecord, both, "legacy"), rows(DeviceRecord, both, "spot")) == (0, 1)
