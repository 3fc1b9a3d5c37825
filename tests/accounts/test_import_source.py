"""PP-16: data received from third parties records its source.

Every import of members, related persons or transaction records names its source (the third
party and the agreement or consent it came under): required in the admin's import form and as
``import_records --source``; without it nothing is imported. A committed import is recorded as an
``ImportBatch`` (source, who, when, counts; no personal data) and the rows it wrote point to it.
"""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from accounts.members.spreadsheets import imports
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.related_persons import RelatedPersonResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import ImportBatch, Member, ProductLine, RelatedPerson, TransactionRecord
from tests.accounts.test_import import (
    IMPORT_URLS,
    MEMBER_HEADER,
    PERSON_HEADER,
    TXN_HEADER,
    csv_bytes,
    member_row,
    txn_row,
)
from tests.factories import InstitutionFactory, MemberFactory

pytestmark = pytest.mark.django_db

SOURCE = "Acme Payments Ltd, data-sharing agreement DSA-2025-07"
OTHER_SOURCE = "Beta Brokers, referral agreement RA-2026-01"


@pytest.fixture(autouse=True)
def spot(db):
    return ProductLine.objects.create(code="spot", name="Spot")


def run(resource_class, content: bytes, *, source=SOURCE, user=None, dry_run=False):
    dataset = imports.dataset_from_file(content=content, file_name="file.csv")
    return imports.records_import(resource_class=resource_class, dataset=dataset, source=source, user=user,
                                  dry_run=dry_run)


# --- The service ---------------------------------------------------------------------------------------
def test_pp16_a_member_import_records_its_source_who_and_the_counts_and_the_rows_point_to_it(compliance_officer):
    report = run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2)]), user=compliance_officer)

    batch = ImportBatch.objects.get()
    assert report.batch == batch
    assert (batch.source, batch.imported_by, batch.model_label) == (SOURCE, compliance_officer, "accounts.Member")
    assert (batch.total_rows, batch.new_rows, batch.updated_rows, batch.unchanged_rows) == (2, 2, 0, 0)
    assert set(Member.objects.values_list("import_batch", flat=True)) == {batch.pk}
    assert set(Member.history.values_list("import_batch", flat=True)) == {batch.pk}


def test_pp16_the_source_is_stored_without_surrounding_spaces():
    run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1)]), source=f"  {SOURCE}\n")
    assert ImportBatch.objects.get().source == SOURCE


def test_pp16_a_later_import_that_changes_a_row_becomes_its_source_and_history_keeps_the_first():
    run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2)]))
    first = ImportBatch.objects.get()

    run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1, legal_name="Changed Name"), member_row(2)]),
        source=OTHER_SOURCE)

    second = ImportBatch.objects.get(source=OTHER_SOURCE)
    assert (second.new_rows, second.updated_rows, second.unchanged_rows) == (0, 1, 1)
    changed = Member.objects.get(member_number="IMP000001")
    assert changed.import_batch == second
    assert Member.objects.get(member_number="IMP000002").import_batch == first  # unchanged: still the first
    versions = list(changed.history.order_by("history_date").values_list("import_batch", flat=True))
    assert versions == [first.pk, second.pk]


def test_pp16_a_file_of_unchanged_rows_is_still_recorded_as_received():
    content = csv_bytes(MEMBER_HEADER, [member_row(1)])
    run(MemberResource, content)
    report = run(MemberResource, content, source=OTHER_SOURCE)
    assert report.skipped == 1
    again = ImportBatch.objects.get(source=OTHER_SOURCE)
    assert (again.total_rows, again.new_rows, again.unchanged_rows) == (1, 0, 1)
    assert Member.objects.get().import_batch.source == SOURCE


def test_pp16_related_person_and_transaction_imports_record_their_source_too():
    institution = InstitutionFactory(member_number="INST-1")
    member = MemberFactory(product_lines=["spot"])
    run(RelatedPersonResource, csv_bytes(PERSON_HEADER, [
        ["", "INST-1", "beneficial_owner", "40", "Owner One", "CN", "1970-01-01", "owner@mail.example"]]))
    run(TransactionRecordResource, csv_bytes(TXN_HEADER, [txn_row(1, member.member_number)]),
        source=OTHER_SOURCE)

    person = RelatedPerson.objects.get(member=institution)
    assert person.import_batch.source == SOURCE
    assert person.import_batch.model_label == "accounts.RelatedPerson"
    assert TransactionRecord.objects.get().import_batch.source == OTHER_SOURCE


@pytest.mark.parametrize("source", ["", "   ", "ab"])
def test_pp16_an_import_without_a_source_imports_nothing_and_says_why(source):
    report = run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1)]), source=source)

    assert [(p.column, p.message.split(":")[0]) for p in report.problems] == [("source", "Name the source of the data")]
    assert report.batch is None
    assert not Member.objects.exists() and not ImportBatch.objects.exists()


def test_pp16_a_source_longer_than_the_field_is_refused():
    report = run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1)]), source="x" * 301)
    assert "longer than 300" in str(report.problems[0])
    assert not Member.objects.exists()


def test_pp16_a_refused_or_dry_run_import_leaves_no_record_of_an_import():
    bad = run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2, date_of_birth="1990-13-45")]))
    dry = run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(3)]), dry_run=True)
    assert bad.problems and dry.new == 1 and dry.batch is None
    assert not ImportBatch.objects.exists() and not Member.objects.exists()


