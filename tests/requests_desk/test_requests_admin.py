"""The requests admin (issue 6, requirement 10): filters, masked member data, read-only status, bulk
actions on filtered results through the state machine, read-only registers, bounded queries."""

from __future__ import annotations

import datetime

import pytest
from django.contrib import messages as django_messages
from django.contrib.admin import helpers
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from requests_desk import access_package, lifecycle, workflow
from requests_desk.choices import (
    IntakeChannel,
    ReminderKind,
    RequesterKind,
    RequestType,
    VerificationMethod,
)
from requests_desk.messages import IncomingAttachment, message_record_inbound
from requests_desk.models import IdentityCheck, ReminderLog, Request, Transition
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

SECRET_EMAIL = "hidden.person@mail.example"


def make(type_=RequestType.ENQUIRY, *, member=None, received_days_ago=0, **kwargs) -> Request:
    return lifecycle.request_create(
        type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="Zhang San", requester_email=SECRET_EMAIL,
        received_at=timezone.now() - datetime.timedelta(days=received_days_ago), **kwargs,
    )


def changelist(model="request") -> str:
    return reverse(f"admin:requests_desk_{model}_changelist")


def change(obj) -> str:
    return reverse(f"admin:requests_desk_{obj._meta.model_name}_change", args=[obj.pk])


def post_action(client, action, ids=(), *, query="", select_across=False, **data):
    payload = {"action": action, "index": "0", "select_across": "1" if select_across else "0",
               helpers.ACTION_CHECKBOX_NAME: [str(pk) for pk in ids], **data}
    return client.post(changelist() + query, payload)


def notes(response) -> list[str]:
    return [str(m) for m in django_messages.get_messages(response.wsgi_request)]


# --- Bounded queries -------------------------------------------------------------------------------------
def populate(n: int, officer, agent) -> Request:
    """``n`` requests, and one request with ``n`` of everything shown on its page; returns that one."""
    member = MemberFactory()
    for i in range(n):
        make(RequestType.ACCESS if i % 2 else RequestType.ENQUIRY, member=MemberFactory(), received_days_ago=i % 20)
    main = make(RequestType.ACCESS, member=member)
    workflow.transition(request=main, name="start", user=agent)
    IdentityCheck.objects.create(request=main, method=VerificationMethod.DOCUMENT_MATCH, evidence="passport ok",
                                 verified_by=agent)
    lifecycle.request_assign(request=main, assignee=agent, user=agent)
    for i in range(n):
        message_record_inbound(request=main, body=f"body {i}", subject=f"subject {i}",
                               attachments=[IncomingAttachment(content=b"x")])
        Transition.objects.create(request=main, name="extend", from_status=Status.IN_PROGRESS,
                                  to_status=Status.IN_PROGRESS, actor=officer, note=f"note {i}")
        ReminderLog.objects.create(request=main, staff_user=agent, kind=ReminderKind.BEFORE_DUE, days_before=i,
                                   due_at=main.due_at, sent_at=timezone.now())
    main = Request.objects.get(pk=main.pk)
    for i in range(n):
        built = access_package.access_package_build(request=main, user=officer)
        access_package.package_download_record(package=built.package, ip_address="198.51.100.7",
                                               user_agent=f"agent {i}", staff_user=officer if i % 2 else None)
    return main


PAGES = ("request", "accesspackage", "packagedownload", "reminderlog", "transition")


@pytest.mark.parametrize("model", PAGES)
@pytest.mark.parametrize("rows", [3, 30])
def test_changelist_and_change_page_queries_do_not_grow_with_rows(
    model, rows, compliance_officer, agent, client, django_assert_max_num_queries
):
    main = populate(rows, compliance_officer, agent)
    client.force_login(compliance_officer)
    # The same bound for 3 and for 30 rows (session, user, permissions, counts, one page of rows, filters).
    with django_assert_max_num_queries(8):
        response = client.get(changelist(model))
    assert response.status_code == 200
    shown = response.context["cl"].result_list
    assert len(shown) >= min(rows, 3)
    obj = main if model == "request" else shown[0]
    with django_assert_max_num_queries(13):
        response = client.get(change(obj))
    assert response.status_code == 200
    if model == "request":
        assert response.content.count(b"subject ") >= rows  # every message listed on the page


