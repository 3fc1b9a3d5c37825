"""purge_under_14 (PP-37, PP-03): members under 14 are closed and fully erased."""

import datetime
import logging
from io import StringIO
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member, TransactionRecord
from accounts.privacy import crypto
from retention import services
from retention.choices import ErasureTrigger
from retention.erasure.records import was_erased
from retention.jobs import under_14
from retention.jobs.cancelled import anonymise_cancelled
from retention.jobs.under_14 import purge_under_14, under_14_member_ids, underage_confirmed_member_ids
from retention.models import ErasureRecord, JobRun
from tests.clock import frozen
from tests.consents.ledger_helpers import born
from tests.factories import DeviceRecordFactory, MemberFactory, TransactionRecordFactory
from tests.retention.snapshots import assert_unchanged, snapshot

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)


@pytest.fixture(autouse=True)
def clock():
    """The fixed birth dates below are ages on TODAY: the clock stands on TODAY, so what reads the
    clock itself (the command, a hold's start) agrees with the ``today=TODAY`` the tests pass."""
    with frozen(TODAY) as traveller:
        yield traveller


def child(born: datetime.date, **kwargs) -> Member:
    member = MemberFactory(date_of_birth=born, **kwargs)
    DeviceRecordFactory(member=member)
    TransactionRecordFactory(member=member, counterparty_nickname="kidtrader")
    return member


def erased(member: Member) -> bool:
    return was_erased(member.member_number)


def test_pp37_the_day_before_the_14th_birthday_is_purged_the_birthday_is_not():
    turns_14_tomorrow = child(datetime.date(2012, 6, 11))
    turns_14_today = child(datetime.date(2012, 6, 10))
    adult = MemberFactory()

    result = purge_under_14(today=TODAY)

    assert (result.selected, result.changed) == (1, 1)
    assert erased(turns_14_tomorrow)
    assert not erased(turns_14_today) and not erased(adult)
    assert Member.objects.get(pk=turns_14_today.pk).status == MemberStatus.ACTIVE
    gone = Member.objects.get(pk=turns_14_tomorrow.pk)
    assert gone.status == MemberStatus.CLOSED
    assert gone.date_of_birth is None and not gone.email
    assert ErasureRecord.objects.get().trigger == ErasureTrigger.UNDER_14


@pytest.mark.parametrize(
    ("born", "today", "purged"),
    [
        # Born on 29 February: 14 on 1 March of the (always common) year of the 14th birthday.
        (datetime.date(2012, 2, 29), datetime.date(2026, 2, 28), True),
        (datetime.date(2012, 2, 29), datetime.date(2026, 3, 1), False),
        # Checked on a 29 February.
        (datetime.date(2014, 3, 1), datetime.date(2028, 2, 29), True),
        (datetime.date(2014, 2, 28), datetime.date(2028, 2, 29), False),
    ],
)
def test_pp37_29_february(born, today, purged):
    member = child(born)
    purge_under_14(today=today)
    assert erased(member) is purged


def test_pp37_no_legal_retention_exception_for_children(settings):
    settings.CANCELLATION_GRACE_DAYS = 30
    kid = child(datetime.date(2015, 1, 1))
    kid_order = TransactionRecord.objects.get(member=kid)
    adult = MemberFactory(status=MemberStatus.CANCELLED, cancelled_at=timezone.now() - datetime.timedelta(days=40))
    adult_order = TransactionRecordFactory(member=adult)
    purge_under_14(today=TODAY)
    anonymise_cancelled()
    # A cancelled adult's order is kept for the legal retention period, detached from the person …
    kept = TransactionRecord.objects.get(pk=adult_order.pk)
    assert (kept.order_number, kept.order_time) == (adult_order.order_number, adult_order.order_time)
    # … a child's is anonymised at once.
    gone = TransactionRecord.objects.filter(pk=kid_order.pk).first()
    assert gone is None or (gone.order_number != kid_order.order_number
                            and gone.counterparty_nickname != "kidtrader"
                            and (gone.order_time.month, gone.order_time.day) == (1, 1))


