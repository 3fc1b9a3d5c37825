"""The access package (PP-29): generated from the data map, checked field by field, stored encrypted,
downloaded through an expiring link that logs every download, and erased with the member."""

from __future__ import annotations

import csv
import datetime
import decimal
import hashlib
import importlib
import io
import json
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import connection, models
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import TransactionRecord
from accounts.privacy.datamap import Category, declaration
from accounts.privacy.storage import protected_storage
from consents.models import DisclosedMember, Disclosure, Recipient
from requests_desk import access_package, letters, lifecycle, workflow
from requests_desk.access_package import FILE_PLACEHOLDER, export_plan
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType, VerificationMethod
from requests_desk.messages import IncomingAttachment, message_record_inbound
from requests_desk.models import AccessPackage, Attachment, IdentityCheck, Message, PackageDownload, Request
from retention.choices import ErasureTrigger
from retention.erasure import runner
from tests.factories import MemberFactory, TransactionRecordFactory
from tests.retention.erasure_seed import seed_member

pytestmark = pytest.mark.django_db

FORMULA = "=HYPERLINK(\"http://evil.example\")"


def access_request(member, user, **kwargs) -> Request:
    request = lifecycle.request_create(
        type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="Requester Name", requester_email="requester@mail.example", subject="Copy of my data",
        description=FORMULA, details={"note": "all of it"}, **kwargs,
    )
    workflow.transition(request=request, name="start", user=user, note="starting the access request")
    IdentityCheck.objects.create(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                 evidence="passport matched in the app", verified_by=user)
    return Request.objects.get(pk=request.pk)


def rich_member(officer):
    """A member with rows in every model of the data map that is about members."""
    seeded = seed_member(institution=True, cancelled_days_ago=None, tag="canary")
    member = seeded.member
    member.legal_name = FORMULA
    member.save()
    recipient = Recipient.objects.create(name="Partner Ltd", kind="authority")
    disclosure = Disclosure.objects.create(kind="share", recipient=recipient, basis="law", description="court order",
                                           prepared_by=officer, data_categories=["identity"])
    DisclosedMember.objects.create(disclosure=disclosure, member=member)
    request = access_request(member, officer)
    message = message_record_inbound(
        request=request, body="Please send everything", subject="My data", source_message_id="<secret-id@mail>",
        attachments=[IncomingAttachment(content=b"scan")],
    )
    assert Attachment.objects.filter(message=message).exists()
    older = access_package.access_package_build(request=request, user=officer)
    access_package.package_download_record(package=older.package, ip_address="198.51.100.4",
                                           user_agent="Mozilla/5.0 test", staff_user=None)
    return member, request


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def expected_value(obj, name: str):
    """What the package must show for ``obj.name``, computed from the instance (not from the exporter)."""
    model_field = obj._meta.get_field(name)
    if model_field.many_to_many:
        return sorted(str(x) for x in getattr(obj, name).all())
    value = getattr(obj, name)
    if model_field.is_relation:
        return None if value is None else str(value)
    if isinstance(model_field, models.FileField):
        return FILE_PLACEHOLDER if value else ""
    if model_field.choices and value not in (None, ""):
        return str(getattr(obj, f"get_{name}_display")())
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def records_by_key(archive: zipfile.ZipFile) -> dict[tuple[str, str, int], dict]:
    found = {}
    for name in archive.namelist():
        if not name.endswith(".json"):
            continue
        document = json.loads(archive.read(name))
        for record in document["records"]:
            found[(document["category"], record["record_type"], record["record_id"])] = record["fields"]
    return found


def test_pp29_package_matches_the_data_map_field_by_field(compliance_officer):
    member, request = rich_member(compliance_officer)
    content = access_package.package_content(member=member, reference=request.reference)
    archive = open_zip(content.data)
    records = records_by_key(archive)

    covered = set()
    for source in export_plan():
        rows = list(source.queryset(member.pk))
        if rows:
            covered.add(source.model._meta.label)
        for obj in rows:
            for f in source.fields:
                key = (f.category, source.record_type, obj.pk)
                assert key in records, f"{source.model._meta.label} #{obj.pk} missing from {f.category}.json"
                assert f.label in records[key], f"{source.model._meta.label}.{f.name} missing under {f.label!r}"
                assert records[key][f.label] == expected_value(obj, f.name), f"{source.model._meta.label}.{f.name}"
    # Every model about members has data for this member: the check above reached all of them.
    assert covered == {s.model._meta.label for s in export_plan()}, "give the test member rows in the new model"
    assert content.records_per_model["accounts.TransactionRecord"] == 3


