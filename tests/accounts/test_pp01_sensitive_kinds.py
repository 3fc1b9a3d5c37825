"""Issue 14, requirement 2 (PP-01): every sensitive kind reviewed field by field.

ID numbers, biometrics (face captures), bank accounts, property information and whereabouts are
encrypted at rest and masked on screen; a member under 14 makes every personal field of their
records sensitive on screen and in exports (PP-01, PP-03). The clock is frozen: ages are counted on
a fixed day.
"""

from __future__ import annotations

import csv
import datetime
import importlib
import io

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from accounts.members.choices import DocumentKind
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    SensitiveAccessLog,
)
from accounts.privacy import children, datamap, datamap_export
from accounts.privacy.datamap import Category
from tests.clock import frozen
from tests.factories import (
    DeviceRecordFactory,
    IdentityDocumentFactory,
    InstitutionFactory,
    MemberFactory,
    PaymentInstrumentFactory,
    RelatedPersonFactory,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 15)
THIRTEEN = datetime.date(2012, 6, 16)  # turns 14 tomorrow
FOURTEEN = datetime.date(2012, 6, 15)  # turns 14 today


def raw(model, column: str, pk) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_pp01_device_ip_address_region_and_location_are_ciphertext_in_the_database():
    """Whereabouts (PP-01): the stored columns hold tokens; Python code reads the values back."""
    device = DeviceRecordFactory(ip_address="198.51.100.23", region="Qzxvshire", location="31.2,121.4")
    for column, value in (("ip_address", "198.51.100.23"), ("region", "Qzxvshire"), ("location", "31.2,121.4")):
        stored = raw(DeviceRecord, column, device.pk)
        assert value not in stored and stored.startswith("gAAAA")
        assert datamap.sensitive_fields(DeviceRecord)[column].sensitive
    device = DeviceRecord.objects.get(pk=device.pk)
    assert (device.ip_address, device.region) == ("198.51.100.23", "Qzxvshire")
    empty = DeviceRecordFactory(ip_address=None, region="")
    assert raw(DeviceRecord, "ip_address", empty.pk) is None and raw(DeviceRecord, "region", empty.pk) == ""


def test_pp01_migration_0012_encrypts_existing_device_values_and_can_run_again():
    """Rows stored before 0012 are encrypted (the IP without the prefix PostgreSQL's cast adds); a rerun
    (after a crash half way) leaves tokens alone."""
    device = DeviceRecordFactory()
    with connection.cursor() as cursor:  # as the columns held them before 0012: plaintext
        cursor.execute(f"UPDATE {DeviceRecord._meta.db_table} SET ip_address = %s, region = %s WHERE id = %s",  # noqa: S608
                       ["203.0.113.99/32", "Qzxv région", device.pk])  # PostgreSQL's inet::text
    migration = importlib.import_module("accounts.migrations.0012_pp01_sensitive_kinds")
    state = MigrationLoader(connection).project_state(("accounts", "0011_encrypt_transactions"))
    for operation in migration.Migration.operations[:2]:  # the columns are plain text by then
        operation.state_forwards("accounts", state)

    migration.encrypt_existing(state.apps, None)
    first = (raw(DeviceRecord, "ip_address", device.pk), raw(DeviceRecord, "region", device.pk))
    migration.encrypt_existing(state.apps, None)  # idempotent

    assert (raw(DeviceRecord, "ip_address", device.pk), raw(DeviceRecord, "region", device.pk)) == first
    assert "203.0.113.99" not in first[0] and "Qzxv" not in first[1]
    device = DeviceRecord.objects.get(pk=device.pk)
    assert (device.ip_address, device.region) == ("203.0.113.99", "Qzxv région")


def test_pp01_a_face_capture_is_biometric_sensitive_and_its_file_encrypted():
    """Biometrics (PP-01, PP-10): a face capture's file is classified Biometric, encrypted on disk."""
    personal = datamap.sensitive_fields(IdentityDocument)["file"]
    assert personal.category_for(DocumentKind.FACE_CAPTURE) == Category.BIOMETRIC
    assert personal.category_for(DocumentKind.PASSPORT) == Category.IDENTITY
    assert personal.sensitive and datamap_export.at_rest(IdentityDocument, "file") == "encrypted file"
    document = IdentityDocumentFactory(kind=DocumentKind.FACE_CAPTURE, number="",
                                       file=ContentFile(b"JPEG Qzxv face", name="face.jpg"))
    with open(document.file.storage.path(document.file.name), "rb") as handle:
        assert b"Qzxv" not in handle.read()
    assert document.file.read() == b"JPEG Qzxv face"


@pytest.mark.parametrize(("model", "field"), [
    (IdentityDocument, "number"),  # ID numbers
    (PaymentInstrument, "number"),  # bank cards and accounts
    (InstitutionProfile, "funding_sources"),  # property information
    (DeviceRecord, "ip_address"), (DeviceRecord, "region"), (DeviceRecord, "location"),  # whereabouts
    (Member, "date_of_birth"),
])
def test_pp01_each_sensitive_kind_is_declared_sensitive_and_encrypted(model, field):
    """The review's result, read from the data map and the field classes (not a hand list)."""
    assert datamap.sensitive_fields(model)[field].mask != datamap.Mask.NONE
    assert datamap_export.is_encrypted(model, field)


def test_pp01_the_data_map_page_shows_biometric_and_encryption(client, auditor):
    """The data-map page shows the review: category (with face captures), sensitive, at rest."""
    client.force_login(auditor)
    html = client.get("/admin/accounts/data-map/").content.decode()
    row = html.split('<tr data-model="accounts.IdentityDocument" data-field="file">')[1].split("</tr>")[0]
    assert "Biometric (face capture)" in row and "encrypted file" in row and "sensitive" in row
    row = html.split('<tr data-model="accounts.DeviceRecord" data-field="ip_address">')[1].split("</tr>")[0]
    assert "encrypted" in row and "sensitive" in row


