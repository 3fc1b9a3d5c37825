"""Encryption at rest (PP-01, PP-26): proofs on the raw tables, blind indexes, refused lookups.

Models with encrypted fields are found from the registry, so a model added later by any app is
proven the same way (it needs a factory in ``tests/factories.py`` or must be buildable generically).
"""

import datetime

import pytest
from cryptography.fernet import Fernet
from django.apps import apps
from django.core.exceptions import FieldError
from django.core.files.base import ContentFile
from django.db import connection, models

from accounts.members.selectors import members_by_exact_value, members_possibly_under, members_under
from accounts.models import IdentityDocument, Member
from accounts.privacy import crypto, datamap
from accounts.privacy.storage import EncryptedFileSystemStorage, protected_storage
from tests.accounts.canaries import build, canary_for, factory_for, is_historical, saved
from tests.factories import (
    IdentityDocumentFactory,
    InstitutionFactory,
    MemberFactory,
    PaymentInstrumentFactory,
    RelatedPersonFactory,
)

pytestmark = pytest.mark.django_db


def _encrypted(model) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if getattr(f, "encrypted", False)]


def encrypted_models(*, historical: bool) -> list[type[models.Model]]:
    return [
        m for m in apps.get_models()
        if _encrypted(m) and not m._meta.proxy and is_historical(m) == historical
    ]


def history_model_of(model):
    return next((h for h in apps.get_models() if is_historical(h) and h.instance_type is model), None)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _raw_rows(table: str, column: str, value) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {_q(table)} WHERE {_q(column)} = %s", [value])  # noqa: S608
        return cursor.fetchall()


def _create_with_canaries(model) -> tuple[models.Model, dict[str, list[str]]]:
    canaries, values = {}, {}
    for field in _encrypted(model):
        value, strings = canary_for(field, model)
        values[field.name] = value
        canaries[field.name] = strings
    factory = factory_for(model)
    if factory is not None:
        obj = factory(**values)
    else:
        obj = build(model, canaries=False, related=saved)
        for name, value in values.items():
            setattr(obj, name, value)
        obj.save()
    return obj, canaries


def test_the_proof_covers_the_known_encrypted_models():
    labels = {m._meta.label for m in encrypted_models(historical=False)}
    assert {
        "accounts.Member", "accounts.RelatedPerson", "accounts.InstitutionProfile", "accounts.IdentityDocument",
        "accounts.PaymentInstrument", "accounts.DeviceRecord",
    } <= labels
    history = {m._meta.label for m in encrypted_models(historical=True)}
    assert {"accounts.HistoricalMember", "accounts.HistoricalIdentityDocument"} <= history


@pytest.mark.parametrize("model", encrypted_models(historical=False), ids=lambda m: m._meta.label)
def test_pp26_no_plaintext_in_the_table_or_its_history(model):
    obj, canaries = _create_with_canaries(model)
    obj.save()  # an update too: both history paths (create, change) copy the values
    assert all(getattr(obj, name) is not None for name in canaries)
    rows = _raw_rows(model._meta.db_table, model._meta.pk.column, obj.pk)
    assert len(rows) == 1
    history = history_model_of(model)
    if history is not None:
        history_rows = _raw_rows(history._meta.db_table, model._meta.pk.column, obj.pk)
        assert len(history_rows) >= 2
        rows += history_rows
    for row in rows:
        text = " ".join(str(value) for value in row)
        for name, strings in canaries.items():
            for string in strings:
                assert string not in text, f"{model._meta.label}.{name} is readable in the database"
    # ... and the application still reads the plaintext back.
    fresh = model._base_manager.get(pk=obj.pk)
    assert {n: getattr(fresh, n) for n in canaries} == {n: getattr(obj, n) for n in canaries}


def test_pp01_every_sensitive_field_is_encrypted_at_rest():
    """A field the data map calls sensitive is an encrypted column, or a file in encrypted storage."""
    plain = []
    for model in apps.get_models():
        dm = datamap.declaration(model)
        if dm is None or is_historical(model):
            continue
        for name, personal in dm.personal.items():
            if not personal.sensitive:
                continue
            field = model._meta.get_field(name)
            if getattr(field, "encrypted", False):
                continue
            if isinstance(field, models.FileField) and isinstance(field.storage, EncryptedFileSystemStorage):
                continue
            plain.append(f"{model._meta.label}.{name}")
    assert plain == []


