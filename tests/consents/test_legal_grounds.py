"""The fixed catalogue of legal grounds (issue 4, requirement 2; PP-17, PP-24, PP-35, PP-36)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from accounts.staff import roles
from consents.choices import GroundUse
from consents.legal_grounds import CATALOGUE
from consents.models import LegalGround

pytestmark = pytest.mark.django_db

EXPECTED = {
    # use: (how many, section)
    GroundUse.CONSENT_EXCEPTION: (11, "I(V)3"),  # PP-17: eleven exceptions to consent
    GroundUse.AUTHORISATION_EXCEPTION: (6, "III(IV)"),  # PP-24: six exceptions to prior authorisation
    GroundUse.REQUEST_REJECTION: (5, "V(IV)"),  # PP-35: five grounds to reject a request
    GroundUse.CANNOT_RESPOND: (6, "V(IV)"),  # PP-36: six grounds we cannot respond
}


@pytest.mark.parametrize("use", list(EXPECTED))
def test_pp17_pp24_pp35_pp36_each_list_has_the_policys_count_section_and_order(use):
    count, section = EXPECTED[use]
    grounds = list(LegalGround.objects.filter(use=use).order_by("position"))
    assert len(grounds) == count
    assert {g.section for g in grounds} == {section}
    assert [g.position for g in grounds] == list(range(1, count + 1))
    assert all(g.wording.strip() for g in grounds)


def test_the_database_holds_exactly_the_catalogue_in_the_policys_wording():
    stored = set(LegalGround.objects.values_list("code", "use", "section", "position", "wording"))
    expected = {(code, str(use), section, position, text) for code, use, section, position, text in CATALOGUE}
    assert stored == expected
    assert LegalGround.objects.count() == 28
    assert len({row[0] for row in CATALOGUE}) == len(CATALOGUE)  # codes are unique identifiers


def test_pp17_wording_of_known_grounds():
    assert LegalGround.objects.get(code="consent-research").wording.startswith("Statistical or academic research")
    assert LegalGround.objects.get(code="cannot-trade-secrets").wording == "Trade secrets are involved"
    assert LegalGround.objects.get(code="reject-unprovoked-duplicate").wording == "Unprovoked duplication"


@pytest.mark.parametrize("who", ["compliance_officer", "supervisor", "auditor", "superuser"])
def test_the_catalogue_is_read_only_in_the_admin_for_everyone(request, who):
    http = RequestFactory().get("/admin/consents/legalground/")
    http.user = request.getfixturevalue(who)
    model_admin = admin.site._registry[LegalGround]
    ground = LegalGround.objects.first()
    assert model_admin.has_view_permission(http, ground)
    assert not model_admin.has_add_permission(http)
    assert not model_admin.has_change_permission(http, ground)
    assert not model_admin.has_delete_permission(http, ground)


def test_no_role_may_add_change_or_delete_a_legal_ground():
    assert not Permission.objects.filter(
        group__name__in=roles.ALL_ROLES, content_type__app_label="consents",
        codename__in=["add_legalground", "change_legalground", "delete_legalground"],
    ).exists()


def test_the_admin_refuses_a_posted_change_to_a_ground(client, superuser):
    ground = LegalGround.objects.get(code="consent-other-law")
    client.force_login(superuser)
    response = client.post(f"/admin/consents/legalground/{ground.pk}/change/", {"wording": "Anything goes"})
    assert response.status_code == 403
    assert LegalGround.objects.get(pk=ground.pk).wording == "Other circumstances stipulated by laws and regulations"
