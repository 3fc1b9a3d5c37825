"""Legal holds (PP-29, PP-33): placed with a reason, released with one, in force by date."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from retention import selectors, services
from retention.models import LegalHold
from tests.clock import frozen
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 6, 10)


def test_pp29_placing_a_hold_records_reason_owner_and_history(compliance_officer):
    member = MemberFactory()
    hold = services.legal_hold_place(member=member, reason="  Regulator inquiry 2026-17  ", owner=compliance_officer)
    assert hold.reason == "Regulator inquiry 2026-17"
    assert hold.owner == compliance_officer
    assert hold.released_at is None
    assert hold.history.count() == 1
    assert member.pk in selectors.held_member_ids(today=hold.starts_on)


def test_a_hold_starts_by_default_on_the_sites_date_not_the_process_clocks(compliance_officer, monkeypatch):
    """The model's default read ``date.today()`` (the process's local zone); "today" is the site's
    (TIME_ZONE, UTC here) everywhere else. At 02:00 UTC it is still yesterday in New York."""
    import time

    with frozen("2026-06-10T02:00:00+00:00"):
        monkeypatch.setenv("TZ", "America/New_York")  # inside: time-machine sets the zone it travels with
        time.tzset()
        try:
            hold = LegalHold.objects.create(member=MemberFactory(), reason="Court order 2026-44",
                                            owner=compliance_officer)
        finally:
            monkeypatch.undo()
            time.tzset()
    assert hold.starts_on == TODAY


def test_pp29_a_hold_needs_a_real_reason(compliance_officer):
    with pytest.raises(ValidationError) as error:
        services.legal_hold_place(member=MemberFactory(), reason="because", owner=compliance_officer)
    assert "reason" in error.value.message_dict
    assert not LegalHold.objects.exists()


def test_pp29_a_hold_cannot_end_before_it_starts(compliance_officer):
    with pytest.raises(ValidationError):
        services.legal_hold_place(member=MemberFactory(), reason="Litigation hold for case 12",
                                  owner=compliance_officer, starts_on=TODAY, ends_on=TODAY - datetime.timedelta(days=1))
    # The database refuses it too, whatever writes it.
    with pytest.raises(IntegrityError), transaction.atomic():
        LegalHold.objects.create(member=MemberFactory(), reason="x" * 20, owner=compliance_officer,
                                 starts_on=TODAY, ends_on=TODAY - datetime.timedelta(days=1))


def test_pp33_release_records_who_when_and_why_and_happens_once(compliance_officer, supervisor):
    member = MemberFactory()
    hold = services.legal_hold_place(member=member, reason="Litigation hold for case 12", owner=compliance_officer)
    released = services.legal_hold_release(hold=hold, released_by=supervisor, reason="Case 12 closed by the court")
    assert released.released_by == supervisor
    assert released.release_reason == "Case 12 closed by the court"
    assert released.released_at is not None
    assert member.pk not in selectors.held_member_ids(today=timezone.localdate())
    assert released.history.count() == 2  # placed, released
    with pytest.raises(ValidationError, match="already released"):
        services.legal_hold_release(hold=hold, released_by=supervisor, reason="Second release attempt")


def test_pp33_release_needs_a_reason(compliance_officer):
    hold = services.legal_hold_place(member=MemberFactory(), reason="Litigation hold for case 12",
                                     owner=compliance_officer)
    with pytest.raises(ValidationError):
        services.legal_hold_release(hold=hold, released_by=compliance_officer, reason="ok")
    hold.refresh_from_db()
    assert hold.released_at is None


def test_pp33_holds_are_in_force_only_between_start_and_end(compliance_officer, django_assert_num_queries):
    future, ended, open_ended, bounded = (MemberFactory() for _ in range(4))
    reason = "Litigation hold for case 12"
    services.legal_hold_place(member=future, reason=reason, owner=compliance_officer,
                              starts_on=TODAY + datetime.timedelta(days=1))
    services.legal_hold_place(member=ended, reason=reason, owner=compliance_officer,
                              starts_on=TODAY - datetime.timedelta(days=30), ends_on=TODAY - datetime.timedelta(days=1))
    services.legal_hold_place(member=open_ended, reason=reason, owner=compliance_officer,
                              starts_on=TODAY - datetime.timedelta(days=30))
    services.legal_hold_place(member=bounded, reason=reason, owner=compliance_officer,
                              starts_on=TODAY - datetime.timedelta(days=30), ends_on=TODAY)
    with django_assert_num_queries(1):
        held = selectors.held_member_ids(today=TODAY)
    assert held == {open_ended.pk, bounded.pk}
    # The SQL rule and the model's rule agree.
    for hold in LegalHold.objects.all():
        assert hold.is_active_on(TODAY) == (hold.member_id in held)


def test_pp33_held_members_among_a_set(compliance_officer):
    held, free = MemberFactory(), MemberFactory()
    services.legal_hold_place(member=held, reason="Litigation hold for case 12", owner=compliance_officer)
    assert selectors.held_member_ids(member_ids=[held.pk, free.pk], today=timezone.localdate()) == {held.pk}
