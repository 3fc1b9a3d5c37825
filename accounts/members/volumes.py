"""The per-member daily volumes (``MemberDailyVolume``): plain totals over encrypted amounts (PP-10).

Transaction amounts are encrypted at rest (PP-01), so the database cannot add them up. What needs
arithmetic over them (the advanced-verification threshold, the de-identified export) reads one
row per member and day (UTC) instead: the number of orders and their total amount. Every write
path keeps it exact:

- ``volumes_add(records)``: orders just created (the import, the seeder, demo data, factories) are
  added to their days in a constant number of queries whatever the number of orders (PostgreSQL:
  one ``INSERT … ON CONFLICT`` adding to the stored days; elsewhere one read of the days they
  touch, one bulk update, one bulk insert); ``VolumeTotals`` sums a whole import's orders first
  and adds them once;
- ``volumes_refresh(member_ids)``: a member's days recomputed from its encrypted rows (erasure,
  which may move order times to the year; anything that rewrote rows in place); three queries;
- ``volumes_check(fix=...)``: the whole table recomputed from the encrypted rows, chunk by chunk,
  and compared (``manage.py transaction_volume_check``); ``--fix`` rewrites the members that drift.

Key rotation re-encrypts the rows to the same values: the totals do not change.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.utils.translation import gettext as _

from accounts.members import bulk_copy
from accounts.members.bulk_lookup import array_text
from accounts.members.orders import MemberDailyVolume, TransactionRecord

DEFAULT_CHUNK_SIZE = 2000
#: The record model whose amounts the volumes sum (other apps refresh after rewriting it).
VOLUME_SOURCE = TransactionRecord

Key = tuple[int, datetime.date]


def day_of(moment: datetime.datetime) -> datetime.date:
    """The UTC day of an order time (aware datetimes; naive ones are taken as UTC)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC)
    return moment.date()


def _new_totals() -> dict[Key, list]:
    return defaultdict(lambda: [0, Decimal("0")])


def _sum_into(totals: dict[Key, list], rows: Iterable[tuple[int, datetime.datetime, Decimal]]) -> dict[Key, list]:
    for member_id, order_time, amount in rows:
        entry = totals[(member_id, day_of(order_time))]
        entry[0] += 1
        if type(amount) is not Decimal:
            amount = Decimal(str(amount)) if amount not in (None, "") else Decimal("0")
        entry[1] += amount
    return totals


def _totals(rows: Iterable[tuple[int, datetime.datetime, Decimal]]) -> dict[Key, list]:
    return _sum_into(_new_totals(), rows)


@transaction.atomic
def volumes_add(records: Iterable[TransactionRecord], *, new_members: bool = False) -> int:
    """Add newly created orders to their members' days; returns the number of days touched.

    ``new_members``: the members were created in this transaction (the seeder), so no day of
    theirs is stored yet and the read is skipped (one query: the insert).
    """
    totals = _totals((r.member_id, r.order_time, r.amount) for r in records)
    _add_totals(totals, new_members=new_members)
    return len(totals)


#: Member-days ``VolumeTotals`` sums before it writes them (20,000: a few MiB of sums, five upserts for
#: 100,000 orders of 20,000 members).
MAX_DAYS = 20_000


class VolumeTotals:
    """The daily volumes of many orders summed in Python and added to the table once (issue 15).

    The streamed import adds each chunk's orders (``add``) and writes once at the end (``flush``),
    instead of reading and updating the members' days chunk by chunk: the same totals as
    ``volumes_add`` per chunk (tests/accounts/test_import_volumes.py). Memory grows with the
    member-days touched, not the orders: past ``max_days`` (``MAX_DAYS``) of them the sums are written early.
    """

    def __init__(self, *, max_days: int | None = None):
        self.max_days = max_days or MAX_DAYS
        self.totals = _new_totals()

    def add(self, records: Iterable[TransactionRecord]) -> None:
        self.add_values((r.member_id, r.order_time, r.amount) for r in records)
        self.flush_if_full()

    def add_values(self, rows: Iterable[tuple[int, datetime.datetime, Decimal]]) -> None:
        """Sum ``(member id, order time, amount)`` values, no query (the column path: its COPY is still open)."""
        _sum_into(self.totals, rows)

    def flush_if_full(self) -> None:
        """``flush`` once past ``max_days`` member-days: bounded memory."""
        if len(self.totals) > self.max_days:
            self.flush()

    def flush(self) -> int:
        """Add the sums to the stored days (in the caller's transaction); returns the days touched."""
        count = len(self.totals)
        if count:
            with transaction.atomic():
                _add_totals(self.totals)
            self.totals = _new_totals()
        return count


#: One statement adds every (member, day) to its row or makes the row (PostgreSQL): no read first.
_UPSERT = """
INSERT INTO {table} (member_id, day, orders, amount)
SELECT * FROM unnest(%s::bigint[], %s::date[], %s::integer[], %s::numeric[])
ON CONFLICT (member_id, day) DO UPDATE
SET orders = {table}.orders + EXCLUDED.orders, amount = {table}.amount + EXCLUDED.amount
"""


