"""Issue 14, requirement 5 (PP-01, PP-42): the data map as a Fides dataset and as the DPO's CSV.

The Fides file is validated with fideslang itself: every collection parses as a ``Dataset``, every
data category is a key of the Fides default taxonomy, and every model of the data map is there.
"""

from __future__ import annotations

import csv
import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError
from fideslang.default_taxonomy import DEFAULT_TAXONOMY
from fideslang.models import Dataset

from accounts.models import DeviceRecord, IdentityDocument, Member, PaymentInstrument
from accounts.privacy import datamap, datamap_export
from tests.factories import DeviceRecordFactory, MemberFactory, StaffUserFactory

TAXONOMY = {category.fides_key for category in DEFAULT_TAXONOMY.data_category}
URL = "/admin/accounts/data-map/"


def fides_problems(manifest: dict) -> list[str]:
    """What keeps a team running Fides from loading the file: invalid datasets, unknown categories,
    models of the data map without a collection, columns without a field."""
    problems = []
    datasets = [Dataset.model_validate(raw) for raw in manifest["dataset"]]
    collections = {c.name: c for dataset in datasets for c in dataset.collections}
    for collection in collections.values():
        for field in collection.fields:
            for key in field.data_categories or []:
                if key not in TAXONOMY:
                    problems.append(f"{collection.name}.{field.name}: {key} is not in the Fides taxonomy")
    models = {entry.model for entry in datamap.registry()}
    for model in models:
        collection = collections.get(model._meta.db_table)
        if collection is None:
            problems.append(f"{model._meta.label} has no collection")
            continue
        names = {f.name for f in collection.fields}
        for entry in datamap.registry():
            if entry.model is model and datamap_export._column_name(model, entry.field_name) not in names:
                problems.append(f"{model._meta.label}.{entry.field_name} has no field")
    return problems


