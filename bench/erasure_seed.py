"""The erasure benches' seed: members with full data loaded with COPY, kept as a template database
with a copy of the media directory (``bench/erasure.py``, ``bench/erasure_workers.py``, the peers)."""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_erasure")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-erasure-media"))

from _common import _copy

SEED_DB_SUFFIX = "_seed"
MEDIA_SEED = Path(os.environ["MEDIA_ROOT"] + "-seed")
NUMBER_PREFIX = "E"


# --- Databases ------------------------------------------------------------------------------------
def _admin():
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    return psycopg.connect(dbname="postgres", autocommit=True, host=db.get("HOST") or None,
                           port=db.get("PORT") or None, user=db.get("USER") or None,
                           password=db.get("PASSWORD") or None)


def _clone(source: str, target: str) -> None:
    """``target`` becomes a fresh copy of ``source`` (PostgreSQL template copy)."""
    from django.db import connections
    from psycopg import sql

    connections.close_all()
    with _admin() as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ANY(%s) "
                     "AND pid <> pg_backend_pid()", [[source, target]])
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(target)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(target), sql.Identifier(source)))


def _seed_exists(name: str) -> bool:
    with _admin() as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone())


# --- Seeding --------------------------------------------------------------------------------------
def _history(model, rows: list, when: datetime.datetime, kind: str = "+") -> list:
    """Historical rows of ``rows`` as simple-history would have written them."""
    historical = model.history.model
    names = [f.attname for f in historical._meta.concrete_fields if f.attname != "history_id"]
    made = []
    for obj in rows:
        h = historical()
        for name in names:
            if hasattr(obj, name):
                setattr(h, name, getattr(obj, name))
        h.history_date, h.history_type, h.history_change_reason, h.history_user_id = when, kind, None, None
        made.append(h)
    return made