# --- What the page shows --------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ["agent", "compliance_officer", "auditor"])
def test_pp25_member_data_is_masked_on_the_list_and_the_page(role, request, client):
    user = request.getfixturevalue(role)
    member = MemberFactory(email="member.secret@mail.example")
    obj = make(member=member)
    message_record_inbound(request=obj, body="my secret message body", subject="hello")
    client.force_login(user)
    listing = client.get(changelist())
    page = client.get(change(obj))
    for response in (listing, page):
        assert response.status_code == 200
        assert SECRET_EMAIL.encode() not in response.content
        assert b"member.secret@mail.example" not in response.content
    assert member.member_number.encode() in listing.content
    assert b"h***@mail.example" in page.content
    assert b"my secret message body" not in page.content


def test_status_and_timestamps_are_never_editable(client, compliance_officer):
    obj = make()
    client.force_login(compliance_officer)
    page = client.get(change(obj))
    form = page.context["adminform"].form
    assert not {"status", "received_at", "due_at", "closed_at", "assignee"} & set(form.fields)
    response = client.post(change(obj), {
        "priority": "4", "subject": "new subject", "status": Status.CLOSED, "due_at": "2000-01-01 00:00",
        "member": "", "concerns": "", "requester_email": "",
        **_empty_inlines(),
    })
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    obj.refresh_from_db()
    assert (obj.status, obj.priority, obj.subject) == (Status.NEW, 4, "new subject")
    assert obj.requester_email == SECRET_EMAIL  # left empty: the stored value is kept
    assert obj.due_at > timezone.now()


def _empty_inlines() -> dict:
    data = {}
    for prefix in ("identity_checks", "transitions", "messages", "packages"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0", f"{prefix}-MIN_NUM_FORMS": "0",
                     f"{prefix}-MAX_NUM_FORMS": "0"})
    return data


def test_requests_are_not_added_or_deleted_in_the_admin(client, superuser):
    client.force_login(superuser)
    assert client.get(reverse("admin:requests_desk_request_add")).status_code == 403
    obj = make()
    assert client.get(reverse("admin:requests_desk_request_delete", args=[obj.pk])).status_code == 403


def test_deadline_filter_finds_overdue_and_due_soon(client, compliance_officer):
    overdue = make(received_days_ago=20)
    soon = make(received_days_ago=14)
    later = make()
    client.force_login(compliance_officer)
    shown = lambda value: {r.pk for r in client.get(changelist() + f"?deadline={value}").context["cl"].result_list}  # noqa: E731
    assert shown("overdue") == {overdue.pk}
    assert shown("due_soon") == {soon.pk}
    assert shown("open") == {soon.pk, later.pk}


def test_read_only_registers_offer_no_add_or_change(client, compliance_officer, agent):
    main = populate(1, compliance_officer, agent)
    client.force_login(compliance_officer)
    for model in PAGES[1:]:
        assert client.get(reverse(f"admin:requests_desk_{model}_add")).status_code == 403
    transition = main.transitions.first()
    response = client.post(change(transition), {"note": "rewritten"})
    assert response.status_code == 403
    transition.refresh_from_db()
    assert transition.note != "rewritten"