def _add_totals(totals: dict[Key, list], *, new_members: bool = False) -> None:
    if not totals:
        return
    if bulk_copy.available():
        keys = list(totals)
        # The four arrays as array literals (numbers and ISO dates: nothing to quote): psycopg adapts a
        # list element by element, which cost more than the upsert's own Python (issue 15).
        with connection.cursor() as cursor:
            cursor.execute(_UPSERT.format(table=connection.ops.quote_name(MemberDailyVolume._meta.db_table)), [
                array_text(member_id for member_id, _day in keys), array_text(day for _member, day in keys),
                array_text(totals[key][0] for key in keys), array_text(totals[key][1] for key in keys),
            ])
        return
    existing = {}
    if not new_members:
        members = sorted({member_id for member_id, _day in totals})
        days = [day for _member, day in totals]
        # The members' days between the first and the last order: a range, not a list of every day
        # (an import's chunk spans years of orders; a long IN list cost more than the rows it finds).
        existing = {
            (v.member_id, v.day): v
            for v in MemberDailyVolume.objects.select_for_update().filter(
                member_id__in=members, day__range=(min(days), max(days)))
            if (v.member_id, v.day) in totals
        }
    changed, new = [], []
    for key, (orders, amount) in totals.items():
        row = existing.get(key)
        if row is None:
            new.append(MemberDailyVolume(member_id=key[0], day=key[1], orders=orders, amount=amount))
        else:
            row.orders += orders
            row.amount += amount
            changed.append(row)
    MemberDailyVolume.objects.bulk_update(changed, ["orders", "amount"], batch_size=1000)
    MemberDailyVolume.objects.bulk_create(new, batch_size=1000)


def _recomputed(member_ids: list[int]) -> dict[Key, list]:
    rows = (
        TransactionRecord.objects.filter(member_id__in=member_ids)
        .order_by()
        .values_list("member_id", "order_time", "amount")
    )
    return _totals(rows.iterator(chunk_size=DEFAULT_CHUNK_SIZE))


@transaction.atomic
def volumes_refresh(member_ids: Iterable[int]) -> None:
    """Recompute these members' days from their encrypted rows (decrypted here, never in SQL)."""
    ids = sorted(set(member_ids))
    if not ids:
        return
    totals = _recomputed(ids)
    MemberDailyVolume.objects.filter(member_id__in=ids).delete()
    MemberDailyVolume.objects.bulk_create(
        [MemberDailyVolume(member_id=m, day=d, orders=o, amount=a) for (m, d), (o, a) in sorted(totals.items())],
        batch_size=1000,
    )


@dataclass
class VolumeCheck:
    """What ``volumes_check`` found: members read, members whose stored days differ, and by how much."""

    members: int = 0
    orders: int = 0
    #: Days (member, day) whose stored figures differ from the recomputed ones; 0 expected.
    drift: int = 0
    drifting_members: list[int] = field(default_factory=list)
    orders_drift: int = 0  # sum over days of |stored - recomputed| order counts
    amount_drift: Decimal = Decimal("0")  # sum over days of |stored - recomputed| amounts
    fixed: bool = False

    def line(self) -> str:
        text = _(
            "%(members)s members, %(orders)s orders checked: drift %(drift)s days "
            "(%(drifting)s members, %(orders_drift)s orders, %(amount_drift)s USD)"
        ) % {
            "members": self.members, "orders": self.orders, "drift": self.drift,
            "drifting": len(self.drifting_members), "orders_drift": self.orders_drift,
            "amount_drift": self.amount_drift,
        }
        return text + (_("; fixed") if self.fixed and self.drift else "")


def _member_id_chunks(chunk_size: int) -> Iterable[list[int]]:
    """Every member with orders or stored days, in key order, a chunk at a time (bounded memory)."""
    with_orders = TransactionRecord.objects.order_by().values_list("member_id", flat=True).distinct()
    with_days = MemberDailyVolume.objects.order_by().values_list("member_id", flat=True).distinct()
    ids = sorted(set(with_orders.iterator(chunk_size=10_000)) | set(with_days.iterator(chunk_size=10_000)))
    for start in range(0, len(ids), chunk_size):
        yield ids[start : start + chunk_size]


def members_to_check() -> int:
    """How many members ``volumes_check`` will read (the progress bar's total)."""
    with_orders = set(TransactionRecord.objects.order_by().values_list("member_id", flat=True).distinct())
    return len(with_orders | set(MemberDailyVolume.objects.order_by().values_list("member_id", flat=True).distinct()))


def volumes_check(
    *, fix: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE, on_progress: Callable[[int], None] | None = None
) -> VolumeCheck:
    """Recompute every member's days from the encrypted rows and compare with the stored ones.

    A chunk of members at a time (two reads each: their orders, their stored days); with ``fix``
    the drifting members of the chunk are rewritten in the chunk's transaction.
    """
    report = VolumeCheck(fixed=fix)
    for ids in _member_id_chunks(chunk_size):
        with transaction.atomic():
            recomputed = _recomputed(ids)
            stored = {
                (v.member_id, v.day): (v.orders, v.amount)
                for v in MemberDailyVolume.objects.filter(member_id__in=ids)
            }
            drifting = set()
            for key in recomputed.keys() | stored.keys():
                want_orders, want_amount = recomputed.get(key, (0, Decimal("0")))
                have_orders, have_amount = stored.get(key, (0, Decimal("0")))
                if (want_orders, want_amount) != (have_orders, have_amount):
                    report.drift += 1
                    report.orders_drift += abs(want_orders - have_orders)
                    report.amount_drift += abs(want_amount - have_amount)
                    drifting.add(key[0])
            report.members += len(ids)
            report.orders += sum(orders for orders, _amount in recomputed.values())
            report.drifting_members.extend(sorted(drifting))
            if fix and drifting:
                volumes_refresh(drifting)
        if on_progress is not None:
            on_progress(len(ids))
    return report