def test_pp03_a_child_is_under_14_on_the_day(db):
    """Children's information: under 14 today, counted from the date of birth in memory."""
    child, teen = MemberFactory.build(date_of_birth=THIRTEEN), MemberFactory.build(date_of_birth=FOURTEEN)
    assert children.is_child_record(child, TODAY) and not children.is_child_record(teen, TODAY)
    assert children.is_child_record(DeviceRecord(member=child), TODAY)
    assert "legal_name" in children.sensitive_fields_of(child, TODAY)
    assert "legal_name" not in children.sensitive_fields_of(teen, TODAY)
    assert "member_number" not in children.sensitive_fields_of(child, TODAY)


def change_page(client, obj) -> str:
    response = client.get(f"/admin/accounts/{obj._meta.model_name}/{obj.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_pp01_an_under_14_members_fields_are_masked_on_the_change_page(client, auditor):
    """A member under 14: name, nationality and their device's browser are hidden; a 14-year-old's are not."""
    with frozen(TODAY):
        child = MemberFactory(date_of_birth=THIRTEEN, legal_name="Qzxv Child", local_name="Qzxv Kid")
        teen = MemberFactory(date_of_birth=FOURTEEN, legal_name="Qzxv Teen", local_name="Qzxv Youth")
        child_device = DeviceRecordFactory(member=child, browser="Qzxv Browser")
        teen_device = DeviceRecordFactory(member=teen, browser="Qzxv Browser")
        client.force_login(auditor)
        assert "Qzxv" not in change_page(client, child)
        assert "Qzxv Teen" in change_page(client, teen)
        assert "Qzxv" not in change_page(client, child_device)
        assert "Qzxv Browser" in change_page(client, teen_device)
        listing = client.get("/admin/accounts/devicerecord/").content.decode()
        assert listing.count("Qzxv Browser") == 1  # the teenager's row only


def test_pp01_an_under_14_related_person_of_an_institution_is_masked_too(client, auditor):
    """A beneficial owner under 14 (PP-07): their own record's personal fields are hidden like a
    child member's; an adult representative of the same institution is shown."""
    with frozen(TODAY):
        institution = InstitutionFactory()
        owner = RelatedPersonFactory(member=institution, date_of_birth=THIRTEEN, legal_name="Qzxv Young Owner")
        adult = RelatedPersonFactory(member=institution, date_of_birth=FOURTEEN.replace(year=1980),
                                     legal_name="Qzxv Grown Director")
        client.force_login(auditor)
        assert "Qzxv" not in change_page(client, owner)
        assert "Qzxv Grown Director" in change_page(client, adult)


def test_pp01_an_under_14_members_name_is_revealed_only_with_a_reason_and_a_log_row(client, compliance_officer):
    """Revealing a child's otherwise plain field needs the permission, a reason and writes the log."""
    with frozen(TODAY):
        child = MemberFactory(date_of_birth=THIRTEEN, legal_name="Qzxv Child")
        teen = MemberFactory(date_of_birth=FOURTEEN, legal_name="Qzxv Teen")
        client.force_login(compliance_officer)
        html = change_page(client, child)
        assert "Qzxv" not in html
        url = f"/admin/accounts/reveal/accounts.member/{child.pk}/legal_name/"
        assert url in html
        assert "Qzxv" not in client.get(url).content.decode()
        response = client.post(url, {"reason": "Guardian's request ticket 42"})
        assert "Qzxv Child" in response.content.decode()
        log = SensitiveAccessLog.objects.get()
        assert (log.field_name, log.member_number) == ("legal_name", child.member_number)
        assert client.get(f"/admin/accounts/reveal/accounts.member/{teen.pk}/legal_name/").status_code == 404


def test_pp01_an_under_14_members_fields_are_masked_in_the_spreadsheet_export(client, agent):
    """An export by a user who may not reveal hides every personal value of a child's row."""
    with frozen(TODAY):
        MemberFactory(date_of_birth=THIRTEEN, legal_name="Qzxv Child", nationality="CN")
        MemberFactory(date_of_birth=FOURTEEN, legal_name="Qzxv Teen", nationality="CN")
        client.force_login(agent)
        fields = ["member_number", "legal_name", "nationality", "date_of_birth"]
        data = {"format": "0", "resource": "0", **{f"memberresource_{name}": "on" for name in fields}}
        response = client.post("/admin/accounts/member/export/", data)
        assert response.status_code == 200
        rows = {row["legal_name"]: row for row in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))}
    assert "Qzxv Child" not in rows and rows["Qzxv Teen"]["nationality"] == "CN"
    (hidden,) = [row for name, row in rows.items() if name != "Qzxv Teen"]
    assert hidden["nationality"] != "CN" and hidden["member_number"].startswith("M")


def test_pp01_a_childs_page_costs_no_query_per_record(client, auditor, django_assert_max_num_queries):
    """The age comes from the member row selected with the records: no query per row."""
    with frozen(TODAY):
        child = MemberFactory(date_of_birth=THIRTEEN)
        for _ in range(3):
            DeviceRecordFactory(member=child)
            PaymentInstrumentFactory(member=child)
        client.force_login(auditor)
        client.get("/admin/accounts/devicerecord/")
        with django_assert_max_num_queries(12) as few:
            client.get("/admin/accounts/devicerecord/")
        for _ in range(10):
            DeviceRecordFactory(member=child)
        with django_assert_max_num_queries(len(few.captured_queries)):
            client.get("/admin/accounts/devicerecord/")