def test_pp29_fields_not_exported_never_appear(compliance_officer):
    member, request = rich_member(compliance_officer)
    archive = open_zip(access_package.package_content(member=member, reference=request.reference).data)
    text = "\n".join(archive.read(name).decode("utf-8") for name in archive.namelist())
    keys = set()
    for name in archive.namelist():
        if name.endswith(".json"):
            for record in json.loads(archive.read(name))["records"]:
                keys |= set(record["fields"])
        elif name.endswith(".csv"):
            keys |= set(next(csv.reader(io.StringIO(archive.read(name).decode("utf-8-sig")))))
    exported = {f.label for s in export_plan() for f in s.fields}
    assert keys <= exported | {access_package.RECORD_TYPE, access_package.RECORD_ID}
    hidden = {
        personal.label
        for s in export_plan()
        for personal in declaration(s.model).personal.values()
        if not personal.exported
    }
    assert not (keys & (hidden - exported))
    # Blind indexes (keyed hashes) and e-mail Message-IDs are not the member's data to take away.
    member.refresh_from_db()
    assert member.email_bidx and member.email_bidx not in text
    assert member.phone_bidx not in text
    assert "<secret-id@mail>" not in text
    assert "blind index" not in text


def test_pp29_sensitive_values_appear_decrypted_in_the_members_own_copy(compliance_officer):
    member, request = rich_member(compliance_officer)
    archive = open_zip(access_package.package_content(member=member, reference=request.reference).data)
    identity = json.loads(archive.read("identity.json"))
    contact = json.loads(archive.read("contact.json"))
    members = [r for r in identity["records"] if r["record_type"] == "Member"]
    assert members[0]["fields"]["Date of birth"] == "1990-05-17"
    assert {"E-mail": "canary@mail.example"}.items() <= next(r for r in contact["records"]
                                                         if r["record_type"] == "Member")["fields"].items()
    document = member.documents.order_by("pk").first()
    numbers = [r["fields"]["Document number"] for r in identity["records"] if r["record_type"] == "Identity document"]
    assert document.number in numbers
    communication = json.loads(archive.read("communication.json"))
    bodies = [r["fields"].get("Message body") for r in communication["records"] if r["record_type"] == "Message"]
    assert "Please send everything" in bodies


def test_pp29_one_json_and_one_csv_per_category_plus_readme(compliance_officer):
    member, request = rich_member(compliance_officer)
    content = access_package.package_content(member=member, reference=request.reference)
    names = set(open_zip(content.data).namelist())
    categories = set(access_package.category_columns())
    assert names == ({"README.txt", access_package.GROUNDS_FILE} | {f"{c}.json" for c in categories}
                     | {f"{c}.csv" for c in categories})
    assert {"identity", "contact", "transaction", "device", "consent", "communication", "verification"} <= categories
    assert Category.STAFF not in categories  # nothing of staff users is the member's data
    readme = open_zip(content.data).read("README.txt").decode()
    assert member.member_number in readme and request.reference in readme
    assert "not included" in readme
    assert content.row_counts["transaction"] == 3


def test_csv_cells_are_formula_escaped_and_json_keeps_the_value(compliance_officer):
    member, request = rich_member(compliance_officer)
    archive = open_zip(access_package.package_content(member=member, reference=request.reference).data)
    rows = list(csv.DictReader(io.StringIO(archive.read("identity.csv").decode("utf-8-sig"))))
    member_row = next(r for r in rows if r["Record type"] == "Member")
    assert member_row["Legal full name"] == "'" + FORMULA
    communication = list(csv.DictReader(io.StringIO(archive.read("communication.csv").decode("utf-8-sig"))))
    request_row = next(r for r in communication if r["Record type"] == "Request" and r["Description"])
    assert request_row["Description"] == "'" + FORMULA
    identity = json.loads(archive.read("identity.json"))
    assert any(r["fields"].get("Legal full name") == FORMULA for r in identity["records"])
    transactions = list(csv.DictReader(io.StringIO(archive.read("transaction.csv").decode("utf-8-sig"))))
    assert {r["Amount (USD)"] for r in transactions} == {"1000.00", "1001.00", "1002.00"}  # numbers stay numbers


def _queries_for(member, reference) -> int:
    with CaptureQueriesContext(connection) as ctx:
        access_package.package_content(member=member, reference=reference)
    return len(ctx.captured_queries)