def load_fides(path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def fields_of(manifest: dict, table: str) -> dict[str, list[str]]:
    collection = next(c for c in manifest["dataset"][0]["collections"] if c["name"] == table)
    return {f["name"]: f["data_categories"] for f in collection["fields"]}


@pytest.mark.django_db
def test_pp01_datamap_export_fides_is_a_valid_dataset_of_every_model(tmp_path):
    """`datamap_export --format fides -o FILE` writes a dataset fideslang accepts, taxonomy keys only."""
    out = tmp_path / "datamap.yml"
    call_command("datamap_export", "--format", "fides", "-o", str(out))
    manifest = load_fides(out)
    assert list(manifest) == ["dataset"]
    assert fides_problems(manifest) == []
    collections = manifest["dataset"][0]["collections"]
    assert len(collections) == len({entry.model for entry in datamap.registry()})
    assert sum(len(c["fields"]) for c in collections) == len(datamap.registry())


@pytest.mark.django_db
def test_pp01_datamap_export_fides_uses_the_specific_taxonomy_keys(tmp_path):
    """The sensitive kinds map to the Fides keys a Fides user expects."""
    out = tmp_path / "datamap.yml"
    call_command("datamap_export", "--format", "fides", "-o", str(out))
    manifest = load_fides(out)
    member = fields_of(manifest, Member._meta.db_table)
    assert member["email"] == ["user.contact.email"]
    assert member["phone"] == ["user.contact.phone_number"]
    assert member["date_of_birth"] == ["user.demographic.date_of_birth"]
    assert member["status"] == ["system.operations"]
    document = fields_of(manifest, IdentityDocument._meta.db_table)
    assert "user.government_id.national_identification_number" in document["number"]
    assert "user.biometric" in document["file"]  # face captures (PP-10)
    instrument = fields_of(manifest, PaymentInstrument._meta.db_table)
    assert "user.financial.bank_account" in instrument["number"]
    device = fields_of(manifest, DeviceRecord._meta.db_table)
    assert device["location"] == ["user.location.precise"]
    assert device["ip_address"] == ["user.device.ip_address"]
    assert device["member_id"] == ["user.account"]  # columns are named as in the database


def test_pp01_fides_check_catches_a_category_outside_the_taxonomy_and_a_missing_model(db):
    """The validation is not vacuous: a made-up category and a dropped collection are both reported."""
    manifest = yaml.safe_load(datamap_export.export("fides"))
    collections = manifest["dataset"][0]["collections"]
    member = next(c for c in collections if c["name"] == Member._meta.db_table)
    member["fields"][0]["data_categories"] = ["user.shoe_size"]
    manifest["dataset"][0]["collections"] = [c for c in collections if c["name"] != DeviceRecord._meta.db_table]
    problems = fides_problems(manifest)
    assert any("user.shoe_size is not in the Fides taxonomy" in p for p in problems)
    assert "accounts.DeviceRecord has no collection" in problems


@pytest.mark.django_db
def test_pp01_datamap_export_csv_has_one_row_per_column_with_protection(tmp_path):
    """`--format csv`: the DPO's view, one row per model field, encryption read from the field class."""
    out = tmp_path / "datamap.csv"
    call_command("datamap_export", "--format", "csv", "-o", str(out))
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads it as UTF-8 (issue 16)
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8-sig"))))
    assert tuple(rows[0]) == datamap_export.CSV_COLUMNS
    assert len(rows) == len(datamap.registry())
    by_key = {(r["model"], r["field"]): r for r in rows}
    email = by_key[("accounts.Member", "email")]
    assert (email["category"], email["sensitive"], email["encrypted"], email["fides_categories"]) == (
        "Contact", "yes", "yes", "user.contact.email"
    )
    assert by_key[("accounts.Member", "email_bidx")]["at_rest"] == "keyed hash"
    assert by_key[("accounts.DeviceRecord", "ip_address")]["encrypted"] == "yes"
    assert by_key[("accounts.DeviceRecord", "ip_address")]["column"] == "ip_address"
    assert by_key[("accounts.IdentityDocument", "file")]["at_rest"] == "encrypted file"
    assert by_key[("accounts.Member", "legal_name")]["masked"] == "Shown; hidden on a child's record"
    assert by_key[("accounts.TransactionRecord", "order_number")]["retention_note"].startswith("Kept for the legal")


def test_datamap_export_refuses_a_missing_folder_and_an_unknown_format(tmp_path, db):
    """Bad input gets a clear error naming where, and nothing is written."""
    with pytest.raises(CommandError, match="does not exist"):
        call_command("datamap_export", "--format", "csv", "-o", str(tmp_path / "nope" / "map.csv"))
    with pytest.raises(CommandError):
        call_command("datamap_export", "--format", "xml")


@pytest.mark.django_db
def test_pp01_data_map_page_links_both_downloads_for_its_readers(client, auditor):
    """The data-map page links both files; they are the command's output, never cached."""
    client.force_login(auditor)
    html = client.get(URL).content.decode()
    for fmt in ("fides", "csv"):
        link = f"{URL}download/{fmt}/"
        assert f'href="{link}"' in html
        response = client.get(link)
        assert response.status_code == 200
        assert "no-store" in response["Cache-Control"]
        assert "attachment" in response["Content-Disposition"]
        assert response.content == datamap_export.export_file(fmt)
        assert response.content.decode("utf-8-sig") == datamap_export.export(fmt)
    assert client.get(f"{URL}download/xml/").status_code == 404


@pytest.mark.django_db
def test_pp01_data_map_downloads_need_a_view_permission_and_hold_no_values(client, auditor):
    """Staff without a view permission get 403; the files hold the schema, never a stored value."""
    MemberFactory(legal_name="Qzxv Canary", email="canary-qzxv@mail.example")
    DeviceRecordFactory(ip_address="198.51.100.77", region="Qzxvshire")
    client.force_login(StaffUserFactory(email="noperms@test.example"))
    assert client.get(f"{URL}download/fides/").status_code == 403
    client.force_login(auditor)
    for fmt in ("fides", "csv"):
        body = client.get(f"{URL}download/{fmt}/").content.decode()
        assert "Qzxv" not in body and "canary" not in body and "198.51.100.77" not in body


def test_pp01_fides_descriptions_are_in_the_operator_s_language(tmp_path):
    """Issue 16: a Chinese operator's dataset describes every column in Chinese, no English words left."""
    from django.utils import translation

    descriptions = {}
    for language in ("en", "zh-hans"):
        out = tmp_path / f"datamap-{language}.yml"
        with translation.override(language):
            call_command("datamap_export", "--format", "fides", "-o", str(out))
        fields = [f for c in load_fides(out)["dataset"][0]["collections"] for f in c["fields"]]
        descriptions[language] = " ".join(f["description"] for f in fields)
    assert "(not personal)" in descriptions["en"] and "erasure: " in descriptions["en"]
    for english in ("(not personal)", "not sensitive", "erasure: ", "keyed hash", "encrypted"):
        assert english not in descriptions["zh-hans"], english
    assert "非个人信息" in descriptions["zh-hans"] and "删除方式" in descriptions["zh-hans"]
