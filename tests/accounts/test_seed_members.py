"""Demo members (issue 3, requirement 12): realistic, deterministic, idempotent, set-based."""

from __future__ import annotations

import datetime
import hashlib
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Min

from accounts.members.choices import DocumentKind, MemberKind, VerificationLevel
from accounts.members.seeding.plan import member_number
from accounts.members.seeding.reference import PRODUCT_LINES
from accounts.members.seeding.seed import demo_members_seed
from accounts.members.selectors import members_by_exact_value
from accounts.members.validators import validate_document_number
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    ProductLine,
    RelatedPerson,
    TransactionRecord,
    Verification,
)
from accounts.privacy.storage import protected_storage

pytestmark = pytest.mark.django_db

# A leap day: minors' birthdays and document dates are drawn relative to it.
TODAY = datetime.date(2028, 2, 29)


def seed(count: int, seed: int = 7, **kwargs) -> dict[str, int]:
    return demo_members_seed(count=count, seed=seed, today=TODAY, **kwargs)


def fingerprint() -> str:
    """A hash of every seeded value (decrypted), keyed by member number, not by database ids."""
    number_of = dict(Member.objects.values_list("pk", "member_number"))
    parts: list = [
        list(
            Member.objects.order_by("member_number").values_list(
                "member_number", "kind", "status", "registered_at", "cancelled_at", "verification_level",
                "nationality", "legal_name", "local_name", "date_of_birth", "birth_year", "email", "phone",
            )
        ),
        sorted(
            (number_of[m], code) for m, code in Member.product_lines.through.objects.values_list(
                "member_id", "productline__code"
            )
        ),
    ]
    rows = (
        (InstitutionProfile, ("legal_name", "local_name", "registration_number", "registration_info",
                              "business_phone", "main_place_of_business", "company_structure", "funding_sources")),
        (RelatedPerson, ("role", "ownership_share", "legal_name", "local_name", "nationality", "date_of_birth",
                         "email", "phone")),
        (IdentityDocument, ("kind", "issuing_country", "number", "expires_on", "review_status", "reviewed_at",
                            "uploaded_at", "related_person__legal_name")),
        (Verification, ("level", "method", "outcome", "verified_at")),
        (PaymentInstrument, ("kind", "bank_name", "number", "last_four", "added_at")),
        (DeviceRecord, ("ip_address", "device_id", "imei", "mac_address", "browser", "region", "location",
                        "seen_at")),
        (TransactionRecord, ("order_number", "order_time", "counterparty_nickname", "asset_type", "quantity",
                             "amount")),
    )
    for model, fields in rows:
        values = model.objects.values_list("member_id", *fields)
        parts.append(sorted((number_of[member_id], *rest) for member_id, *rest in values))
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def test_the_same_seed_gives_the_same_members_and_values_on_a_fresh_database():
    seed(30, seed=7)
    first = fingerprint()
    numbers = list(Member.objects.order_by("member_number").values_list("member_number", flat=True))
    Member.objects.all().delete()  # back to an empty member table (ids will differ: they are not compared)

    seed(30, seed=7, chunk_size=7)  # another chunking must not change the values either
    assert fingerprint() == first
    assert list(Member.objects.order_by("member_number").values_list("member_number", flat=True)) == numbers
    assert numbers == [member_number(i) for i in range(1, 31)]

    Member.objects.all().delete()
    seed(30, seed=8)
    assert fingerprint() != first


def test_a_rerun_creates_nothing_twice_and_a_larger_n_adds_only_the_missing_members():
    first = seed(20)
    assert first["members created"] == 20
    counts = {model: model.objects.count() for model in (Member, IdentityDocument, TransactionRecord, DeviceRecord)}
    files = len(IdentityDocument.objects.exclude(file=""))

    again = seed(20)
    assert again["members created"] == 0 and again["members skipped"] == 20
    assert again["transactions"] == 0 and again["encrypted files"] == 0
    assert {model: model.objects.count() for model in counts} == counts
    assert len(IdentityDocument.objects.exclude(file="")) == files
    assert ProductLine.objects.count() == len(PRODUCT_LINES)

    more = seed(25)
    assert more["members created"] == 5 and more["members skipped"] == 20
    assert Member.objects.count() == 25


def test_seeded_members_are_realistic_minors_institutions_nationalities_and_20_orders_each():
    seed(100)
    members = list(Member.objects.all())
    assert len(members) == 100

    # Ages exactly 13 and exactly 16 on the seeding day, a handful per hundred (PP-03, PP-37, PP-38).
    ages = [m.age_on(TODAY) for m in members if m.kind == MemberKind.INDIVIDUAL]
    assert ages.count(13) >= 2 and ages.count(16) >= 2
    assert sum(1 for age in ages if age < 18) <= 6
    assert all(m.is_child_on(TODAY) for m in members if m.age_on(TODAY) == 13)
    # bulk_create does not call Member.save(): the seeder sets the plain birth year itself.
    assert all(m.birth_year == m.date_of_birth.year for m in members if m.date_of_birth)

    assert len({m.nationality for m in members if m.nationality}) >= 8
    assert {m.verification_level for m in members} == set(VerificationLevel.values)

    per_member = Member.objects.annotate(orders=Count("transactions")).aggregate(fewest=Min("orders"))
    assert per_member["fewest"] >= 20
    assert Member.objects.filter(device_records__isnull=True).count() == 0
    assert Member.objects.filter(product_lines__isnull=True).count() == 0
    assert set(ProductLine.objects.values_list("code", flat=True)) == {"spot", "margin", "futures", "otc", "earn"}

    institutions = Member.objects.filter(kind=MemberKind.INSTITUTION).annotate(people=Count("related_persons"))
    assert institutions.count() >= 3
    for institution in institutions:
        assert 1 <= institution.people <= 3
        assert InstitutionProfile.objects.filter(member=institution).exists()
    for person in RelatedPerson.objects.all():
        assert person.documents.count() == 1  # each related person has an identity document (PP-07)

    advanced = Member.objects.filter(verification_level=VerificationLevel.ADVANCED)
    assert advanced.exists()
    for member in advanced:
        assert member.documents.filter(kind=DocumentKind.FACE_CAPTURE).exists()
        assert member.verifications.filter(level=VerificationLevel.ADVANCED, outcome="passed").exists()