def test_pp16_the_database_refuses_an_import_record_without_a_source():
    with pytest.raises(IntegrityError), transaction.atomic():
        ImportBatch.objects.create(model_label="accounts.Member", source="")


def test_pp16_the_import_record_holds_no_personal_data():
    run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(1)]))
    batch = ImportBatch.objects.get()
    assert str(batch) == f"Import #{batch.pk}"
    assert ImportBatch.data_map.subject == ""
    stored = " ".join(str(value) for value in ImportBatch.objects.values().get().values())
    for value in member_row(1):
        if len(value) > 3:
            assert value not in stored


# --- The admin ---------------------------------------------------------------------------------------
def upload(rows):
    return SimpleUploadedFile("members.csv", csv_bytes(MEMBER_HEADER, rows))


def test_pp16_the_admin_import_form_requires_the_source_and_reads_nothing_without_it(client, compliance_officer):
    client.force_login(compliance_officer)
    form_page = client.get(IMPORT_URLS["member"])
    assert 'name="source"' in form_page.content.decode()

    page = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload([member_row(1)]),
                                               "source": " "})

    assert page.status_code == 200
    assert "confirm_form" not in page.context and "result" not in page.context
    assert "source" in page.context["form"].errors
    assert not Member.objects.exists() and not ImportBatch.objects.exists()


def test_pp16_the_admin_preview_carries_the_source_to_the_confirmation_which_records_it(
    client, compliance_officer
):
    client.force_login(compliance_officer)
    preview = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload([member_row(1)]),
                                                  "source": SOURCE})
    confirm = preview.context["confirm_form"].initial
    assert confirm["source"] == SOURCE
    assert SOURCE in preview.content.decode()  # shown on the preview page
    assert not ImportBatch.objects.exists()  # the preview is a rolled-back dry run

    done = client.post("/admin/accounts/member/process_import/", {
        "import_file_name": confirm["import_file_name"], "original_file_name": "members.csv", "format": "0",
        "source": confirm["source"],
    })

    assert done.status_code == 302
    batch = ImportBatch.objects.get()
    assert (batch.source, batch.imported_by, batch.new_rows) == (SOURCE, compliance_officer, 1)
    assert Member.objects.get().import_batch == batch


def test_pp16_a_confirmation_without_the_source_imports_nothing(client, compliance_officer):
    client.force_login(compliance_officer)
    preview = client.post(IMPORT_URLS["member"], {"format": "0", "import_file": upload([member_row(1)]),
                                                  "source": SOURCE})
    confirm = preview.context["confirm_form"].initial

    page = client.post("/admin/accounts/member/process_import/", {
        "import_file_name": confirm["import_file_name"], "original_file_name": "members.csv", "format": "0",
    })

    assert page.status_code == 200 and "source" in page.context["confirm_form"].errors
    assert not Member.objects.exists() and not ImportBatch.objects.exists()


@pytest.mark.parametrize("role", ["compliance_officer", "supervisor", "auditor"])
def test_pp16_compliance_and_auditors_read_the_imports_and_nobody_edits_them(
    client, request, role, django_assert_max_num_queries
):
    for i in range(3):
        run(MemberResource, csv_bytes(MEMBER_HEADER, [member_row(i)]), source=f"{SOURCE} #{i}")
    batch = ImportBatch.objects.get(source=f"{SOURCE} #0")
    client.force_login(request.getfixturevalue(role))

    with django_assert_max_num_queries(12):
        listing = client.get("/admin/accounts/importbatch/")
    assert listing.status_code == 200 and f"{SOURCE} #2" in listing.content.decode()
    assert client.get(f"/admin/accounts/importbatch/{batch.pk}/change/").status_code == 200
    assert client.get("/admin/accounts/importbatch/add/").status_code == 403
    assert client.post(f"/admin/accounts/importbatch/{batch.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/accounts/importbatch/{batch.pk}/change/", {"source": "edited"}).status_code == 403
    assert ImportBatch.objects.get(pk=batch.pk).source == f"{SOURCE} #0"


def test_pp16_agents_do_not_see_the_imports(client, agent):
    client.force_login(agent)
    assert client.get("/admin/accounts/importbatch/").status_code == 403


# --- The command -------------------------------------------------------------------------------------
def test_pp16_import_records_without_source_is_a_clear_error_and_imports_nothing(tmp_path):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(1)]))

    with pytest.raises(CommandError, match="--source: Name the source of the data"):
        call_command("import_records", "members", str(file), "--no-progress")
    with pytest.raises(CommandError, match="--source"):
        call_command("import_records", "members", str(file), "--no-progress", "--source", "  ")

    assert not Member.objects.exists() and not ImportBatch.objects.exists()


def test_pp16_import_records_records_the_source_and_says_so(tmp_path, compliance_officer, capsys):
    file = tmp_path / "members.csv"
    file.write_bytes(csv_bytes(MEMBER_HEADER, [member_row(1), member_row(2)]))

    call_command("import_records", "members", str(file), "--no-progress", "--source", SOURCE,
                 "--user", compliance_officer.email)

    batch = ImportBatch.objects.get()
    assert (batch.source, batch.imported_by, batch.new_rows) == (SOURCE, compliance_officer, 2)
    assert f"Recorded as import #{batch.pk} with its source (PP-16)." in capsys.readouterr().out
    assert Member.objects.filter(import_batch=batch).count() == 2