# --- Bulk actions ---------------------------------------------------------------------------------------
def test_close_duplicates_on_all_filtered_results_goes_through_the_state_machine(client, agent):
    dupes = [make(RequestType.ENQUIRY) for _ in range(3)]
    started = make(RequestType.ENQUIRY)
    workflow.transition(request=started, name="start", user=agent)
    other = make(RequestType.COMPLAINT, concerns=dupes[0])
    client.force_login(agent)
    query = "?type__exact=enquiry"
    form_page = post_action(client, "close_duplicates", [dupes[0].pk], query=query, select_across=True)
    assert form_page.status_code == 200
    assert form_page.context["total"] == 4
    response = post_action(client, "close_duplicates", [dupes[0].pk], query=query, select_across=True,
                           apply="1", note="Same question as DSR-FIRST")
    assert response.status_code == 302
    assert response["Location"].endswith(query)
    texts = notes(response)
    assert "Closed as duplicates: 3 request(s)." in texts
    assert any(started.reference in t and "in progress" in t for t in texts)
    for obj in dupes:
        obj.refresh_from_db()
        assert obj.status == Status.CLOSED
        record = obj.transitions.get()
        assert (record.name, record.actor, record.note) == ("close_duplicate", agent, "Same question as DSR-FIRST")
    started.refresh_from_db()
    other.refresh_from_db()
    assert (started.status, other.status) == (Status.IN_PROGRESS, Status.NEW)


def test_close_duplicates_needs_a_reason(client, agent):
    obj = make()
    client.force_login(agent)
    response = post_action(client, "close_duplicates", [obj.pk], apply="1", note="")
    assert response.status_code == 200
    assert response.context["form"].errors["note"]
    obj.refresh_from_db()
    assert obj.status == Status.NEW


def test_assign_to_an_agent_with_an_intermediate_form(client, compliance_officer, agent):
    a, b = make(), make()
    closed = make()
    workflow.transition(request=closed, name="close_duplicate", user=agent, note="dup")
    client.force_login(compliance_officer)
    page = post_action(client, "assign", [a.pk, b.pk, closed.pk])
    assert page.status_code == 200
    assert agent in page.context["form"].fields["assignee"].queryset
    response = post_action(client, "assign", [a.pk, b.pk, closed.pk], apply="1", assignee=str(agent.pk))
    assert response.status_code == 302
    texts = notes(response)
    assert "Assigned: 2 request(s)." in texts
    assert any(closed.reference in t and "closed" in t for t in texts)
    assert {r.assignee for r in Request.objects.filter(pk__in=[a.pk, b.pk])} == {agent}
    assert Request.objects.get(pk=closed.pk).assignee is None


def test_extend_sets_the_new_date_with_a_reason_and_tells_each_requester(client, compliance_officer):
    a, b = make(), make()
    late = make()
    new_day = timezone.localdate() + datetime.timedelta(days=25)
    workflow.transition(request=late, name="extend", user=compliance_officer, note="already extended",
                        due_at=timezone.now() + datetime.timedelta(days=40))
    client.force_login(compliance_officer)
    response = post_action(client, "extend", [a.pk, b.pk, late.pk], apply="1", due_on=new_day.isoformat(),
                           reason="We need the trading system's export", notify="on")
    assert response.status_code == 302
    texts = notes(response)
    assert "Extended: 2 request(s)." in texts
    assert any(late.reference in t and "later than the current one" in t for t in texts)
    for obj in (a, b):
        obj.refresh_from_db()
        assert timezone.localtime(obj.due_at).date() == new_day
        assert obj.transitions.get().note == "We need the trading system's export"
    assert len([m for m in mail.outbox if "more time" in m.subject]) == 2


def test_agents_may_not_extend_or_fulfil_and_auditors_have_no_actions(client, agent, auditor):
    client.force_login(agent)
    actions = client.get(changelist()).context["action_form"].fields["action"].choices
    names = {name for name, _label in actions}
    assert {"close_duplicates", "assign"} <= names
    assert not {"extend", "fulfil"} & names
    client.force_login(auditor)
    response = client.get(changelist())
    assert response.status_code == 200
    assert response.context["action_form"] is None or not [
        name for name, _label in response.context["action_form"].fields["action"].choices if name
    ]


