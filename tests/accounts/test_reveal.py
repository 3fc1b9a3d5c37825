"""PP-25 (issue 3, requirement 7): revealing one masked value needs the permission and a reason, and
writes exactly one access-log row that holds no value."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import SensitiveAccessLog
from tests.factories import DeviceRecordFactory, IdentityDocumentFactory, MemberFactory, RelatedPersonFactory

pytestmark = pytest.mark.django_db

EMAIL = "reveal.canary@mail.example"
REASON = "Ticket 4711: confirming the caller's address"


def reveal_url(obj, field: str) -> str:
    return f"/admin/accounts/reveal/{obj._meta.label_lower}/{obj.pk}/{field}/"


@pytest.fixture
def member():
    return MemberFactory(email=EMAIL)


@pytest.mark.parametrize("role", ["compliance_officer", "supervisor"])
def test_pp25_reveal_writes_one_access_log_row_and_shows_the_value(client, request, member, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    form = client.get(reveal_url(member, "email"))
    assert form.status_code == 200
    assert EMAIL not in form.content.decode()
    assert "r***@mail.example" in form.content.decode()
    assert not SensitiveAccessLog.objects.exists()  # asking is not seeing

    response = client.post(reveal_url(member, "email"), {"reason": REASON}, REMOTE_ADDR="198.51.100.23")
    assert response.status_code == 200  # shown in the page body, not redirected anywhere
    assert EMAIL in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    entry = SensitiveAccessLog.objects.get()
    assert entry.staff_user == user
    assert entry.action == SensitiveAccessLog.Action.REVEAL
    assert entry.member_number == member.member_number
    assert (entry.model_label, entry.object_id, entry.field_name) == ("accounts.Member", str(member.pk), "email")
    assert entry.reason == REASON
    assert entry.ip_address == "198.51.100.23"
    assert entry.at is not None
    row = " ".join(str(v) for v in SensitiveAccessLog.objects.values_list().get())
    assert "reveal.canary" not in row


@pytest.mark.parametrize("role", ["auditor", "agent"])
def test_pp25_auditors_and_agents_get_403_and_no_log_row(client, request, member, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reveal_url(member, "email")).status_code == 403
    response = client.post(reveal_url(member, "email"), {"reason": REASON})
    assert response.status_code == 403
    assert EMAIL not in response.content.decode()
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_permission_is_checked_before_the_record_is_looked_up(client, auditor):
    client.force_login(auditor)
    assert client.get("/admin/accounts/reveal/accounts.member/999999/email/").status_code == 403


def test_pp25_a_reason_is_required(client, compliance_officer, member):
    client.force_login(compliance_officer)
    for reason in ("", "   ", "too short"):
        response = client.post(reveal_url(member, "email"), {"reason": reason})
        assert response.status_code == 200
        assert EMAIL not in response.content.decode()
        assert response.context["form"].errors["reason"]
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_only_sensitive_fields_of_known_records_can_be_revealed(client, compliance_officer, member):
    client.force_login(compliance_officer)
    for url in (
        reveal_url(member, "legal_name"),  # not sensitive: nothing to reveal
        reveal_url(member, "email_bidx"),
        f"/admin/accounts/reveal/accounts.member/{member.pk + 1000}/email/",
        "/admin/accounts/reveal/accounts.nomodel/1/email/",
        "/admin/accounts/reveal/nolabel/1/email/",
    ):
        assert client.post(url, {"reason": REASON}).status_code == 404, url
    document = IdentityDocumentFactory(member=member)
    assert client.post(reveal_url(document, "file"), {"reason": REASON}).status_code == 404  # files: download view
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_reveal_needs_view_permission_on_that_model_too(client, compliance_officer, member):
    from django.contrib.auth.models import Permission

    device = DeviceRecordFactory(member=member, location="31.2304,121.4737")
    client.force_login(compliance_officer)
    assert "31.2304" in client.post(reveal_url(device, "location"), {"reason": REASON}).content.decode()
    compliance_officer.user_permissions.clear()
    group = compliance_officer.groups.get()
    group.permissions.remove(Permission.objects.get(codename="view_devicerecord"))
    client.force_login(compliance_officer)
    assert client.post(reveal_url(device, "location"), {"reason": REASON}).status_code == 403
    assert SensitiveAccessLog.objects.count() == 1


def test_pp25_reveal_works_for_inline_records(client, compliance_officer):
    person = RelatedPersonFactory(email="owner.reveal@corp.example")
    client.force_login(compliance_officer)
    page = client.get(f"/admin/accounts/member/{person.member_id}/change/").content.decode()
    assert reveal_url(person, "email") in page
    response = client.post(reveal_url(person, "email"), {"reason": REASON})
    assert "owner.reveal@corp.example" in response.content.decode()
    assert SensitiveAccessLog.objects.get().member_number == person.member.member_number


def test_pp25_reveal_is_csrf_protected(member, compliance_officer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(compliance_officer)
    response = client.post(reveal_url(member, "email"), {"reason": REASON})
    assert response.status_code == 403
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_reveal_needs_a_staff_login(client, member):
    response = client.post(reveal_url(member, "email"), {"reason": REASON})
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    assert "reveal.canary" not in response["Location"]
    assert not SensitiveAccessLog.objects.exists()


def test_pp25_each_reveal_is_one_more_row(client, compliance_officer, member):
    client.force_login(compliance_officer)
    for field in ("email", "phone", "date_of_birth"):
        client.post(reveal_url(member, field), {"reason": REASON})
    assert list(SensitiveAccessLog.objects.order_by("pk").values_list("field_name", flat=True)) == [
        "email", "phone", "date_of_birth"
    ]
