"""PP-10/PP-26 (issue 3, requirement 2): document files are encrypted at rest and served only through
a permission-checked view that writes one access-log row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import IdentityDocument, SensitiveAccessLog
from accounts.privacy.storage import protected_storage
from tests.factories import IdentityDocumentFactory, MemberFactory, valid_cn_id

pytestmark = pytest.mark.django_db

# A tiny PDF-looking file with a canary that must not be readable on disk.
CONTENT = b"%PDF-1.4\n% passport scan of Canaryperson Wqzt, born 1970-01-01\n" + bytes(range(256)) * 4
REASON = "Ticket 99: second review of the passport"


def upload(client, member, *, content=CONTENT, name="Canaryperson Wqzt passport.pdf"):
    return client.post(
        "/admin/accounts/identitydocument/add/",
        {
            "member": member.pk,
            "kind": "national_id",
            "issuing_country": "CN",
            "number": valid_cn_id(11),
            "file": SimpleUploadedFile(name, content, content_type="application/pdf"),
        },
    )


@pytest.fixture
def document(client, compliance_officer):
    client.force_login(compliance_officer)
    response = upload(client, MemberFactory())
    assert response.status_code == 302, response.content.decode()[:3000]
    return IdentityDocument.objects.get()


def test_pp26_uploaded_file_is_encrypted_on_disk(document):
    path = protected_storage.path(document.file.name)
    with open(path, "rb") as handle:
        on_disk = handle.read()
    assert on_disk != CONTENT
    assert b"Canaryperson" not in on_disk and b"%PDF" not in on_disk
    assert CONTENT[64:128] not in on_disk
    # The stored name says nothing about the person.
    assert "canaryperson" not in document.file.name.lower() and document.file.name.endswith(".bin")


def test_pp10_download_returns_the_original_bytes_and_logs_once(client, compliance_officer, document):
    url = f"/admin/accounts/documents/{document.pk}/file/"
    page = client.get(url)
    assert page.status_code == 200 and not SensitiveAccessLog.objects.exists()
    response = client.post(url, {"reason": REASON}, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 200
    assert response.content == CONTENT
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="identity-document-{document.pk}.pdf"'
    assert response["Content-Type"] == "application/pdf"
    assert "no-store" in response["Cache-Control"]
    entry = SensitiveAccessLog.objects.get()
    assert entry.action == SensitiveAccessLog.Action.DOWNLOAD
    assert entry.staff_user == compliance_officer
    assert entry.member_number == document.member.member_number
    assert (entry.model_label, entry.object_id) == ("accounts.IdentityDocument", str(document.pk))
    assert entry.field_name == "file"
    assert entry.reason == REASON and entry.ip_address == "203.0.113.9"


@pytest.mark.parametrize("role", ["auditor", "agent"])
def test_pp25_others_get_403_and_no_log_row(client, request, document, role):
    client.force_login(request.getfixturevalue(role))
    url = f"/admin/accounts/documents/{document.pk}/file/"
    assert client.get(url).status_code == 403
    response = client.post(url, {"reason": REASON})
    assert response.status_code == 403
    assert CONTENT not in response.content
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_download_needs_a_reason(client, document):
    response = client.post(f"/admin/accounts/documents/{document.pk}/file/", {"reason": "x"})
    assert response.status_code == 200
    assert response.content != CONTENT and "attachment" not in response.get("Content-Disposition", "")
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_download_is_csrf_protected(compliance_officer, document):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(compliance_officer)
    assert strict.post(f"/admin/accounts/documents/{document.pk}/file/", {"reason": REASON}).status_code == 403
    assert not SensitiveAccessLog.objects.exists()


def test_document_pages_offer_a_logged_download_link_not_a_file_url(client, compliance_officer, auditor, document):
    download = f"/admin/accounts/documents/{document.pk}/file/"
    for url in (f"/admin/accounts/identitydocument/{document.pk}/change/", "/admin/accounts/identitydocument/",
                f"/admin/accounts/member/{document.member_id}/change/"):
        html = client.get(url).content.decode()
        assert download in html, url
        assert document.file.name not in html, url  # no storage path on any page
    client.force_login(auditor)
    html = client.get(f"/admin/accounts/identitydocument/{document.pk}/change/").content.decode()
    assert "Encrypted file" in html and download not in html


def test_replacing_the_file_keeps_it_encrypted(client, document):
    data = {
        "member": document.member_id, "related_person": "", "kind": "national_id", "issuing_country": "CN",
        "number": "", "expires_on": "", "file": SimpleUploadedFile("new.png", b"\x89PNG\r\n\x1a\nnew-bytes"),
    }
    response = client.post(f"/admin/accounts/identitydocument/{document.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    document.refresh_from_db()
    assert document.number == valid_cn_id(11)  # the empty replace input kept the number
    with open(protected_storage.path(document.file.name), "rb") as handle:
        assert b"new-bytes" not in handle.read()
    download = client.post(f"/admin/accounts/documents/{document.pk}/file/", {"reason": REASON})
    assert download.content == b"\x89PNG\r\n\x1a\nnew-bytes"
    assert download["Content-Disposition"].endswith('.png"')


def test_a_document_without_file_has_nothing_to_download(client, compliance_officer):
    document = IdentityDocumentFactory()
    client.force_login(compliance_officer)
    assert client.post(f"/admin/accounts/documents/{document.pk}/file/", {"reason": REASON}).status_code == 404
    assert not SensitiveAccessLog.objects.exists()


def test_pp06_admin_upload_validates_the_number_per_kind_and_country(client, compliance_officer):
    client.force_login(compliance_officer)
    member = MemberFactory()
    response = client.post(
        "/admin/accounts/identitydocument/add/",
        {"member": member.pk, "kind": "passport", "issuing_country": "SG", "number": "AB-12",
         "file": SimpleUploadedFile("p.pdf", CONTENT)},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["number"]
    assert errors == ["Not a valid passport number (ICAO 9303): use 5 to 9 letters and digits."]
    assert not IdentityDocument.objects.exists()
    html = response.content.decode()
    assert "ICAO 9303" in html


def test_pp06_a_masked_invalid_number_is_reported_not_crashed_on(client):
    """A user who may change documents but not reveal sees the number masked (not in the form); if
    the stored number breaks a rule (e.g. loaded before the rule existed) the page names the rule."""
    from django.contrib.auth.models import Permission

    from tests.factories import StaffUserFactory

    clerk = StaffUserFactory(email="clerk@test.example")
    clerk.user_permissions.set(
        Permission.objects.filter(codename__in=["view_identitydocument", "change_identitydocument"])
    )
    document = IdentityDocumentFactory(number="110101199005170001")  # wrong check digit, saved unchecked
    client.force_login(clerk)
    page = client.get(f"/admin/accounts/identitydocument/{document.pk}/change/").content.decode()
    assert "110***********0001" in page and 'name="number"' not in page
    response = client.post(
        f"/admin/accounts/identitydocument/{document.pk}/change/",
        {"member": document.member_id, "related_person": "", "kind": "national_id", "issuing_country": "CN",
         "expires_on": "2031-01-01"},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.non_field_errors()
    assert errors == [
        "Number: Not a valid PRC resident identity card number (GB 11643): the check digit does not match."
    ]
    assert "110101199005170001" not in response.content.decode()
