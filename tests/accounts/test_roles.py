"""PP-25: roles are groups with least privilege; the matrix below is the contract."""

import pytest
from django.contrib.auth.models import Group

from accounts.staff import roles
from accounts.staff.roles import Grant, Role, role_permissions, sync_roles

pytestmark = pytest.mark.django_db


def perms_of(role_name: str) -> set[str]:
    group = Group.objects.get(name=role_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_pp25_the_four_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= set(roles.ALL_ROLES)


# (permission, compliance officer, customer service agent, supervisor, auditor)
MATRIX = [
    ("accounts.view_staffuser", True, False, True, True),
    ("accounts.add_staffuser", False, False, False, False),
    ("accounts.change_staffuser", False, False, False, False),
    ("accounts.delete_staffuser", False, False, False, False),
    ("auth.change_group", False, False, False, False),
    ("auth.change_permission", False, False, False, False),
    ("admin.view_logentry", False, False, True, True),
    ("admin.change_logentry", False, False, False, False),
    ("admin.delete_logentry", False, False, False, False),
    ("django_celery_beat.view_periodictask", True, False, True, True),
    ("django_celery_beat.change_periodictask", True, False, True, False),
    ("django_celery_beat.delete_periodictask", False, False, False, False),
    ("django_celery_beat.add_crontabschedule", True, False, True, False),
    ("sessions.view_session", False, False, False, False),
    ("accounts.view_member", True, True, True, True),
    ("accounts.change_member", True, False, True, False),
    ("accounts.delete_member", False, False, False, False),
    ("accounts.reveal_sensitive", True, False, True, False),
    ("accounts.download_document", True, False, True, False),
    ("accounts.import_members", True, False, True, False),
    ("accounts.view_sensitiveaccesslog", True, False, True, True),
    ("accounts.change_sensitiveaccesslog", False, False, False, False),
    ("accounts.change_transactionrecord", False, False, False, False),
    ("accounts.add_productline", False, False, True, False),
]
ROLE_ORDER = (roles.COMPLIANCE_OFFICER, roles.CUSTOMER_SERVICE_AGENT, roles.SUPERVISOR, roles.AUDITOR)


@pytest.mark.parametrize("row", MATRIX, ids=[row[0] for row in MATRIX])
def test_pp25_role_permission_matrix(row):
    permission, *expected = row
    for role_name, allowed in zip(ROLE_ORDER, expected, strict=True):
        assert (permission in perms_of(role_name)) is allowed, f"{role_name} / {permission}"


def test_pp25_auditor_changes_nothing_anywhere():
    granted = perms_of(roles.AUDITOR)
    assert granted, "auditors must be able to read"
    assert all(p.split(".", 1)[1].startswith("view_") for p in granted), sorted(granted)


def test_pp25_agent_reads_members_masked_and_changes_only_requests():
    granted = perms_of(roles.CUSTOMER_SERVICE_AGENT)
    assert "accounts.view_member" in granted
    outside_desk = [p for p in granted if not p.startswith("requests_desk.")]
    assert all(".view_" in p for p in outside_desk), sorted(outside_desk)
    for forbidden in ("accounts.reveal_sensitive", "accounts.download_document", "accounts.import_members",
                      "accounts.view_paymentinstrument", "accounts.view_devicerecord"):
        assert forbidden not in granted


def test_pp25_no_role_may_delete_anything():
    for role_name in roles.ALL_ROLES:
        assert not [p for p in perms_of(role_name) if ".delete_" in p], role_name


def test_pp25_supervisor_has_everything_a_compliance_officer_has():
    assert perms_of(roles.COMPLIANCE_OFFICER) <= perms_of(roles.SUPERVISOR)


def test_sync_roles_is_idempotent_and_repairs_hand_edits():
    group = Group.objects.get(name=roles.AUDITOR)
    before = perms_of(roles.AUDITOR)
    from django.contrib.auth.models import Permission

    group.permissions.add(Permission.objects.get(codename="delete_staffuser"))
    sync_roles()
    sync_roles()
    assert perms_of(roles.AUDITOR) == before


def test_an_app_wide_grant_other_than_view_is_refused():
    with pytest.raises(ValueError, match="viewing only"):
        Grant("accounts", "*", ("view", "change"))


def test_a_grant_naming_an_unknown_permission_is_a_clear_error():
    role = Role("broken", grants=(Grant("accounts", "staffuser", ("approve",)),))
    with pytest.raises(LookupError, match="approve_staffuser"):
        role_permissions(role, {("accounts", "staffuser"): {"view_staffuser"}})
