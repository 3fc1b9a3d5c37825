"""Intake (issue 6, requirements 1 and 7): due date, requester kinds, channels, complaints, security
reports, repeats and fees, no personal data in URLs."""

import datetime
from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from requests_desk import lifecycle
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType, Severity
from requests_desk.models import Request
from requests_desk.queue import take_next
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


def create(type_=RequestType.ACCESS, **kwargs) -> Request:
    kwargs.setdefault("requester_kind", RequesterKind.MEMBER)
    kwargs.setdefault("channel", IntakeChannel.WEB)
    return lifecycle.request_create(type=type_, **kwargs)


def test_pp34_due_date_is_received_plus_the_setting(settings):
    received = timezone.now() - datetime.timedelta(days=1)
    request = create(received_at=received)
    assert request.due_at - request.received_at == datetime.timedelta(days=15)
    settings.REQUEST_DUE_DAYS = 7
    assert create(received_at=received).due_at == received + datetime.timedelta(days=7)


def test_pp41_intake_records_requester_kind_channel_and_priority():
    member = MemberFactory()
    request = create(RequestType.CORRECTION, requester_kind=RequesterKind.GUARDIAN, channel=IntakeChannel.LETTER,
                     priority=Priority.HIGH, member=member)
    request.refresh_from_db()
    assert (request.requester_kind, request.channel, request.priority, request.member) == (
        RequesterKind.GUARDIAN, IntakeChannel.LETTER, Priority.HIGH, member)
    assert request.reference.startswith("DSR-") and len(request.reference) == 12


def test_received_in_the_future_is_refused():
    with pytest.raises(ValidationError, match="future"):
        create(received_at=timezone.now() + datetime.timedelta(days=1))


def test_pp34_complaint_names_the_request_it_concerns():
    original = create()
    with pytest.raises(ValidationError, match="concerns"):
        create(RequestType.COMPLAINT)
    complaint = create(RequestType.COMPLAINT, concerns=original)
    assert list(original.complaints.all()) == [complaint]
    with pytest.raises(ValidationError, match="Only a complaint"):
        create(RequestType.ACCESS, concerns=original)


def test_pp28_security_report_needs_severity_and_goes_to_the_least_loaded_officer(compliance_officer):
    from django.contrib.auth.models import Group

    from accounts.staff import roles
    from tests.factories import StaffUserFactory

    free = StaffUserFactory(email="free@test.example")
    free.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    # The fixture's officer has the lower id but already holds an open request.
    lifecycle.request_assign(request=create(RequestType.ENQUIRY), assignee=compliance_officer,
                             user=compliance_officer)
    with pytest.raises(ValidationError, match="severity"):
        create(RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY)
    report = create(RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY, severity=Severity.HIGH)
    assert report.assignee == free
    assert report.priority == Priority.URGENT
    with pytest.raises(ValidationError, match="Only security reports"):
        create(RequestType.ACCESS, severity=Severity.LOW)


def test_pp28_agents_do_not_take_security_reports_from_the_queue(agent, compliance_officer):
    # No compliance officer free to route to: the report waits in the queue for compliance.
    compliance_officer.is_active = False
    compliance_officer.save()
    report = create(RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY, severity=Severity.CRITICAL)
    assert report.assignee is None
    assert take_next(user=agent) is None
    compliance_officer.is_active = True
    compliance_officer.save()
    assert take_next(user=compliance_officer) == report


def test_pp31_same_member_and_type_within_the_window_is_a_repeat(settings):
    settings.REQUEST_REPEAT_WINDOW_DAYS = 30
    member, other = MemberFactory(), MemberFactory()
    now = timezone.now()
    first = create(member=member, received_at=now - datetime.timedelta(days=40))
    assert not first.is_repeat
    second = create(member=member, received_at=now - datetime.timedelta(days=5))
    assert not second.is_repeat  # the first is outside the 30-day window
    third = create(member=member, received_at=now)
    assert third.is_repeat
    assert not create(RequestType.DELETION, member=member).is_repeat  # another type
    assert not create(member=other).is_repeat  # another member
    assert not create(received_at=now).is_repeat  # no member known yet


def test_pp31_repeats_are_flagged_set_based_in_one_query(settings):
    settings.REQUEST_REPEAT_WINDOW_DAYS = 30
    member = MemberFactory()
    now = timezone.now()
    rows = Request.objects.bulk_create([
        Request(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
                member=member, received_at=now - datetime.timedelta(days=d),
                due_at=now - datetime.timedelta(days=d) + datetime.timedelta(days=15))
        for d in (50, 10, 3)
    ])
    with CaptureQueriesContext(connection) as queries:
        flagged = lifecycle.requests_flag_repeats(queryset=Request.objects.all())
    assert len(queries) == 1
    assert flagged == 1
    assert [r.is_repeat for r in Request.objects.filter(pk__in=[r.pk for r in rows]).order_by("received_at")] == [
        False, False, True]


