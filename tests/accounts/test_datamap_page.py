"""PP-01/PP-42 (issue 3, requirement 5): a read-only "Data map" page lists every declared field."""

from __future__ import annotations

import re

import pytest

from accounts.privacy import datamap
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db

URL = "/admin/accounts/data-map/"


def rows(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<tr data-model="([^"]+)" data-field="([^"]+)">', html)


def test_pp01_data_map_page_lists_every_field_of_every_model(client, auditor):
    client.force_login(auditor)
    response = client.get(URL)
    assert response.status_code == 200
    listed = rows(response.content.decode())
    expected = [(entry.model_label, entry.field_name) for entry in datamap.registry()]
    assert listed == expected
    assert ("accounts.Member", "email") in listed
    assert ("accounts.HistoricalMember", "email") in listed  # history tables are in the map too


def test_pp01_data_map_page_shows_category_sensitivity_export_label_and_erasure(client, auditor):
    client.force_login(auditor)
    html = client.get(URL).content.decode()
    row = re.search(r'<tr data-model="accounts.Member" data-field="email">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == [
        "Member", "email", "yes", "Contact", "sensitive", "First letter and domain", "E-mail", "Set to empty",
        "encrypted",
    ]
    row = re.search(r'<tr data-model="accounts.Member" data-field="status">(.*?)</tr>', html, re.S).group(1)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells == ["Member", "status", "no", "", "", "", "", "", "plain"]


def test_data_map_page_filters_by_category_and_sensitivity(client, compliance_officer):
    client.force_login(compliance_officer)
    sensitive = rows(client.get(URL, {"sensitive": "yes"}).content.decode())
    expected = [(e.model_label, e.field_name) for e in datamap.registry() if e.personal and e.personal.sensitive]
    assert sensitive == expected and ("accounts.IdentityDocument", "number") in sensitive
    contact = rows(client.get(URL, {"category": "contact"}).content.decode())
    assert contact == [
        (e.model_label, e.field_name) for e in datamap.registry() if e.personal and e.personal.category == "contact"
    ]
    both = rows(client.get(URL, {"category": "contact", "sensitive": "no"}).content.decode())
    assert ("accounts.Member", "email_bidx") in both and ("accounts.Member", "email") not in both
    not_personal = rows(client.get(URL, {"personal": "no"}).content.decode())
    assert ("accounts.Member", "status") in not_personal and ("accounts.Member", "email") not in not_personal


def test_data_map_page_is_linked_from_the_accounts_admin_index(client, auditor):
    client.force_login(auditor)
    assert URL in client.get("/admin/accounts/").content.decode()


def test_data_map_page_needs_a_view_permission_in_accounts(client):
    nobody = StaffUserFactory(email="noperms@test.example")
    client.force_login(nobody)
    assert client.get(URL).status_code == 403
    client.logout()
    response = client.get(URL)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_data_map_page_is_read_only_and_queries_no_table(client, auditor, django_assert_max_num_queries):
    client.force_login(auditor)
    assert client.post(URL).status_code == 405
    # Session, user, and the user's permissions (groups and direct): the map itself is code.
    with django_assert_max_num_queries(4):
        assert client.get(URL).status_code == 200
