"""Proof of erasure (issue 5, requirement 6; PP-02): nothing of an erased member is left anywhere.

One member gets a unique canary string in every personal field the data map declares (the member
row, related persons, documents and their files, verifications, instruments, devices, transactions,
consent events with evidence, guardians, SMS replies, requests with their messages, attachments and
generated access packages, history rows, an admin log entry, the access log, erasure-run items).
Encrypted fields carry the canary in their plaintext, so their raw ciphertexts (and blind indexes)
are recorded before the erasure. After erasing that member, every column of every table is read
with raw SQL and every file under the media root is read (decrypted when it is ours): zero
occurrences of the canary, the old member number, or any of the old ciphertexts - except the order
numbers of transaction records, which the data map keeps for the legal retention period attached to
the tombstone, and which the catch-up anonymises once that period has passed (then: zero). A second
member with its own canary is seeded the same way and must be found intact.

Fields whose type cannot hold a string (IP addresses, two-letter country codes, amounts, the last
four digits of a card) carry ordinary values; they are covered by the row checks of test_engine.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, models
from django.db.models import TextField
from django.db.models.functions import Cast
from django.utils import timezone

from accounts.models import Member, StaffUser, TransactionRecord
from accounts.privacy import crypto
from accounts.privacy.datamap import declaration, models_about_members
from accounts.privacy.fields import BlindIndexField
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import expiry, runner
from retention.erasure.plan import plan
from retention.models import ErasureRun, ErasureRunItem, LegalHold
from tests.retention.erasure_seed import consents_model, member_is_untouched, seed_member

pytestmark = pytest.mark.django_db

VICTIM = "qzv7cnry"
OTHER = "wpk3othr"
_serial = itertools.count(1)


# --- Seeding --------------------------------------------------------------------------------------
def _plain(f: models.Field):
    if f.choices:
        return f.choices[0][0]
    if isinstance(f, models.BooleanField):
        return False
    if isinstance(f, models.DateTimeField):
        return timezone.now() + datetime.timedelta(days=15)
    if isinstance(f, models.DateField):
        return timezone.localdate()
    if isinstance(f, models.DecimalField | models.IntegerField | models.FloatField):
        return 1
    if isinstance(f, models.GenericIPAddressField):
        return "192.0.2.1"
    if isinstance(f, models.JSONField):
        return {}
    if isinstance(f, models.CharField | models.TextField):
        return f"v{next(_serial)}"[: f.max_length or 20]
    return None


def _generic_row(model, member: Member, tag: str, parents: dict, staff: StaffUser):
    """A row of ``model`` for ``member`` with the canary in every personal text field."""
    personal = declaration(model).personal
    obj = model()
    files = []
    for f in model._meta.concrete_fields:
        if f.primary_key or isinstance(f, BlindIndexField):
            continue
        if f.is_relation:
            target = f.related_model
            if target is Member:
                value = member
            elif target in parents:
                value = parents[target]
            elif f.null:
                continue
            elif target is StaffUser:
                value = staff
            else:
                value = target._base_manager.order_by("pk").first()
            if value is None and not f.null:
                pytest.fail(f"Cannot seed {model._meta.label} generically ({f.name}): seed it explicitly here.")
            setattr(obj, f.name, value)
            continue
        if isinstance(f, models.FileField):
            files.append(f)
            continue
        if f.name in personal and isinstance(f, models.JSONField):
            setattr(obj, f.attname, {"note": f"{tag} details"})
            continue
        text = isinstance(f, models.CharField | models.TextField) and not f.choices
        if f.name in personal and text and (f.max_length or 100) >= len(tag) + 6:
            setattr(obj, f.attname, f"{tag}{next(_serial):05d}"[: f.max_length or 100])
            continue
        if f.has_default() or f.null:
            continue
        setattr(obj, f.attname, _plain(f))
    for f in files:
        getattr(obj, f.name).save(f"{tag}.txt", ContentFile(f"generated for {tag}".encode()), save=False)
    obj.save()
    return obj


def seed_everything(tag: str, staff: StaffUser):
    seeded = seed_member(tag=tag, number=f"M{tag}1", institution=True, staff=staff)
    member = seeded.member
    # Retention's own rows: a hold that has ended, an earlier run where the member was held.
    LegalHold.objects.create(member=member, reason="Ended case", owner=staff, released_at=timezone.now(),
                             released_by=staff, release_reason="Closed")
    earlier = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.FINISHED)
    ErasureRunItem.objects.create(run=earlier, member=member, member_number=seeded.number, status=ItemStatus.HELD)
    recipient = consents_model("Recipient").objects.create(name="Regulator", kind="authority")
    disclosure = consents_model("Disclosure").objects.create(
        kind="share", recipient=recipient, basis="law", description="audit", prepared_by=staff)
    consents_model("DisclosedMember").objects.create(disclosure=disclosure, member=member)
    # Every other model about members (the request desk's, and any added later): generic rows.
    parents: dict = {}
    for p in reversed(plan()):
        if p.is_history or p.model not in models_about_members():
            continue
        if p.queryset([member.pk]).exists():
            continue
        parents[p.model] = _generic_row(p.model, member, tag, parents, staff)
    return seeded


# --- Scanning -------------------------------------------------------------------------------------
def scan_database(needles: list[str]) -> dict[str, set[str]]:
    """Every column of every table, read as text with raw SQL: needle -> {"table.column", …}."""
    hits: dict[str, set[str]] = defaultdict(set)
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [c.name for c in connection.introspection.get_table_description(cursor, table)]
            select = ", ".join(f"CAST({qn(c)} AS TEXT)" for c in columns)
            cursor.execute(f"SELECT {select} FROM {qn(table)}")  # noqa: S608 - names from introspection
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if not value:
                        continue
                    for needle in needles:
                        if needle in value:
                            hits[needle].add(f"{table}.{column}")
    return hits


def scan_media(needles: list[str]) -> dict[str, set[str]]:
    """Every file under MEDIA_ROOT, raw and (for our encrypted files) decrypted."""
    hits: dict[str, set[str]] = defaultdict(set)
    root = Path(settings.MEDIA_ROOT)
    for path in root.rglob("*") if root.exists() else ():
        if not path.is_file():
            continue
        raw = path.read_bytes()
        texts = [raw.decode("utf-8", "ignore")]
        with contextlib.suppress(crypto.DecryptionError):
            texts.append(crypto.decrypt_bytes(raw).decode("utf-8", "ignore"))
        for needle in needles:
            if any(needle in text for text in texts):
                hits[needle].add(str(path.relative_to(root)))
    return hits


def stored_secrets(member: Member) -> list[str]:
    """Raw ciphertexts and blind indexes stored about ``member`` anywhere the data map reaches.

    Read as text through ``Cast`` so nothing is decrypted: these are the exact stored strings.
    """
    found = []
    for p in plan():
        names = [f.name for f in p.model._meta.concrete_fields
                 if getattr(f, "encrypted", False) or isinstance(f, BlindIndexField)]
        if not names:
            continue
        aliases = {f"raw_{name}": Cast(name, TextField()) for name in names}
        for values in p.queryset([member.pk]).annotate(**aliases).values_list(*aliases):
            found.extend(v for v in values if v)
    return sorted(set(found))


# --- The test -------------------------------------------------------------------------------------
def test_pp02_canary_scan_finds_nothing_of_the_erased_member(superuser, django_capture_on_commit_callbacks):
    victim = seed_everything(VICTIM, superuser)
    other = seed_everything(OTHER, superuser)
    victim_secrets = [VICTIM, victim.number, *stored_secrets(victim.member)]
    other_secrets = [OTHER, other.number, *stored_secrets(other.member)]
    assert len(victim_secrets) >= 20

    # The scan works: before the erasure it finds the canary across the schema, in files and history.
    before = scan_database(victim_secrets)
    assert len(before[VICTIM]) >= 25, sorted(before[VICTIM])
    assert any(".history" not in c and "historical" in c for c in before[VICTIM])
    assert all(before[secret] for secret in victim_secrets[2:]), "every recorded ciphertext is in the database"
    files_before = scan_media([VICTIM])
    assert len(files_before[VICTIM]) >= 3  # two identity documents, attachments, access packages …
    other_before = scan_database([OTHER])[OTHER]

    run = ErasureRun.objects.create(trigger=ErasureTrigger.DELETION_REQUEST, status=RunStatus.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.erase_members(member_ids=[victim.member.pk], trigger=ErasureTrigger.DELETION_REQUEST,
                                      run=run, request_reference="DSR-CANARY01")
    assert result.erased == [victim.number] and not result.failed

    # Only what the data map keeps for legal retention survives, detached from the person (PP-13):
    # the transaction records, now attached to the tombstone. Their details are encrypted since
    # issue 14, so the canary is nowhere in plain text; their stored tokens (and the order number's
    # blind index) are what is left.
    txn = TransactionRecord._meta.db_table
    retained = {f"{txn}.{c}" for c in ("order_number", "order_number_bidx", "asset_type", "quantity", "amount")}
    after = scan_database(victim_secrets)
    assert VICTIM not in after
    assert {f"{txn}.order_number", f"{txn}.order_number_bidx"} <= set().union(*after.values()) <= retained
    assert dict(scan_media([VICTIM])) == {}

    # Once the retention has passed, the catch-up anonymises that too: nothing is left at all.
    later = timezone.now() + datetime.timedelta(days=max(settings.LEGAL_RETENTION_DAYS.values()) + 1)
    with django_capture_on_commit_callbacks(execute=True):
        expiry.expire_retention(now=later)
    after = scan_database(victim_secrets)
    # Anonymised in place: order numbers and their index gone; asset, quantity and amount are kept
    # (the data map keeps choices and amounts of a detached row), still as their ciphertexts.
    assert set().union(set(), *after.values()) <= {f"{txn}.{c}" for c in ("asset_type", "quantity", "amount")}
    assert dict(scan_media([VICTIM])) == {}
    # The other member is intact: same places still hold its canary, its files are still there.
    assert member_is_untouched(other)
    assert scan_database([OTHER])[OTHER] == other_before
    assert all(where for where in scan_database(other_secrets).values())
    assert len(scan_media([OTHER])[OTHER]) == len(files_before[VICTIM])