def test_pp37_a_legal_hold_still_applies_but_the_account_is_closed(compliance_officer):
    kid = child(datetime.date(2015, 1, 1))
    services.legal_hold_place(member=kid, reason="Court order 2026-44 preserves it", owner=compliance_officer)
    result = purge_under_14(today=TODAY)
    assert (result.changed, result.details["held"], result.details["closed"]) == (0, 1, 1)
    member = Member.objects.get(pk=kid.pk)
    assert member.status == MemberStatus.CLOSED
    assert member.legal_name == kid.legal_name  # not erased while held
    assert member.history.first().status == MemberStatus.CLOSED  # the closure is in the audit history
    assert not erased(kid)


def test_pp37_only_birth_year_candidates_are_decrypted(monkeypatch):
    for _ in range(10):
        MemberFactory(date_of_birth=datetime.date(1990, 5, 17))
    kids = [MemberFactory(date_of_birth=datetime.date(2012, 12, 1)), MemberFactory(date_of_birth=datetime.date(2013,
                                                                                                             1, 1))]
    decrypted = []
    original = crypto.decrypt_str
    monkeypatch.setattr(crypto, "decrypt_str", lambda token: decrypted.append(token) or original(token))
    found = under_14_member_ids(today=TODAY)
    assert set(found) == {k.pk for k in kids}
    assert len(decrypted) == len(kids)  # one date of birth each, nothing else, no adult


def test_pp37_members_named_by_a_report_are_closed_and_erased_too():
    reported = MemberFactory()  # an adult date of birth, but confirmed under 14 by a report
    result = purge_under_14(today=TODAY, extra_member_ids=[reported.pk])
    assert result.changed == 1
    assert erased(reported)
    assert purge_under_14(today=TODAY, extra_member_ids=[reported.pk]).selected == 0  # tombstone now


def test_pp37_members_of_confirmed_underage_reports_are_purged():
    request_model = apps.get_model("requests_desk", "Request")
    confirmed, refused, pending = MemberFactory(), MemberFactory(), MemberFactory()
    now = timezone.now()
    for member, status in ((confirmed, "fulfilled"), (refused, "refused"), (pending, "in_progress")):
        request_model.objects.create(type="underage_report", status=status, member=member, requester_kind="guardian",
                                     channel="web", received_at=now, due_at=now + datetime.timedelta(days=15))
    request_model.objects.create(type="deletion", status="fulfilled", member=MemberFactory(),
                                 requester_kind="member", channel="web", received_at=now, due_at=now)
    assert underage_confirmed_member_ids() == {confirmed.pk}
    assert purge_under_14(today=TODAY).changed == 1
    assert erased(confirmed) and not erased(refused) and not erased(pending)


def test_pp37_reports_read_as_none_without_the_request_desk_model_or_its_fields(monkeypatch, caplog):
    def missing(app_label, model_name):
        raise LookupError(model_name)

    monkeypatch.setattr(under_14.apps, "get_model", missing)
    assert underage_confirmed_member_ids() == set()
    incomplete = SimpleNamespace(_meta=SimpleNamespace(label="requests_desk.Request",
                                                       get_fields=lambda: [SimpleNamespace(name="member")]))
    monkeypatch.setattr(under_14.apps, "get_model", lambda app_label, model_name: incomplete)
    with caplog.at_level(logging.WARNING):
        assert underage_confirmed_member_ids() == set()
    assert "confirmed-underage fields" in caplog.text


def test_pp37_a_rerun_changes_nothing_more():
    child(datetime.date(2015, 1, 1))
    purge_under_14(today=TODAY)
    before = snapshot()
    again = purge_under_14(today=TODAY)
    assert (again.selected, again.changed) == (0, 0)
    db_before, media = before
    db_after, media_after = snapshot()
    db_before.pop("retention_jobrun"), db_after.pop("retention_jobrun")  # the second run's own record
    assert_unchanged((db_before, media), (db_after, media_after))