def test_pp26_document_files_are_ciphertext_on_disk():
    document = IdentityDocumentFactory()
    document.file.save("passport.png", ContentFile(b"canary-image-bytes-zq77"))
    on_disk = protected_storage.read_ciphertext(document.file.name)
    assert b"canary-image-bytes-zq77" not in on_disk
    assert "passport" not in document.file.name  # the uploaded name may carry a person's name
    with IdentityDocument.objects.get(pk=document.pk).file.open() as handle:
        assert handle.read() == b"canary-image-bytes-zq77"


# --- Blind index ----------------------------------------------------------------------------------
def test_pp26_blind_index_finds_an_email_whatever_its_case_and_spaces():
    member = MemberFactory(email="Li.Wei@Mail.Example")
    MemberFactory(email="li.wei2@mail.example")
    assert list(members_by_exact_value("  li.wei@MAIL.example ")) == [member]
    assert list(members_by_exact_value("li.wei@mail.example.cn")) == []


def test_pp26_blind_index_finds_a_phone_whatever_its_spaces_and_dashes():
    member = MemberFactory(phone="+86 138 0013 8000")
    assert list(members_by_exact_value("+86-138-0013-8000")) == [member]
    assert list(members_by_exact_value("86 13800138000")) == [member]
    assert list(members_by_exact_value("+86 138 0013 8001")) == []


def test_pp26_blind_index_finds_a_document_number_whatever_its_case_spaces_and_dashes():
    document = IdentityDocumentFactory(number="11010519491231002x")
    typed = " 110105-1949 1231-002X "
    assert list(members_by_exact_value(typed)) == [document.member]
    assert list(members_by_exact_value("110105194912310021")) == []


def test_pp26_blind_index_finds_a_card_and_a_related_persons_email():
    instrument = PaymentInstrumentFactory(number="6222 0200 1234 5678")
    assert list(members_by_exact_value("6222-0200-1234-5678")) == [instrument.member]
    assert list(members_by_exact_value("622202001234567 8")) == [instrument.member]
    person = RelatedPersonFactory(email="Owner@Corp.Example")
    assert list(members_by_exact_value("owner@corp.example")) == [person.member]


def test_pp26_blind_index_is_a_keyed_hash_not_the_value():
    member = MemberFactory(email="hash.me@mail.example")
    row = _raw_rows("accounts_member", "id", member.pk)[0]
    assert all("hash.me" not in str(value) for value in row)
    assert member.email_bidx == crypto.blind_index("email", "HASH.ME@mail.example ")
    assert len(member.email_bidx) == 64


# --- Refused lookups ---------------------------------------------------------------------------------
REFUSED_LOOKUPS = ["exact", "iexact", "contains", "icontains", "startswith", "endswith", "in", "gt", "lte", "regex"]


@pytest.mark.parametrize(
    "model", encrypted_models(historical=False) + encrypted_models(historical=True), ids=lambda m: m._meta.label
)
def test_pp26_filtering_an_encrypted_field_is_refused_with_a_clear_error(model):
    for field in _encrypted(model):
        for lookup in REFUSED_LOOKUPS:
            value = ["zq-secret-value"] if lookup == "in" else "zq-secret-value"
            with pytest.raises(FieldError) as caught:
                model._base_manager.filter(**{f"{field.name}__{lookup}": value}).count()
            message = str(caught.value)
            assert field.name in message and "encrypted" in message
            assert "zq-secret-value" not in message
        with pytest.raises(FieldError):
            model._base_manager.filter(**{field.name: "zq-secret-value"})
        # Only "is it empty" is allowed.
        assert model._base_manager.filter(**{f"{field.name}__isnull": True}).count() == 0


# --- Unknown key -------------------------------------------------------------------------------------
def test_pp26_a_value_under_an_unknown_key_raises_without_showing_it():
    member = MemberFactory()
    stranger = Fernet(Fernet.generate_key())
    token = stranger.encrypt(b"unknown.key@mail.example").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_member SET email = %s WHERE id = %s", [token, member.pk])
    with pytest.raises(crypto.DecryptionError) as caught:
        Member.objects.get(pk=member.pk)
    message = str(caught.value)
    assert "unknown.key" not in message and token not in message and token[:20] not in message
    assert "does not decrypt with any configured key" in message


def test_pp26_a_file_under_an_unknown_key_raises_without_showing_it():
    document = IdentityDocumentFactory()
    document.file.save("scan.png", ContentFile(b"face"))
    protected_storage.write_ciphertext(document.file.name, Fernet(Fernet.generate_key()).encrypt(b"zq-face"))
    with pytest.raises(crypto.DecryptionError) as caught:
        document.file.open().read()
    assert "zq-face" not in str(caught.value)


