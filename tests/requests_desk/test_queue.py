"""The agents' queue and a request's page (issue 6, requirement 5): login and permission, filters,
due-date colouring, pagination, bounded queries, masked member data, the timeline, allowed actions."""

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import SensitiveAccessLog
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
from requests_desk.messages import IncomingAttachment, message_record_inbound
from requests_desk.models import Request
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
QUEUE = reverse("requests_desk:queue")


def create(type_=RequestType.ACCESS, *, received_days_ago=0, assignee=None, **kwargs) -> Request:
    request = lifecycle.request_create(
        type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
        received_at=timezone.now() - datetime.timedelta(days=received_days_ago), **kwargs,
    )
    if assignee is not None:
        request = lifecycle.request_assign(request=request, assignee=assignee, user=assignee)
    return request


def references(response) -> list[str]:
    return re.findall(r">(DSR-[A-Z0-9]{8})<", response.content.decode())


def test_queue_needs_a_login_and_the_queue_permission(client, auditor, agent):
    response = client.get(QUEUE)
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    client.force_login(auditor)
    assert client.get(QUEUE).status_code == 403
    assert client.post(reverse("requests_desk:take_next")).status_code == 403
    client.force_login(agent)
    assert client.get(QUEUE).status_code == 200


def test_queue_lists_open_requests_with_filters(client, agent, compliance_officer):
    mine = create(assignee=agent)
    theirs = create(RequestType.DELETION, assignee=compliance_officer)
    unassigned_overdue = create(RequestType.CORRECTION, received_days_ago=20)
    closed = create()
    workflow.transition(request=closed, name="close_duplicate", user=agent, note="duplicate")
    client.force_login(agent)

    assert set(references(client.get(QUEUE))) == {mine.reference, theirs.reference, unassigned_overdue.reference}
    assert references(client.get(QUEUE, {"scope": "mine"})) == [mine.reference]
    assert references(client.get(QUEUE, {"scope": "unassigned"})) == [unassigned_overdue.reference]
    assert references(client.get(QUEUE, {"overdue": "on"})) == [unassigned_overdue.reference]
    assert references(client.get(QUEUE, {"due_within": "3"})) == [unassigned_overdue.reference]
    assert set(references(client.get(QUEUE, {"due_within": "16"}))) == {
        mine.reference, theirs.reference, unassigned_overdue.reference}
    assert references(client.get(QUEUE, {"type": RequestType.DELETION})) == [theirs.reference]
    # A filter the form does not understand is ignored and said so, not an error page.
    response = client.get(QUEUE, {"due_within": "soon"})
    assert response.status_code == 200 and b"were not understood" in response.content


def test_queue_colours_rows_by_due_date(client, agent):
    overdue = create(received_days_ago=16)
    soon = create(received_days_ago=14)
    later = create()
    client.force_login(agent)
    html = client.get(QUEUE).content.decode()
    for request, state in ((overdue, "overdue"), (soon, "soon"), (later, "later")):
        row = re.search(rf'<tr class="due-(\w+)">\s*<td><a [^>]*>{request.reference}<', html)
        assert row and row.group(1) == state


def test_queue_paginates(client, agent):
    for _ in range(27):
        create()
    client.force_login(agent)
    first = client.get(QUEUE)
    assert len(references(first)) == 25 and b"page 1 of 2 (27 open)" in first.content
    assert len(references(client.get(QUEUE, {"page": 2}))) == 2


def _queue_queries(client, count: int, agent) -> int:
    members = [MemberFactory() for _ in range(3)]
    for index in range(count):
        create(member=members[index % 3], assignee=agent if index % 2 else None)
    client.get(QUEUE)  # warm the session and permission caches the same way for both sizes
    with CaptureQueriesContext(connection) as queries:
        response = client.get(QUEUE)
    assert response.status_code == 200
    assert len(references(response)) == min(count, 25)
    return len(queries)


def test_queue_queries_do_not_grow_with_the_number_of_requests(client, agent, django_assert_max_num_queries):
    client.force_login(agent)
    small = _queue_queries(client, 3, agent)
    Request.objects.all().delete()
    large = _queue_queries(client, 30, agent)
    assert small == large
    with django_assert_max_num_queries(8):
        client.get(QUEUE)


def test_request_page_shows_member_data_masked(client, agent):
    member = MemberFactory(email="zhou.min@mail.example", phone="+86 138 0013 8000")
    request = create(member=member, requester_email="zhou.min@mail.example", requester_name="Zhou Min")
    client.force_login(agent)
    html = client.get(reverse("requests_desk:request_detail", args=[request.reference])).content.decode()
    assert member.member_number in html
    assert "z***@mail.example" in html and "**** 8000" in html and "****-**-**" in html
    assert "zhou.min@" not in html and "0013" not in html and "1990" not in html