def test_pp37_dry_run_changes_nothing(compliance_officer):
    child(datetime.date(2015, 1, 1))
    child(datetime.date(2013, 1, 1))
    before = snapshot()
    out = StringIO()
    call_command("purge_under_14", "--dry-run", "--no-progress", stdout=out)
    assert_unchanged(before, snapshot())
    report = out.getvalue()
    assert "DRY RUN" in report and "selected: 2" in report and "closed: 2" in report and "erased: 2" in report
    assert not JobRun.objects.exists()


#: Where "today" is easy to get wrong: a Monday just after midnight, a month's and a year's last
#: minutes, New Year's Day (a 2013-01-01 child turns 14), 29 February, and years ahead.
INSTANTS = ["2026-12-07T00:05:00Z", "2027-04-30T23:55:00Z", "2027-12-31T23:58:00Z", "2027-01-01T00:05:00Z",
            "2028-02-29T12:00:00Z", "2028-03-01T00:01:00Z", "2031-06-15T09:00:00Z"]


@pytest.mark.parametrize("instant", INSTANTS)
def test_pp37_the_command_counts_ages_on_the_clocks_today_at_any_instant(instant):
    """Regression: the children were fixed birth dates (2013-01-01 is 14 from 2027-01-01) while the
    command reads today's date, so the test broke when the calendar moved on."""
    with frozen(instant):
        today = timezone.localdate()
        turns_14_tomorrow = child(born(14, today, days_later=1))
        thirteen = child(born(13, today))
        turns_14_today = child(born(14, today))
        out = StringIO()
        call_command("purge_under_14", "--no-progress", stdout=out)
    assert "selected: 2" in out.getvalue() and "erased: 2" in out.getvalue()
    assert erased(turns_14_tomorrow) and erased(thirteen) and not erased(turns_14_today)


@pytest.mark.parametrize(
    ("zone", "instant", "local_day"),
    [
        ("Asia/Shanghai", "2026-06-09T16:30:00Z", datetime.date(2026, 6, 10)),  # already tomorrow there
        ("America/New_York", "2026-06-11T02:00:00Z", datetime.date(2026, 6, 10)),  # still yesterday there
        ("UTC", "2026-06-10T00:00:00Z", datetime.date(2026, 6, 10)),
    ],
)
def test_pp37_the_14th_birthday_is_counted_on_the_site_time_zones_date(settings, zone, instant, local_day):
    settings.TIME_ZONE = zone
    with frozen(instant):
        assert timezone.localdate() == local_day
        turns_14_today = child(born(14, local_day))
        turns_14_tomorrow = child(born(14, local_day, days_later=1))
        result = purge_under_14()
    assert result.selected == 1
    assert erased(turns_14_tomorrow) and not erased(turns_14_today)


def test_pp37_command_purges_named_members_and_refuses_unknown_numbers():
    named = MemberFactory()
    with pytest.raises(CommandError, match="Unknown member"):
        call_command("purge_under_14", "--member", "M000000000", "--no-progress")
    out = StringIO()
    call_command("purge_under_14", "--member", named.member_number, "--no-progress", stdout=out)
    assert "erased: 1" in out.getvalue()
    assert erased(named)


@pytest.mark.parametrize("count", [5, 50])
def test_pp37_job_queries_do_not_grow_with_members(count, django_assert_max_num_queries):
    for _ in range(count):
        child(datetime.date(2015, 1, 1))
    for _ in range(count):
        MemberFactory()
    # One engine chunk for both sizes: the engine's own per-chunk bound is asserted by its tests.
    with django_assert_max_num_queries(75):
        result = purge_under_14(today=TODAY, chunk_size=100)
    assert result.changed == count