def test_fulfil_action_fulfils_each_request_as_its_type_requires_and_reports_the_rest(
    client, compliance_officer, agent
):
    enquiry = make(RequestType.ENQUIRY)
    workflow.transition(request=enquiry, name="start", user=agent)
    unverified = make(RequestType.DISPUTE, member=MemberFactory())
    workflow.transition(request=unverified, name="start", user=agent)
    client.force_login(compliance_officer)
    response = post_action(client, "fulfil", [enquiry.pk, unverified.pk], apply="1", note="Answered.", notify="on")
    assert response.status_code == 302
    texts = notes(response)
    assert "Fulfilled: 1 request(s)." in texts
    assert any(unverified.reference in t and "PP-30" in t for t in texts)
    assert Request.objects.get(pk=enquiry.pk).status == Status.FULFILLED
    assert Request.objects.get(pk=unverified.pk).status == Status.IN_PROGRESS


def test_a_failing_mail_server_is_reported_per_request_not_a_500(client, compliance_officer, monkeypatch):
    import smtplib

    obj = make()

    def refuse(self, fail_silently=False):
        raise smtplib.SMTPServerDisconnected("down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    client.force_login(compliance_officer)
    new_day = timezone.localdate() + datetime.timedelta(days=30)
    response = post_action(client, "extend", [obj.pk], apply="1", due_on=new_day.isoformat(), reason="need time",
                           notify="on")
    assert response.status_code == 302
    assert any(obj.reference in t for t in notes(response))
    obj.refresh_from_db()
    assert timezone.localtime(obj.due_at).date() != new_day  # rolled back with the letter


# --- Preparing one request's fulfilment ------------------------------------------------------------------
def prepare_url(obj) -> str:
    return reverse("admin:requests_desk_request_prepare", args=[obj.pk])


def test_a_correction_is_proposed_in_the_admin_and_shown_masked_for_review(client, agent, compliance_officer):
    member = MemberFactory()
    obj = make(RequestType.CORRECTION, member=member)
    client.force_login(agent)
    assert client.get(prepare_url(obj)).status_code == 200
    response = client.post(prepare_url(obj), {"email": "not an address", "legal_name": "Li Lei"})
    assert response.status_code == 200 and response.context["form"].errors["email"]
    response = client.post(prepare_url(obj), {"email": "li.lei@new.example", "legal_name": "Li Lei"})
    assert response.status_code == 302
    obj.refresh_from_db()
    assert obj.details["changes"]["legal_name"] == "Li Lei"
    assert "li.lei@new.example" not in str(obj.details)  # a sensitive proposal is kept encrypted (PP-26)
    client.force_login(compliance_officer)
    page = client.get(change(obj))
    assert b"Legal full name: Li Lei" in page.content
    assert b"l***@new.example" in page.content and b"li.lei@new.example" not in page.content


def test_purposes_to_withdraw_and_a_severity_are_recorded_in_the_admin(client, compliance_officer):
    from consents.models import Purpose

    withdrawal = make(RequestType.CONSENT_WITHDRAWAL, member=MemberFactory())
    client.force_login(compliance_officer)
    page = client.get(prepare_url(withdrawal))
    offered = set(page.context["form"].fields["purposes"].queryset.values_list("code", flat=True))
    assert "marketing-sms" in offered and "account-identity" not in offered  # basic purposes are not offered
    sms = Purpose.objects.get(code="marketing-sms")
    assert client.post(prepare_url(withdrawal), {"purposes": [sms.pk]}).status_code == 302
    assert Request.objects.get(pk=withdrawal.pk).details["purposes"] == ["marketing-sms"]

    report = lifecycle.request_create(type=RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY,
                                      channel=IntakeChannel.EMAIL, severity="low")
    assert client.post(prepare_url(report), {"severity": "critical"}).status_code == 302
    assert Request.objects.get(pk=report.pk).severity == "critical"
    assert client.get(prepare_url(make(RequestType.ENQUIRY))).status_code == 404
