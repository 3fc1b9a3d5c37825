"""Issue 15, requirement 2: the import's compiled field rules find what ``full_clean`` finds, with its messages.

``accounts.members.spreadsheets.row_checks.model_field_errors`` replaces ``Model.full_clean`` in
every import (design decision 8: each problem named by line, column and reason). A fast check that
let a bad value through, or changed a message, fails here: every bad value below is set on each
column in turn and both answers are compared.
"""

from __future__ import annotations

import copy
import datetime
import decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.members.spreadsheets import imports
from accounts.members.spreadsheets.row_checks import model_field_errors
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import Member, TransactionRecord
from tests.accounts.test_import import SOURCE, TXN_HEADER, csv_bytes, product_lines, txn_row  # noqa: F401
from tests.factories import MemberFactory

AWARE = datetime.datetime(2025, 3, 1, 10, 0, tzinfo=datetime.UTC)
VALUES = [
    "", None, " ", "x", "x" * 2, "X" * 20, "x" * 21, "x" * 40, "x" * 41, "x" * 100, "x" * 101, "x" * 200, "x" * 201,
    "a\x00b", "not-a-choice", "individual", "INDIVIDUAL", "active", "BTC", "btc", "CN", "cn", "CHN",
    5, 0, -1, 3.5, True, [], {},
    decimal.Decimal("0"), decimal.Decimal("-1"), decimal.Decimal("12.5"), decimal.Decimal("1.123"),
    decimal.Decimal("0.12345678901"), decimal.Decimal("1" * 19), decimal.Decimal("1" * 21),
    decimal.Decimal("1e30"), decimal.Decimal("NaN"), decimal.Decimal("Infinity"),
    AWARE, AWARE.replace(tzinfo=None), datetime.date(1990, 5, 17), "2025-03-01", "2025-03-01 10:00:00", "13/05/1990",
]


def _member() -> Member:
    return Member(member_number="IMP000001", kind="individual", status="active", verification_level="none",
                  registered_at=AWARE, nationality="CN", legal_name="Person", local_name="",
                  date_of_birth=datetime.date(1990, 5, 17), email="p@mail.example", phone="+86 138 0000 0001")


def _order() -> TransactionRecord:
    return TransactionRecord(member_id=1, order_number="ORD-1", order_time=AWARE, counterparty_nickname="trader",
                             asset_type="BTC", quantity=decimal.Decimal("0.5"), amount=decimal.Decimal("1000.00"))


def _django_answer(instance, exclude) -> tuple[dict, dict]:
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        return exc.message_dict, dict(instance.__dict__)
    except (TypeError, ValueError, ArithmeticError) as exc:  # Django's own crash (an id of Infinity)
        return {"raised": type(exc).__name__}, {}
    return {}, dict(instance.__dict__)


def _ours(instance, exclude) -> tuple[dict, dict]:
    try:
        found = model_field_errors(instance, set(exclude))
    except (TypeError, ValueError, ArithmeticError) as exc:
        return {"raised": type(exc).__name__}, {}
    return (ValidationError(found).message_dict if found else {}), dict(instance.__dict__)


def _comparable(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "_state"}


@pytest.mark.parametrize(("make", "exclude"), [
    (_member, {"product_lines"}),
    (_order, {"member", "product_line"}),  # what TransactionRecordResource resolves in bulk
], ids=["member", "transaction record"])
def test_pp06_pp13_the_compiled_checks_find_full_cleans_problems_and_messages_for_every_bad_value(make, exclude):
    """Each value on each column: the same fields refused, the same messages, the same cleaned values."""
    compared = 0
    for field in make()._meta.fields:
        if field.name in exclude or field.is_relation:  # no file column sets a key (import_batch: None)
            continue
        for value in VALUES:
            theirs, ours = make(), make()
            for instance in (theirs, ours):
                setattr(instance, field.attname, copy.copy(value))
            expected_errors, expected_state = _django_answer(theirs, exclude)
            found_errors, found_state = _ours(ours, exclude)
            assert found_errors == expected_errors, (field.name, value)
            assert _comparable(found_state) == _comparable(expected_state), (field.name, value)
            compared += 1
    assert compared > 300


def test_the_compiled_checks_pass_a_valid_row_and_refuse_what_the_model_refuses():
    """Not vacuous: a valid row passes both; a bad one is refused by both, with Django's message."""
    assert _ours(_member(), {"product_lines"})[0] == {}
    bad = _member()
    bad.member_number = "x" * 21
    bad.kind = "robot"
    assert _ours(bad, {"product_lines"})[0] == {
        "member_number": ["Ensure this value has at most 20 characters (it has 21)."],
        "kind": ["Value 'robot' is not a valid choice."],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(("column", "value"), [
    ("order_number", "O" * 41),
    ("counterparty_nickname", "n" * 101),
    ("quantity", "0.12345678901"),
    ("amount", "123456789012345678901"),
    ("amount", "1.005"),
])
def test_pp13_a_value_the_model_refuses_is_named_by_line_and_column_with_the_models_own_message(
    tmp_path, product_lines, column, value,  # noqa: F811 (fixture)
):
    """End to end through the streamed import: the problem full_clean gives, at its line and column; nothing kept."""
    member = MemberFactory(product_lines=["spot"])
    rows = [txn_row(i, member.member_number) for i in range(3)]
    rows.append(txn_row(3, member.member_number, **{column: value}))
    path = tmp_path / "orders.csv"
    path.write_bytes(csv_bytes(TXN_HEADER, rows))
    expected = _order()
    setattr(expected, column, TransactionRecordResource.fields[column].widget.clean(value))
    messages = _django_answer(expected, {"member", "product_line"})[0][column]

    report = imports.records_import_file(resource_class=TransactionRecordResource, path=path, file_format="csv",
                                         source=SOURCE)

    assert [str(p) for p in report.problems] == [f"line 5, column {column}: {m}" for m in messages]
    assert TransactionRecord.objects.count() == 0