def test_request_page_offers_only_the_transitions_the_role_allows(client, agent, compliance_officer):
    request = create(RequestType.DISPUTE)
    workflow.transition(request=request, name="start", user=agent)
    detail = reverse("requests_desk:request_detail", args=[request.reference])
    fulfil = reverse("requests_desk:request_transition", args=[request.reference, "fulfil"])
    client.force_login(agent)
    html = client.get(detail).content.decode()
    assert fulfil not in html and reverse("requests_desk:request_transition",
                                          args=[request.reference, "withdraw"]) in html
    # Forcing the button anyway is refused with the reason shown as a message.
    response = client.post(fulfil, follow=True)
    assert b"Your role may not fulfil" in response.content
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS
    client.force_login(compliance_officer)
    assert fulfil in client.get(detail).content.decode()


def test_illegal_transition_through_the_page_is_a_message_not_a_crash(client, agent):
    request = create()
    client.force_login(agent)
    response = client.post(reverse("requests_desk:request_transition", args=[request.reference, "close"]),
                           follow=True)
    assert response.status_code == 200 and b"Cannot close: the request is new" in response.content
    response = client.post(reverse("requests_desk:request_transition", args=[request.reference, "withdraw"]),
                           {"withdraw-note": ""}, follow=True)
    assert b"Say why" in response.content
    client.post(reverse("requests_desk:request_transition", args=[request.reference, "withdraw"]),
                {"withdraw-note": "requester withdrew by phone"})
    assert Request.objects.get(pk=request.pk).status == Status.WITHDRAWN


def test_timeline_shows_messages_transitions_and_checks_in_time_order(client, agent):
    member = MemberFactory()
    request = create(member=member)
    message_record_inbound(request=request, body="please send my data", subject="first mail")
    workflow.transition(request=request, name="start", user=agent)
    lifecycle.identity_check_record(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                    evidence="passport matched", user=agent)
    client.force_login(agent)
    html = client.get(reverse("requests_desk:request_detail", args=[request.reference])).content.decode()
    positions = [html.index(marker) for marker in ("first mail", "Start work</strong>", "Identity verified</strong>")]
    assert positions == sorted(positions)
    assert "please send my data" in html


def test_pp25_reading_message_bodies_is_logged_and_auditors_see_them_hidden(client, agent, auditor):
    request = create()
    message = message_record_inbound(request=request, body="body with personal details")
    client.force_login(agent)
    client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    log = SensitiveAccessLog.objects.get()
    assert (log.staff_user, log.model_label, log.object_id, log.field_name) == (
        agent, "requests_desk.Message", str(message.pk), "body")
    client.force_login(auditor)
    html = client.get(reverse("requests_desk:request_detail", args=[request.reference])).content.decode()
    assert "body with personal details" not in html and "message body hidden" in html
    assert "Record verification" not in html and "/do/" not in html  # auditors change nothing
    assert SensitiveAccessLog.objects.count() == 1


def test_request_page_queries_are_bounded(client, agent, django_assert_max_num_queries):
    request = create(member=MemberFactory())
    for index in range(10):
        message_record_inbound(request=request, body=f"message {index}")
    workflow.transition(request=request, name="start", user=agent)
    client.force_login(agent)
    url = reverse("requests_desk:request_detail", args=[request.reference])
    client.get(url)
    with django_assert_max_num_queries(16):
        assert client.get(url).status_code == 200


def test_unknown_reference_is_404_and_pages_are_not_cached(client, agent):
    client.force_login(agent)
    assert client.get(reverse("requests_desk:request_detail", args=["DSR-AAAAAAAA"])).status_code == 404
    assert client.get(QUEUE)["Cache-Control"] == "no-store, private"


def test_attachment_download_is_logged(client, agent):
    request = create(member=MemberFactory())
    message = message_record_inbound(
        request=request, body="see attached",
        attachments=[IncomingAttachment(content=b"%PDF-1.4 scan", content_type="application/pdf")],
    )
    attachment = message.attachments.get()
    client.force_login(agent)
    response = client.get(reverse("requests_desk:attachment", args=[request.reference, attachment.pk]))
    assert response.content == b"%PDF-1.4 scan"
    assert request.reference in response["Content-Disposition"]
    assert SensitiveAccessLog.objects.filter(action="download", object_id=str(attachment.pk)).count() == 1
    other = create()
    assert client.get(reverse("requests_desk:attachment", args=[other.reference, attachment.pk])).status_code == 404


def test_pages_have_no_inline_scripts(client, agent, compliance_officer):
    request = create()
    client.force_login(compliance_officer)
    for url in (QUEUE, reverse("requests_desk:intake"), reverse("requests_desk:dashboard"),
                reverse("requests_desk:request_detail", args=[request.reference])):
        html = client.get(url).content.decode()
        assert "<script" not in html and "onclick" not in html.lower()
