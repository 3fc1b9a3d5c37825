"""Issue 15, requirement 2: the streamed import's instances are what Django's own steps make.

``accounts.members.spreadsheets.instances`` replaces ``Model()`` and a foreign key's descriptor on
the rows of an import; these tests compare the instances, field by field, with Django's.
"""

from __future__ import annotations

import datetime

import pytest
from django.db.models import signals

from accounts.members.spreadsheets import instances
from accounts.models import Member, MemberDailyVolume, ProductLine, TransactionRecord
from tests.factories import MemberFactory


def _values(instance) -> dict:
    return {key: value for key, value in instance.__dict__.items() if key != "_state"}


@pytest.mark.parametrize("model", [TransactionRecord, MemberDailyVolume, Member])
def test_a_new_instance_has_the_fields_and_state_model_makes(model):
    make = instances.instance_factory(model)

    made, expected = make(), model()

    assert isinstance(made, model)
    if model is Member:  # ``registered_at`` defaults to now: called per instance
        assert abs(made.registered_at - expected.registered_at) < datetime.timedelta(minutes=1)
        made.registered_at = expected.registered_at
    assert _values(made) == _values(expected)
    assert (made._state.adding, made._state.db, made._state.fields_cache) == (True, None, {})
    assert make() is not made and make()._state is not made._state


def test_a_model_that_a_post_init_receiver_listens_to_is_made_by_django():
    def receiver(sender, instance, **kwargs):
        instance.seen = True

    signals.post_init.connect(receiver, sender=MemberDailyVolume)
    try:
        make = instances.instance_factory(MemberDailyVolume)
        assert make is MemberDailyVolume and make().seen
    finally:
        signals.post_init.disconnect(receiver, sender=MemberDailyVolume)


@pytest.mark.django_db
def test_a_foreign_key_set_directly_reads_back_as_the_descriptor_sets_it(django_assert_num_queries):
    member = MemberFactory(product_lines=["spot"])
    line = ProductLine.objects.get(code="spot")
    setters = instances.column_setters(TransactionRecord, ["member", "product_line", "order_number"])
    made, expected = TransactionRecord(), TransactionRecord()

    for setter, value in zip(setters, (member, line, "T-1"), strict=True):
        setter(made, value)
    expected.member, expected.product_line, expected.order_number = member, line, "T-1"

    with django_assert_num_queries(0):
        assert (made.member, made.product_line) == (member, line)
        assert made.member is member
    assert _values(made) == _values(expected)
    assert made._state.db == expected._state.db == "default"
    instances.set_related(made, TransactionRecord._meta.get_field("product_line"), None)
    expected.product_line = None
    assert (made.product_line_id, made.product_line) == (None, None)
    assert _values(made) == _values(expected)