def test_pp31_identifying_the_member_later_sets_the_repeat_flag(agent):
    member = MemberFactory()
    create(member=member)
    later = create()
    assert not later.is_repeat
    later = lifecycle.request_member_identify(request=later, member=member, user=agent)
    assert later.is_repeat and later.member == member


def test_pp31_fee_is_recorded_with_its_reason_by_compliance_only(agent, compliance_officer):
    request = create()
    with pytest.raises(PermissionDenied):
        lifecycle.request_fee_record(request=request, amount="10", reason="repeated request", user=agent)
    with pytest.raises(ValidationError, match="Say why"):
        lifecycle.request_fee_record(request=request, amount="10", reason="", user=compliance_officer)
    with pytest.raises(ValidationError, match="zero or more"):
        lifecycle.request_fee_record(request=request, amount="-1", reason="repeated request", user=compliance_officer)
    updated = lifecycle.request_fee_record(request=request, amount="25.50", reason="third copy this quarter",
                                           user=compliance_officer)
    assert (updated.fee_amount, updated.fee_reason) == (Decimal("25.50"), "third copy this quarter")
    assert updated.history.first().history_user == compliance_officer


def test_pp31_fee_form_on_the_request_page_for_compliance(client, compliance_officer, agent):
    request = create()
    client.force_login(agent)
    assert b"Record fee" not in client.get(reverse("requests_desk:request_detail", args=[request.reference])).content
    assert client.post(reverse("requests_desk:fee", args=[request.reference]),
                       {"fee_amount": "5", "fee_reason": "onerous"}).status_code == 403
    client.force_login(compliance_officer)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    assert b"Record fee" in page.content
    response = client.post(reverse("requests_desk:fee", args=[request.reference]),
                           {"fee_amount": "5.00", "fee_reason": "onerous: ten years of statements"}, follow=True)
    assert b"Fee recorded" in response.content
    request.refresh_from_db()
    assert request.fee_amount == Decimal("5.00")


def test_intake_page_records_a_request_and_urls_carry_only_the_reference(client, agent, settings):
    member = MemberFactory(email="jane.doe@mail.example")
    client.force_login(agent)
    assert client.get(reverse("requests_desk:intake")).status_code == 200
    response = client.post(reverse("requests_desk:intake"), {
        "type": RequestType.ACCESS, "requester_kind": RequesterKind.MEMBER, "channel": IntakeChannel.PHONE,
        "member": member.member_number, "requester_name": "Jane Doe", "requester_email": "jane.doe@mail.example",
        "priority": Priority.NORMAL, "subject": "copy of my data", "acknowledge": "on",
    })
    request = Request.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("requests_desk:request_detail", args=[request.reference])
    for text in ("jane", "doe", member.member_number.lower()):
        assert text not in response["Location"].lower()
    assert (request.channel, request.member, request.requester_email) == (IntakeChannel.PHONE, member,
                                                                         "jane.doe@mail.example")
    # Acknowledged with the reference and the official address (PP-41).
    assert len(mail.outbox) == 1
    assert request.reference in mail.outbox[0].subject
    assert settings.OFFICIAL_REQUESTS_EMAIL in mail.outbox[0].body


def test_intake_page_explains_what_is_wrong(client, agent):
    client.force_login(agent)
    response = client.post(reverse("requests_desk:intake"), {
        "type": RequestType.COMPLAINT, "requester_kind": RequesterKind.MEMBER, "channel": IntakeChannel.WEB,
        "priority": Priority.NORMAL, "concerns": "DSR-NOTFOUND",
    })
    assert response.status_code == 200
    assert b"No request has this reference" in response.content
    assert not Request.objects.exists()


def test_pp26_requester_email_is_encrypted_at_rest():
    request = create(requester_email="secret.person@mail.example")
    with connection.cursor() as cursor:
        cursor.execute("SELECT requester_email FROM requests_desk_request WHERE id = %s", [request.pk])
        stored = cursor.fetchone()[0]
    assert "secret.person" not in stored
    assert Request.objects.get(pk=request.pk).requester_email == "secret.person@mail.example"


def test_pp14_a_clash_of_random_references_draws_a_new_one_instead_of_failing_the_intake(monkeypatch):
    first = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                     channel=IntakeChannel.WEB)
    drawn = iter([first.reference, first.reference, "DSR-FRESH234"])
    field = Request._meta.get_field("reference")
    monkeypatch.setattr(field, "_get_default", lambda: next(drawn))  # the new request's first draw clashes…
    monkeypatch.setattr(lifecycle, "new_reference", lambda: next(drawn))  # …and so does the retry's first

    second = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                      channel=IntakeChannel.WEB)

    assert second.reference == "DSR-FRESH234"
    assert Request.objects.count() == 2
    assert Request.history.filter(reference="DSR-FRESH234").count() == 1