# --- Date of birth: encrypted, selected by its plain birth year (PP-03, PP-37) -----------------------
ON = datetime.date(2026, 6, 10)


@pytest.fixture
def ages():
    born = {
        "fourteen_today": datetime.date(2012, 6, 10),  # candidate, 14 exactly: not a child
        "fourteen_tomorrow": datetime.date(2012, 6, 11),  # candidate, 13
        "leap_day_2012": datetime.date(2012, 2, 29),  # candidate, 14 since 1 March
        "born_2013": datetime.date(2013, 1, 1),  # candidate, 13
        "born_2020": datetime.date(2020, 7, 1),  # candidate, 5
        "born_2011": datetime.date(2011, 12, 31),  # not a candidate: 14 whatever the day
        "adult": datetime.date(1990, 5, 17),  # not a candidate
    }
    members = {name: MemberFactory(date_of_birth=day) for name, day in born.items()}
    members["institution"] = InstitutionFactory()  # no date of birth, no birth year
    return members


def test_pp03_candidates_are_selected_in_sql_by_birth_year_only(ages, django_assert_num_queries):
    with django_assert_num_queries(1) as captured:
        candidates = set(members_possibly_under(14, on=ON).values_list("member_number", flat=True))
    assert "birth_year" in captured.captured_queries[0]["sql"]
    expected = {ages[n].member_number for n in ("fourteen_today", "fourteen_tomorrow", "leap_day_2012",
                                                "born_2013", "born_2020")}
    assert candidates == expected
    assert candidates < set(Member.objects.values_list("member_number", flat=True))  # a strict subset


def test_pp03_members_under_decrypts_only_the_candidates(ages, django_assert_num_queries, monkeypatch):
    decrypted = []
    real = crypto.decrypt_str
    monkeypatch.setattr(crypto, "decrypt_str", lambda token: decrypted.append(1) or real(token))
    with django_assert_num_queries(1):
        children = members_under(14, on=ON)
    assert {m.member_number for m in children} == {
        ages[n].member_number for n in ("fourteen_tomorrow", "born_2013", "born_2020")
    }
    candidates = members_possibly_under(14, on=ON).count()
    # Three encrypted values per individual (date of birth, e-mail, phone), for candidates only.
    assert len(decrypted) == 3 * candidates < 3 * Member.objects.count()


def test_pp03_members_under_on_the_fourteenth_birthday_and_the_day_before(ages):
    day_before = ON - datetime.timedelta(days=1)
    assert ages["fourteen_today"] in members_under(14, on=day_before)
    assert ages["fourteen_today"] not in members_under(14, on=ON)
    assert ages["leap_day_2012"] in members_under(14, on=datetime.date(2026, 2, 28))
    assert ages["leap_day_2012"] not in members_under(14, on=datetime.date(2026, 3, 1))


def test_pp01_the_migration_encrypts_funding_sources_stored_in_plaintext_before_it():
    """Rows written before funding sources were declared sensitive are encrypted by migration 0006,
    live and history alike; a rerun leaves already-encrypted values alone."""
    import importlib

    from django.db.migrations.loader import MigrationLoader

    from accounts.models import InstitutionProfile
    from tests.factories import InstitutionProfileFactory

    profile = InstitutionProfileFactory(funding_sources="")
    history = InstitutionProfile.history.model
    with connection.cursor() as cursor:  # as the column held it before 0006: plaintext
        for table in (InstitutionProfile._meta.db_table, history._meta.db_table):
            sql = f"UPDATE {table} SET funding_sources = %s WHERE id = %s"  # noqa: S608 (our table names)
            cursor.execute(sql, ["Mining income Qzxv — 矿", profile.pk])
    before = MigrationLoader(connection).project_state(("accounts", "0005_member_number_prefix_index")).apps
    migration = importlib.import_module("accounts.migrations.0006_encrypt_funding_sources")

    migration.encrypt_existing(before, None)
    migration.encrypt_existing(before, None)  # idempotent

    for table in (InstitutionProfile._meta.db_table, history._meta.db_table):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT funding_sources FROM {table} WHERE id = %s", [profile.pk])  # noqa: S608
            stored = [row[0] for row in cursor.fetchall()]
        assert stored and all("Qzxv" not in value for value in stored)
    assert InstitutionProfile.objects.get(pk=profile.pk).funding_sources == "Mining income Qzxv — 矿"
    assert {h.funding_sources for h in history.objects.filter(id=profile.pk)} == {"Mining income Qzxv — 矿"}
