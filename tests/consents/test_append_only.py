"""The consent ledger is append-only: ORM, admin and (on PostgreSQL) raw SQL (issue 4, requirement 4)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import RequestFactory

from accounts.staff import roles
from consents.choices import ConsentAction
from consents.ledger import ledger_erasure_allowed
from consents.models import ConsentEvent, ConsentState
from tests.consents.ledger_helpers import aware, initial_version, record
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

T0 = aware(2025, 3, 1, 9)


@pytest.fixture
def event():
    initial_version()
    return record(MemberFactory(registered_at=aware(2020, 1, 1)), "marketing-sms", at=T0)


def test_pp32_the_orm_refuses_to_change_or_delete_an_event(event):
    event.evidence = "rewritten"
    with pytest.raises(ValidationError, match="append-only"):
        event.save()
    with pytest.raises(ValidationError, match="append-only"):
        event.delete()
    with pytest.raises(ValidationError, match="append-only"):
        ConsentEvent.objects.filter(pk=event.pk).update(evidence="rewritten")
    with pytest.raises(ValidationError, match="append-only"):
        ConsentEvent.objects.filter(pk=event.pk).delete()
    assert ConsentEvent.objects.get(pk=event.pk).evidence == "test"


@pytest.mark.parametrize("who", ["compliance_officer", "supervisor", "auditor", "agent", "superuser"])
def test_pp32_nobody_adds_changes_or_deletes_an_event_in_the_admin(request, event, who):
    user = request.getfixturevalue(who)
    http = RequestFactory().get("/admin/consents/consentevent/")
    http.user = user
    model_admin = admin.site._registry[ConsentEvent]
    assert not model_admin.has_add_permission(http)
    assert not model_admin.has_change_permission(http, event)
    assert not model_admin.has_delete_permission(http, event)
    assert "delete_selected" not in model_admin.get_actions(http)


def test_pp32_no_role_holds_change_or_delete_permissions_on_events():
    granted = Permission.objects.filter(
        group__name__in=roles.ALL_ROLES, content_type__app_label="consents",
        codename__in=["change_consentevent", "delete_consentevent"],
    )
    assert not granted.exists()
    assert set(Group.objects.filter(name__in=roles.ALL_ROLES).values_list("name", flat=True)) == set(roles.ALL_ROLES)


def test_pp32_the_admin_change_page_of_an_event_cannot_post_changes(client, superuser, event):
    client.force_login(superuser)
    url = f"/admin/consents/consentevent/{event.pk}/change/"
    assert client.get(url).status_code == 200  # readable
    response = client.post(url, {"evidence": "rewritten"})
    assert response.status_code == 403
    assert client.post(f"/admin/consents/consentevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert ConsentEvent.objects.get(pk=event.pk).evidence == "test"


@pytest.mark.postgresql  # SQLite has neither the trigger nor row locks; CI's PostgreSQL run executes it
def test_pp32_raw_sql_cannot_update_or_delete_events_except_inside_erasure(event):
    with connection.cursor() as cursor:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("UPDATE consents_consentevent SET evidence = 'x' WHERE id = %s", [event.pk])
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM consents_consentevent WHERE id = %s", [event.pk])
        assert ConsentEvent.objects.filter(pk=event.pk, evidence="test").exists()

        with transaction.atomic():  # an outer transaction, as the erasure engine would have
            with ledger_erasure_allowed():
                cursor.execute("UPDATE consents_consentevent SET evidence = 'x' WHERE id = %s", [event.pk])
                cursor.execute("DELETE FROM consents_consentstate WHERE last_event_id = %s", [event.pk])
                cursor.execute("DELETE FROM consents_consentevent WHERE id = %s", [event.pk])
            assert not ConsentEvent.objects.filter(pk=event.pk).exists()
            # The permission ends with the block, not with the outer transaction.
            other = record(MemberFactory(registered_at=aware(2020, 1, 1)), "marketing-sms", at=T0)
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                cursor.execute("DELETE FROM consents_consentevent WHERE id = %s", [other.pk])


def test_ledger_erasure_allowed_is_a_transaction_on_every_database(event):
    with pytest.raises(RuntimeError), ledger_erasure_allowed():
        ConsentState.objects.filter(last_event=event).delete()
        raise RuntimeError("erasure failed half-way")
    assert ConsentState.objects.filter(last_event=event).exists()  # rolled back as a whole


def test_pp32_a_withdrawal_is_a_new_event_not_an_edit(event):
    withdrawal = record(event.member, "marketing-sms", ConsentAction.WITHDRAW, at=aware(2025, 4, 1))
    assert ConsentEvent.objects.filter(member=event.member).count() == 2
    assert ConsentEvent.objects.get(pk=event.pk).action == ConsentAction.GRANT
    assert withdrawal.pk != event.pk
