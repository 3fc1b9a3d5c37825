"""Issue 15, requirement 2: ``accounts.members.bulk_copy.copy_insert`` stores what ``bulk_create`` stores.

COPY sends plain values as they are when PostgreSQL's adapter would return them unchanged, and
Django's ``pre_save``/``get_db_prep_save`` otherwise: the rows read back (raw columns, blind
indexes, decrypted values) are the same either way. PostgreSQL only (COPY).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection

from accounts.members import bulk_copy
from accounts.models import ImportBatch, TransactionRecord
from accounts.privacy import crypto
from tests.factories import MemberFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not bulk_copy.available(), reason="COPY is PostgreSQL's"),
]

PLAIN = ("member_id", "order_number_bidx", "order_time", "import_batch_id", "product_line_id")
ENCRYPTED = ("order_number", "counterparty_nickname", "asset_type", "quantity", "amount")


def _records(member, batch, prefix: str) -> list[TransactionRecord]:
    line = member.product_lines.first()
    return [
        TransactionRecord(
            member=member, order_number=f"{prefix}-{i}", counterparty_nickname="" if i == 1 else f"peer {i}",
            order_time=datetime.datetime(2025, 3, 1 + i, 9, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=8)))
            if i != 2 else datetime.datetime(2025, 3, 1, 9, 30, tzinfo=datetime.UTC),
            asset_type="BTC", quantity=Decimal("0.1250000000"), amount=Decimal(f"{i}.5"),
            import_batch=batch if i % 2 else None, product_line=line if i != 3 else None,
        )
        for i in range(5)
    ]


def _stored(prefix: str) -> list[tuple]:
    columns = ", ".join((*PLAIN, *ENCRYPTED))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns} FROM accounts_transactionrecord ORDER BY order_time, id")  # noqa: S608
        rows = cursor.fetchall()
    found = []
    for row in rows:
        plain, tokens = row[: len(PLAIN)], row[len(PLAIN):]
        values = tuple(crypto.decrypt_str(token) if token else token for token in tokens)
        if values[0].startswith(prefix):
            found.append((*plain[:1], *plain[2:], values[0].removeprefix(prefix), *values[1:], plain[1] is not None))
    return found


def test_pp26_copy_insert_stores_the_rows_bulk_create_stores():
    member = MemberFactory(product_lines=["spot"])
    batch = ImportBatch.objects.create(model_label="accounts.TransactionRecord", source="Partner, DSA-1")

    TransactionRecord.objects.bulk_create(_records(member, batch, "BC"))
    bulk_copy.copy_insert(model=TransactionRecord, objs=_records(member, batch, "CP"))

    assert _stored("CP") == _stored("BC")
    assert len(_stored("CP")) == 5
    index = TransactionRecord.objects.get(order_number_bidx=crypto.blind_index("order", "CP-3"))
    assert (index.order_number, index.product_line_id, index.amount) == ("CP-3", None, Decimal("3.50"))
