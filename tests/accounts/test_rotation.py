"""Key rotation (PP-26): ``manage.py rotate_keys`` re-encrypts every column and file, resumably."""

import io

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import IdentityDocument, Member
from accounts.privacy import crypto, rotation
from accounts.privacy.storage import protected_storage
from tests.accounts.canaries import is_historical, saved
from tests.factories import IdentityDocumentFactory, MemberFactory

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
FILE_CONTENT = b"\x89PNG face capture of a canary"


@pytest.fixture
def under_key_a(settings):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    return settings


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def raw_tokens() -> dict[tuple[str, object, str], str]:
    """Every non-empty stored token of every encrypted column, read with raw SQL."""
    tokens = {}
    with connection.cursor() as cursor:
        for model, fields in rotation.encrypted_columns():
            columns = ", ".join(_q(f.column) for f in fields)
            pk = _q(model._meta.pk.column)
            cursor.execute(f"SELECT {pk}, {columns} FROM {_q(model._meta.db_table)} ORDER BY {pk}")  # noqa: S608
            for pk_value, *values in cursor.fetchall():
                for field, value in zip(fields, values, strict=True):
                    if value:
                        tokens[(model._meta.db_table, pk_value, field.column)] = value
    return tokens


def decrypts_with(key: str, token: str | bytes) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode() if isinstance(token, str) else token)
    except InvalidToken:
        return False
    return True


def _every_encrypted_model_has_rows() -> dict[str, object]:
    """One saved row per model with encrypted fields (its history row comes with it)."""
    made = {}
    for model, _fields in rotation.encrypted_columns():
        if not is_historical(model):
            made[model._meta.label] = saved(model)
    return made


def _document_with_file() -> IdentityDocument:
    document = IdentityDocumentFactory()
    document.file.save("passport-scan.png", ContentFile(FILE_CONTENT))
    return document


def test_pp26_rotate_keys_reencrypts_live_history_and_files_so_the_old_key_can_go(under_key_a):
    settings = under_key_a
    rows = _every_encrypted_model_has_rows()
    member = MemberFactory(email="rotate.me@mail.example", phone="+86 139 0000 1111")
    document = _document_with_file()
    before = raw_tokens()
    tables = {table for table, _, _ in before}
    assert "accounts_historicalmember" in tables and "accounts_member" in tables
    assert all(decrypts_with(KEY_A, t) for t in before.values())

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()
    call_command("rotate_keys", "--no-progress", "--chunk-size", "3", stdout=out)

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]  # the old key is gone
    after = raw_tokens()
    assert after.keys() == before.keys()
    assert all(decrypts_with(KEY_B, t) and not decrypts_with(KEY_A, t) for t in after.values())
    fresh = Member.objects.get(pk=member.pk)
    assert (fresh.email, fresh.phone, fresh.date_of_birth) == (member.email, member.phone, member.date_of_birth)
    assert {h.email for h in Member.history.model.objects.filter(id=member.pk)} == {"rotate.me@mail.example"}
    for label, obj in rows.items():
        reloaded = type(obj)._base_manager.get(pk=obj.pk)
        for field in [f for f in type(obj)._meta.concrete_fields if getattr(f, "encrypted", False)]:
            assert getattr(reloaded, field.attname) == getattr(obj, field.attname), f"{label}.{field.name}"
    assert decrypts_with(KEY_B, protected_storage.read_ciphertext(document.file.name))
    with IdentityDocument.objects.get(pk=document.pk).file.open() as handle:
        assert handle.read() == FILE_CONTENT
    history_names = set(document.history.exclude(file="").values_list("file", flat=True))
    assert history_names == {document.file.name}

    text = out.getvalue()
    member_rows = Member.objects.count()
    member_values = sum(1 for table, _, _ in before if table == "accounts_member")
    assert f"accounts_member: {member_rows} rows read, {member_values} re-encrypted, 0 already current" in text
    assert "accounts_historicalmember:" in text
    # History is walked first (table order); the live row then finds the same file current.
    assert "accounts_historicalidentitydocument.file (files): 1 rows read, 1 re-encrypted" in text
    assert "accounts_identitydocument.file (files): 1 rows read, 0 re-encrypted, 1 already current" in text

    # Running it again finds everything current and writes nothing.
    again = rotation.rotate_keys()
    assert again.rotated == 0
    assert again.current == len(after) + 2  # the file, referenced by the live row and its history row
    assert raw_tokens() == after