def seed(total: int, chunk: int = 2000) -> None:
    from django.apps import apps
    from django.conf import settings
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.members.volumes import volumes_add
    from accounts.models import (
        DeviceRecord,
        IdentityDocument,
        InstitutionProfile,
        Member,
        PaymentInstrument,
        RelatedPerson,
        TransactionRecord,
        Verification,
    )
    from accounts.privacy import crypto
    from accounts.progress import progress

    Guardian = apps.get_model("consents", "Guardian")
    ConsentEvent = apps.get_model("consents", "ConsentEvent")
    ConsentState = apps.get_model("consents", "ConsentState")
    purpose = apps.get_model("consents", "Purpose").objects.order_by("pk").first()
    version = apps.get_model("consents", "PolicyVersion").objects.order_by("pk").first()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE accounts_member, retention_erasurerecord, retention_filedeletionoutbox, "
                       "accounts_historicalmember, accounts_historicalidentitydocument, "
                       "accounts_historicalrelatedperson, accounts_historicalinstitutionprofile, "
                       "accounts_historicalverification, accounts_historicalpaymentinstrument, "
                       "consents_historicalguardian RESTART IDENTITY CASCADE")
    media = Path(settings.MEDIA_ROOT)
    shutil.rmtree(media, ignore_errors=True)
    (media / "documents").mkdir(parents=True)
    file_token = crypto.encrypt_bytes(b"a small scanned identity document")
    now = timezone.now()
    with progress(total=total, desc="seeding", unit="member") as bar:
        for first in range(0, total, chunk):
            last = min(first + chunk, total)
            with transaction.atomic(), connection.cursor() as wrapper:
                cursor = wrapper.cursor
                members = [
                    Member(member_number=f"{NUMBER_PREFIX}{i:09d}", kind="institution" if i % 5 == 0 else "individual",
                           status="cancelled", cancelled_at=now - datetime.timedelta(days=60), registered_at=now,
                           verification_level="real_name", nationality="CN", legal_name=f"Bench Name {i}",
                           local_name=f"Bench Local {i}", date_of_birth=datetime.date(1985, 1 + i % 12, 1 + i % 28),
                           birth_year=1985, email=f"bench{i}@mail.example", phone=f"+86 137 {i:08d}")
                    for i in range(first, last)
                ]
                _copy(cursor, Member, members, connection)
                ids = dict(Member.objects.filter(member_number__gte=members[0].member_number,
                                                 member_number__lte=members[-1].member_number)
                           .values_list("member_number", "pk"))
                for m in members:
                    m.pk = m.id = ids[m.member_number]
                _copy(cursor, Member.history.model,
                      _history(Member, members, now) + _history(Member, members, now, "~"), connection)
                institutions = [m for m in members if m.kind == "institution"]
                profiles = [InstitutionProfile(member_id=m.pk, legal_name=f"Company {m.pk}",
                                               registration_number=f"REG{m.pk:08d}", business_phone="+852 2100 0000",
                                               main_place_of_business="Harbour Road") for m in institutions]
                persons = [RelatedPerson(member_id=m.pk, role="beneficial_owner", ownership_share=Decimal("30"),
                                         legal_name=f"Owner {m.pk}-{k}", nationality="SG",
                                         date_of_birth=datetime.date(1970, 1, 2), email=f"owner{m.pk}-{k}@corp.example")
                           for m in institutions for k in range(2)]
                documents = []
                for m in members:
                    for k in range(3):
                        name = f"documents/{uuid.uuid4().hex}.bin"
                        (media / name).write_bytes(file_token)
                        documents.append(IdentityDocument(member_id=m.pk, kind="passport", issuing_country="CN",
                                                          number=f"E{m.pk:08d}{k}", file=name, uploaded_at=now))
                verifications = [Verification(member_id=m.pk, level="real_name", method="passport_check",
                                              outcome="passed", verified_at=now) for m in members]
                instruments = [PaymentInstrument(member_id=m.pk, kind="bank_card", bank_name="Bench Bank",
                                                 number=f"6222 {m.pk:012d}", last_four=f"{m.pk % 10000:04d}",
                                                 added_at=now) for m in members]
                guardians = [Guardian(member_id=m.pk, name=f"Guardian {m.pk}", relation="mother",
                                      contact=f"g{m.pk}@mail.example") for m in members]
                for model, rows in ((InstitutionProfile, profiles), (RelatedPerson, persons),
                                    (IdentityDocument, documents), (Verification, verifications),
                                    (PaymentInstrument, instruments), (Guardian, guardians)):
                    _copy(cursor, model, rows, connection)
                    saved = list(model.objects.filter(member_id__in=list(ids.values())).order_by("pk"))
                    _copy(cursor, model.history.model, _history(model, saved, now), connection)
                _copy(cursor, DeviceRecord, [
                    DeviceRecord(member_id=m.pk, ip_address="203.0.113.7", device_id=f"dev-{m.pk}-{k}",
                                 browser="Firefox 140", region="Shanghai", location="31.2304,121.4737", seen_at=now)
                    for m in members for k in range(5)], connection)
                orders = [
                    TransactionRecord(member_id=m.pk, order_number=f"B{m.pk:09d}-{k:02d}", order_time=now,
                                      counterparty_nickname=f"peer{m.pk}-{k}", asset_type="BTC",
                                      quantity=Decimal("0.5"), amount=Decimal("1000"))
                    for m in members for k in range(20)]
                _copy(cursor, TransactionRecord, orders, connection)
                volumes_add(orders, new_members=True)  # the daily volumes, as every write path keeps them
                _copy(cursor, ConsentEvent, [
                    ConsentEvent(member_id=m.pk, purpose=purpose, action="grant", policy_version=version,
                                 channel="web", evidence=f"clicked {m.pk}", actor_kind="member", occurred_at=now,
                                 recorded_at=now) for m in members], connection)
                events = dict(ConsentEvent.objects.filter(member_id__in=list(ids.values())).values_list("member_id",
                                                                                                       "pk"))
                _copy(cursor, ConsentState, [
                    ConsentState(member_id=m.pk, purpose=purpose, granted=True, policy_version=version,
                                 last_event_id=events[m.pk], changed_at=now) for m in members], connection)
            bar.update(last - first)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    shutil.rmtree(MEDIA_SEED, ignore_errors=True)
    shutil.copytree(media, MEDIA_SEED)


def member_ids() -> list[int]:
    from accounts.models import Member

    return list(Member.objects.filter(member_number__startswith=NUMBER_PREFIX).order_by("pk")
                .values_list("pk", flat=True))

