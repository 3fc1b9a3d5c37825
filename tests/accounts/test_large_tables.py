"""The big tables' changelists (members, devices, transactions): the same page as Django's, rendered leaner.

A page of 100 members used to reverse three URLs and render a widget template per row; the rows now
come from patterns built once per page. These tests hold the HTML to what Django itself writes, and
the bounded count to a query PostgreSQL can stop early.
"""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.admin.options import ModelAdmin
from django.contrib.admin.views.main import ChangeList
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Member
from accounts.privacy.forms import reveal_url
from accounts.privacy.large_tables import LeanRowsChangeList, fill_pattern, lean_changelist
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def _member_admin():
    return admin.site._registry[Member]


def test_the_selection_box_is_the_one_django_renders():
    member = MemberFactory()
    assert _member_admin().action_checkbox(member) == ModelAdmin.action_checkbox(_member_admin(), member)


def test_rows_link_to_the_change_page_django_reverses(rf, superuser):
    members = MemberFactory.create_batch(3)
    request = rf.get("/admin/accounts/member/")
    request.user = superuser
    changelist = _member_admin().get_changelist_instance(request)
    assert isinstance(changelist, LeanRowsChangeList)
    for member in members:
        assert changelist.url_for_result(member) == ChangeList.url_for_result(changelist, member)
        assert changelist.url_for_result(member) == f"/admin/accounts/member/{member.pk}/change/"


def test_rows_of_a_filtered_page_keep_its_filters_in_their_links(client, compliance_officer):
    """A row opened from a filtered list leads back to that list (Django's ``_changelist_filters``)."""
    from django.contrib.admin.templatetags.admin_urls import add_preserved_filters

    member = MemberFactory()
    client.force_login(compliance_officer)
    html = client.get(f"/admin/accounts/member/?kind__exact={member.kind}").content.decode()
    expected = add_preserved_filters(
        {"preserved_filters": f"_changelist_filters=kind__exact%3D{member.kind}", "opts": Member._meta},
        f"/admin/accounts/member/{member.pk}/change/",
    )
    assert expected.endswith(f"?_changelist_filters=kind__exact%3D{member.kind}")
    assert f'href="{expected}"' in html.replace("&amp;", "&")


def test_a_key_that_is_not_an_integer_is_reversed_as_django_does():
    assert fill_pattern("/admin/x/ROWKEYPLACEHOLDER/change/", "a/b") is None
    assert fill_pattern("/admin/x/ROWKEYPLACEHOLDER/change/", 42) == "/admin/x/42/change/"


def test_lean_rows_keep_what_the_admin_s_own_changelist_does():
    class Searching(ChangeList):
        marker = True

    lean = lean_changelist(Searching)
    assert issubclass(lean, LeanRowsChangeList) and lean.marker and lean_changelist(Searching) is lean
    assert lean_changelist(LeanRowsChangeList) is LeanRowsChangeList


def test_pp25_reveal_links_on_the_list_are_the_reveal_pages_of_each_row(client, compliance_officer):
    members = MemberFactory.create_batch(3)
    client.force_login(compliance_officer)
    html = client.get("/admin/accounts/member/").content.decode()
    links = set(re.findall(r'class="reveal-link" href="([^"]+)"', html))
    expected = {reveal_url(member, field) for member in members for field in ("email", "phone")}
    assert expected <= links
    # The masked values are there, the plaintext is not.
    assert all(member.email not in html for member in members)


def test_the_bounded_count_asks_for_no_sort(client, compliance_officer):
    MemberFactory.create_batch(3)
    client.force_login(compliance_officer)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/admin/accounts/member/").content.decode()
    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("ORDER BY" not in sql.upper() and "LIMIT" in sql.upper() for sql in counts)
    assert re.search(r"3 members", re.sub(r"\s+", " ", html))