def test_pp26_rotation_killed_after_the_first_chunk_is_finished_by_a_rerun(under_key_a, monkeypatch):
    settings = under_key_a
    members = [MemberFactory() for _ in range(5)]
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    real_write = rotation._write_chunk
    calls = []

    def crash_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(rotation, "_write_chunk", crash_on_second_chunk)
    with pytest.raises(RuntimeError, match="worker killed"):
        rotation.rotate_keys(chunk_size=2, only=[Member], files=False)

    # The first chunk (two members) committed under the new key; the rest is untouched.
    tokens = raw_tokens()
    under_new_key = [
        all(decrypts_with(KEY_B, t) for (table, pk, _), t in tokens.items() if (table, pk) == ("accounts_member", m.pk))
        for m in sorted(members, key=lambda m: m.pk)
    ]
    assert under_new_key == [True, True, False, False, False]

    monkeypatch.setattr(rotation, "_write_chunk", real_write)
    report = rotation.rotate_keys(chunk_size=2, only=[Member], files=False)
    table = report.table("accounts_member")
    assert (table.rows, table.current, table.rotated) == (5, 2 * 3, 3 * 3)  # done rows skipped

    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    assert sorted(m.email for m in Member.objects.all()) == sorted(m.email for m in members)


def test_pp26_dry_run_reports_counts_and_changes_nothing(under_key_a):
    settings = under_key_a
    MemberFactory.create_batch(3)
    document = _document_with_file()
    before = raw_tokens()
    file_before = protected_storage.read_ciphertext(document.file.name)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    out = io.StringIO()
    call_command("rotate_keys", "--dry-run", "--no-progress", stdout=out)

    assert raw_tokens() == before
    assert protected_storage.read_ciphertext(document.file.name) == file_before
    text = out.getvalue()
    assert f"accounts_member: {Member.objects.count()} rows read, {Member.objects.count() * 3} to re-encrypt" in text
    assert "accounts_identitydocument.file (files): 1 rows read, 1 to re-encrypt" in text
    assert "nothing was changed" in text


# At most this many queries per chunk (savepoint, select, update, release, and slack for a backend
# that splits a bulk update in two); far below the chunk size, so a query per row would fail.
MAX_QUERIES_PER_CHUNK = 5
CHUNK = 10


def _rotation_queries(count: int, settings, django_assert_max_num_queries) -> int:
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    Member.objects.all().delete()
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    MemberFactory.create_batch(count)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]
    chunks = count // CHUNK
    budget = MAX_QUERIES_PER_CHUNK * (chunks + 1)
    with django_assert_max_num_queries(budget), CaptureQueriesContext(connection) as queries:
        report = rotation.rotate_keys(chunk_size=CHUNK, only=[Member], files=False)
    assert report.table("accounts_member").rotated == count * 3
    return len(queries)


def test_pp26_rotation_queries_grow_with_chunks_not_rows(settings, django_assert_max_num_queries):
    two = _rotation_queries(2 * CHUNK, settings, django_assert_max_num_queries)
    five = _rotation_queries(5 * CHUNK, settings, django_assert_max_num_queries)
    per_chunk, rest = divmod(five - two, 3)
    assert rest == 0 and 0 < per_chunk <= MAX_QUERIES_PER_CHUNK < CHUNK


def test_pp26_a_value_under_an_unknown_key_stops_rotation_without_showing_it(under_key_a):
    settings = under_key_a
    member = MemberFactory(email="lost.key@mail.example")
    stray = Fernet(KEY_C.encode()).encrypt(b"lost.key@mail.example").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_member SET email = %s WHERE id = %s", [stray, member.pk])
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B, KEY_A]

    with pytest.raises(CommandError) as caught:
        call_command("rotate_keys", "--no-progress", stdout=io.StringIO())
    message = str(caught.value)
    assert f"accounts_member row {member.pk} column email" in message
    assert "lost.key" not in message and stray not in message
    # Nothing was lost: the other rows' values still decrypt, and the stray one is left as it was.
    assert crypto.decrypt_str(raw_tokens()[("accounts_member", member.pk, "phone")]) == member.phone