def test_constant_queries_per_data_map_model_whatever_the_rows(compliance_officer):
    small, request_small = rich_member(compliance_officer)
    big = seed_member(institution=True, cancelled_days_ago=None, transactions=30, devices=30, tag="bigger").member
    DisclosedMember.objects.create(disclosure=Disclosure.objects.get(), member=big)
    request_big = access_request(big, compliance_officer)
    for i in range(30):
        message_record_inbound(request=request_big, body=f"message {i}", subject=f"s{i}")
    few, many = _queries_for(small, request_small.reference), _queries_for(big, request_big.reference)
    assert few == many
    # One query per model plus one per exported foreign key / two per many-to-many field, and one
    # for the processing on legal grounds in force (PP-17).
    relations = sum(2 if f.field.many_to_many else 1 for s in export_plan() for f in s.fields if f.field.is_relation)
    assert many <= len(export_plan()) + relations + 1


def test_many_transactions_are_streamed_in_chunks(compliance_officer, monkeypatch):
    member = MemberFactory()
    TransactionRecordFactory.create_batch(25, member=member)
    monkeypatch.setattr(access_package.records, "CHUNK_SIZE", 4)
    seen = []
    real = models.QuerySet.iterator

    def spy(self, chunk_size=None):
        seen.append((self.model, chunk_size))
        return real(self, chunk_size=chunk_size)

    monkeypatch.setattr(models.QuerySet, "iterator", spy)
    source = next(s for s in export_plan() if s.model is TransactionRecord)
    records = list(access_package.iter_records(source, member.pk))
    assert len(records) == 25
    assert (TransactionRecord, 4) in seen


# --- Building, storing, downloading -----------------------------------------------------------------
def test_pp29_build_stores_the_zip_encrypted_with_a_hashed_expiring_token(compliance_officer, settings):
    settings.ACCESS_PACKAGE_LINK_HOURS = 48
    _member, request = rich_member(compliance_officer)
    before = timezone.now()
    built = access_package.access_package_build(request=request, user=compliance_officer)
    package = built.package
    assert package.token_hash == hashlib.sha256(built.token.encode()).hexdigest()
    assert built.token not in json.dumps(
        next(iter(AccessPackage.objects.filter(pk=package.pk).values())), default=str
    )
    assert before + datetime.timedelta(hours=48) <= package.expires_at <= timezone.now() + datetime.timedelta(hours=48)
    raw = protected_storage.read_ciphertext(package.file.name)
    assert not raw.startswith(b"PK")  # encrypted at rest, not a readable ZIP
    assert b"canary@mail.example" not in raw
    assert open_zip(access_package.package_open(package)).read("README.txt")
    assert built.link.endswith(f"/packages/{built.token}/")


def test_build_needs_compliance_an_access_request_and_a_verified_requester(compliance_officer, agent):
    member = MemberFactory()
    request = access_request(member, compliance_officer)
    with pytest.raises(PermissionDenied):
        access_package.access_package_build(request=request, user=agent)
    unverified = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                          channel=IntakeChannel.WEB, member=member)
    workflow.transition(request=unverified, name="start", user=agent)
    with pytest.raises(ValidationError, match="PP-30"):
        access_package.access_package_build(request=Request.objects.get(pk=unverified.pk), user=compliance_officer)
    enquiry = lifecycle.request_create(type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, member=member)
    with pytest.raises(ValidationError, match="Only an access request"):
        access_package.access_package_build(request=enquiry, user=compliance_officer)
    assert not AccessPackage.objects.exists()


