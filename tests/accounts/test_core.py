"""Core of issue 3: encryption at rest, blind index, age, data map completeness."""

import datetime

import pytest
from django.db import connection

from accounts.members.selectors import members_by_exact_value
from accounts.models import Member
from accounts.privacy import crypto, datamap
from tests.factories import IdentityDocumentFactory, MemberFactory

pytestmark = pytest.mark.django_db


def test_pp01_every_field_of_every_model_is_declared_in_the_data_map():
    assert datamap.undeclared_fields() == []
    assert datamap.unknown_declarations() == []


def test_pp26_sensitive_values_are_ciphertext_in_the_table_and_in_history():
    member = MemberFactory(email="plain.canary@mail.example", phone="+86 139 1234 5678")
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone, date_of_birth FROM accounts_member WHERE id = %s", [member.pk])
        live = cursor.fetchone()
        cursor.execute("SELECT email, phone, date_of_birth FROM accounts_historicalmember WHERE id = %s", [member.pk])
        history = cursor.fetchall()
    assert history
    for row in [live, *history]:
        joined = " ".join(str(v) for v in row)
        assert "plain.canary" not in joined
        assert "1234 5678" not in joined and "12345678" not in joined
        assert "1990-05-17" not in joined
    assert Member.objects.get(pk=member.pk).email == "plain.canary@mail.example"


def test_pp26_blind_index_finds_an_exact_document_number_without_decrypting():
    document = IdentityDocumentFactory()
    typed = document.number.lower()[:6] + " " + document.number[6:]
    assert list(members_by_exact_value(typed)) == [document.member]
    assert crypto.blind_index("document", document.number) == document.number_bidx


def test_pp03_age_and_child_boundaries():
    member = MemberFactory.build(date_of_birth=datetime.date(2012, 6, 10))
    assert member.age_on(datetime.date(2026, 6, 9)) == 13
    assert member.is_child_on(datetime.date(2026, 6, 9))
    assert member.age_on(datetime.date(2026, 6, 10)) == 14
    assert not member.is_child_on(datetime.date(2026, 6, 10))


def test_pp03_leap_day_birthdays():
    member = MemberFactory.build(date_of_birth=datetime.date(2012, 2, 29))
    assert member.is_child_on(datetime.date(2026, 2, 28))
    assert not member.is_child_on(datetime.date(2026, 3, 1))
    assert member.age_on(datetime.date(2028, 2, 29)) == 16
