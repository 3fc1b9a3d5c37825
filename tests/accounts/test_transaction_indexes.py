"""The transaction records' table carries no index that another one already gives (issue 15, PP-02, PP-13).

It is the largest table: every index on it is written by every import (``COPY``) and by every
erasure chunk (the orders' personal columns are rewritten, PP-02), so an index that another index's
leading columns already give costs both and serves no query. The order number stays unique.
"""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import TransactionRecord
from accounts.privacy import crypto
from tests.factories import TransactionRecordFactory

pytestmark = pytest.mark.django_db


def _indexes() -> dict[str, dict]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, TransactionRecord._meta.db_table)
    return {name: c for name, c in constraints.items() if (c["index"] or c["unique"]) and not c["primary_key"]}


def test_pp13_no_index_of_the_orders_is_the_leading_part_of_another():
    indexes = _indexes()
    covered = [
        (name, other)
        for name, index in indexes.items() if not index["unique"]
        for other, wider in indexes.items()
        if other != name and len(wider["columns"]) > len(index["columns"])
        and wider["columns"][: len(index["columns"])] == index["columns"]
    ]
    assert covered == []
    # The member's and the product line's orders are still found through an index that leads with them.
    leading = {tuple(index["columns"][:1]) for index in indexes.values()}
    assert {("member_id",), ("product_line_id",), ("order_number_bidx",), ("order_time",)} <= leading


def test_pp13_the_order_numbers_blind_index_has_no_pattern_index():
    """A blind index is only compared for equality: no ``varchar_pattern_ops`` copy (PostgreSQL adds one
    for ``unique=True``), one unique index only."""
    on_bidx = [name for name, index in _indexes().items() if index["columns"] == ["order_number_bidx"]]
    assert len(on_bidx) == 1
    assert _indexes()[on_bidx[0]]["unique"]


def test_pp13_an_order_number_is_still_stored_once():
    order = TransactionRecordFactory()
    twin = TransactionRecordFactory.build(member=order.member, product_line=order.product_line)
    twin.order_number = order.order_number
    with pytest.raises(IntegrityError), transaction.atomic():
        twin.save()
    assert TransactionRecord.objects.filter(
        order_number_bidx=crypto.blind_index("order", order.order_number)).count() == 1