def test_pp29_download_streams_the_decrypted_zip_and_logs_it(client, compliance_officer):
    member = MemberFactory()
    built = access_package.access_package_build(request=access_request(member, compliance_officer),
                                                user=compliance_officer)
    response = client.get(reverse("packages:download", args=[built.token]), HTTP_USER_AGENT="Firefox/140",
                          REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "no-store" in response["Cache-Control"]
    archive = open_zip(b"".join(response.streaming_content))
    assert "README.txt" in archive.namelist()
    download = PackageDownload.objects.get()
    assert (download.package, download.ip_address, download.user_agent, download.staff_user) == (
        built.package, "203.0.113.9", "Firefox/140", None)


def test_download_by_a_logged_in_staff_user_names_them(client, compliance_officer, agent):
    built = access_package.access_package_build(request=access_request(MemberFactory(), compliance_officer),
                                                user=compliance_officer)
    client.force_login(agent)
    assert client.get(reverse("packages:download", args=[built.token])).status_code == 200
    assert PackageDownload.objects.get().staff_user == agent


def test_expired_or_unknown_link_is_404_and_logs_nothing(client, compliance_officer):
    built = access_package.access_package_build(request=access_request(MemberFactory(), compliance_officer),
                                                user=compliance_officer)
    assert client.get(reverse("packages:download", args=["not-a-token"])).status_code == 404
    AccessPackage.objects.filter(pk=built.package.pk).update(expires_at=timezone.now() - datetime.timedelta(seconds=1))
    assert client.get(reverse("packages:download", args=[built.token])).status_code == 404
    assert not PackageDownload.objects.exists()


def test_pp02_erasing_the_member_removes_the_package_row_and_file(compliance_officer,
                                                                   django_capture_on_commit_callbacks):
    member = MemberFactory()
    built = access_package.access_package_build(request=access_request(member, compliance_officer),
                                                user=compliance_officer)
    access_package.package_download_record(package=built.package, ip_address="198.51.100.1", user_agent="x")
    name = built.package.file.name
    assert protected_storage.exists(name)
    with django_capture_on_commit_callbacks(execute=True):
        result = runner.erase_members(member_ids=[member.pk], trigger=ErasureTrigger.DELETION_REQUEST)
    assert result.erased == [member.member_number]
    assert not AccessPackage.objects.filter(pk=built.package.pk).exists()
    assert not PackageDownload.objects.exists()
    assert not protected_storage.exists(name)


def test_pp14_messages_of_the_member_are_in_the_package_in_both_directions(compliance_officer):
    member = MemberFactory()
    request = access_request(member, compliance_officer)
    message_record_inbound(request=request, body="inbound words", subject="in")
    letters.message_record_outbound(request=request, subject="out", body="outbound words", template="",
                                    user=compliance_officer, channel=IntakeChannel.EMAIL)
    archive = open_zip(access_package.package_content(member=member, reference=request.reference).data)
    bodies = {r["fields"]["Message body"] for r in json.loads(archive.read("communication.json"))["records"]
              if r["record_type"] == "Message"}
    assert bodies == {"inbound words", "outbound words"}
    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()


def test_a_file_column_lists_the_file_without_its_content(compliance_officer):
    member = MemberFactory()
    request = access_request(member, compliance_officer)
    document = member.documents.create(kind="passport", issuing_country="CN", number="E12345678")
    document.file.save("scan.jpg", ContentFile(b"secret scan bytes"), save=True)
    data = access_package.package_content(member=member, reference=request.reference).data
    archive = open_zip(data)
    identity = json.loads(archive.read("identity.json"))
    files = [r["fields"]["Document file"] for r in identity["records"] if r["record_type"] == "Identity document"]
    assert files == [FILE_PLACEHOLDER]
    assert b"secret scan bytes" not in b"".join(archive.read(n) for n in archive.namelist())


def test_pp01_a_download_ip_address_is_ciphertext_at_rest_and_hidden_in_the_register(admin_client, compliance_officer):
    """Whereabouts (PP-01): the IP address a package was downloaded from is encrypted in its table and
    not shown in the downloads register (revealed only through the logged reveal page)."""
    built = access_package.access_package_build(request=access_request(MemberFactory(), compliance_officer),
                                                user=compliance_officer)
    download = access_package.package_download_record(package=built.package, ip_address="203.0.113.77",
                                                      user_agent="Firefox/140")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ip_address FROM {PackageDownload._meta.db_table} WHERE id = %s",  # noqa: S608
                       [download.pk])
        stored = cursor.fetchone()[0]
    assert "203.0.113.77" not in stored and stored.startswith("gAAAA")
    assert PackageDownload.objects.get(pk=download.pk).ip_address == "203.0.113.77"

    for url in (reverse("admin:requests_desk_packagedownload_changelist"),
                reverse("admin:requests_desk_packagedownload_change", args=[download.pk])):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert "203.0.113.77" not in page.content.decode()


def test_pp01_migration_0006_encrypts_existing_download_addresses_and_can_run_again(compliance_officer):
    """Rows stored before 0006 (PostgreSQL's ``inet::text`` adds "/32") are encrypted; a rerun after a
    crash leaves the tokens alone."""
    built = access_package.access_package_build(request=access_request(MemberFactory(), compliance_officer),
                                                user=compliance_officer)
    download = access_package.package_download_record(package=built.package, ip_address="198.51.100.8",
                                                      user_agent="x")
    table = PackageDownload._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET ip_address = %s WHERE id = %s", ["203.0.113.98/32", download.pk])  # noqa: S608
    migration = importlib.import_module("requests_desk.migrations.0006_encrypt_package_download_ip")
    state = MigrationLoader(connection).project_state(("requests_desk", "0005_refusal_ground_records"))
    migration.Migration.operations[0].state_forwards("requests_desk", state)

    migration.encrypt_existing(state.apps, None)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ip_address FROM {table} WHERE id = %s", [download.pk])  # noqa: S608
        first = cursor.fetchone()[0]
    migration.encrypt_existing(state.apps, None)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT ip_address FROM {table} WHERE id = %s", [download.pk])  # noqa: S608
        assert cursor.fetchone()[0] == first
    assert "203.0.113.98" not in first
    assert PackageDownload.objects.get(pk=download.pk).ip_address == "203.0.113.98"