def test_every_seeded_document_number_is_valid_for_its_kind_and_country():
    seed(150)
    documents = list(IdentityDocument.objects.all())
    kinds = {(d.kind, d.issuing_country) for d in documents}
    # The stdnum-checked kinds are all there: PRC ID, Korean RRN, French NIR, German IdNr, Aadhaar, SSN, USCC.
    assert {(DocumentKind.NATIONAL_ID, c) for c in ("CN", "KR", "FR", "DE", "IN")} <= kinds
    assert (DocumentKind.SOCIAL_SECURITY, "US") in kinds
    assert (DocumentKind.PASSPORT, "JP") in kinds
    for document in documents:
        try:
            validate_document_number(kind=document.kind, country=document.issuing_country, number=document.number)
        except ValidationError as exc:  # pragma: no cover - the failure message names the document
            pytest.fail(f"document #{document.pk} ({document.kind}, {document.issuing_country}): {exc.messages}")


def test_bulk_created_rows_are_encrypted_and_found_through_their_blind_indexes():
    seed(12)
    member = Member.objects.get(member_number=member_number(3))
    document = member.documents.exclude(number_bidx=None).first()
    instrument = member.payment_instruments.first()
    with connection.cursor() as cursor:
        cursor.execute("SELECT email, phone, date_of_birth FROM accounts_member WHERE id = %s", [member.pk])
        raw = " ".join(str(v) for v in cursor.fetchone())
        cursor.execute("SELECT number FROM accounts_identitydocument WHERE id = %s", [document.pk])
        raw += " " + cursor.fetchone()[0]
    assert member.email not in raw and member.phone not in raw and document.number not in raw
    assert member.date_of_birth.isoformat() not in raw

    # BlindIndexField.pre_save ran inside bulk_create: exact-value search works for every kind.
    for value in (member.email, member.phone, document.number, instrument.number):
        assert member in members_by_exact_value(value), "blind index not filled"
    # PaymentInstrument.save() derives last_four; bulk_create does not call it, the seeder does.
    assert instrument.last_four == "".join(ch for ch in instrument.number if ch.isdigit())[-4:]


def test_a_few_seeded_documents_carry_encrypted_demo_files():
    seed(12)
    with_files = list(IdentityDocument.objects.exclude(file=""))
    assert 1 <= len(with_files) <= 12
    for document in with_files:
        assert not protected_storage.read_ciphertext(document.file.name).startswith(b"\x89PNG")
        with protected_storage.open(document.file.name) as handle:
            assert handle.read().startswith(b"\x89PNG")


# Queries per chunk: the existence check, a savepoint and its release, one INSERT per model and
# batch (SQLite caps a batch at 999 parameters, so a chunk of 10 members' ~300 orders takes up to
# three INSERTs; PostgreSQL one). Measured: 12 per chunk on SQLite, 11 on PostgreSQL.
PER_CHUNK = 17  # one insert a model; the daily volumes (PP-10): one insert, two in SQLite-sized batches
FIXED = 6  # product lines (read, create once, re-read), the reviewer look-up


@pytest.mark.parametrize("count", [20, 60])
def test_seeding_runs_a_bounded_number_of_queries_per_chunk_not_per_row(count, django_assert_max_num_queries):
    chunks = count // 10
    with django_assert_max_num_queries(FIXED + PER_CHUNK * chunks):
        result = seed(count, chunk_size=10, files=False)
    # Well over a thousand rows: a query per row (or per member) would break the bound above.
    assert result["transactions"] >= 20 * count
    assert result["members created"] == count


def test_seed_demo_command_seeds_the_requested_members_with_a_progress_bar(settings):
    settings.DEMO_DATA_ALLOWED = True
    out, err = StringIO(), StringIO()
    call_command("seed_demo", members=15, seed=3, stdout=out, stderr=err)
    assert "15/15" in err.getvalue()
    assert "members created: 15" in out.getvalue()
    # Other apps' demo steps add members of their own (numbered outside the M000000001… range).
    demo_numbers = [member_number(i) for i in range(1, 17)]
    assert Member.objects.filter(member_number__in=demo_numbers).count() == 15
    total = Member.objects.count()

    call_command("seed_demo", members=15, seed=3, no_progress=True, stdout=StringIO(), stderr=StringIO())
    assert Member.objects.count() == total
    reviewer = Verification.objects.exclude(reviewer=None).values_list("reviewer__email", flat=True).first()
    assert reviewer == "compliance@demo.example"  # demo documents are reviewed by the demo officer
