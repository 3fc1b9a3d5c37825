"""An agent's day at the request desk, in a real browser (issue 7, requirement 5a; PP-14, PP-30, PP-41)."""

from __future__ import annotations

import pytest
from django.core import mail

from requests_desk import lifecycle
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType
from requests_desk.models import IdentityCheck, Message, Request
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

REQUESTER = "han.meimei@mail.example"
NOTE = "We are collecting your records and will send them within the legal time limit."


def test_pp30_agent_takes_next_verifies_identity_and_replies_by_email(browser, agent):
    member = MemberFactory()
    waiting = lifecycle.request_create(
        type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="Han Meimei", requester_email=REQUESTER, priority=Priority.URGENT,
        subject="Copy of my data",
    )
    lifecycle.request_create(type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER,
                             channel=IntakeChannel.WEB, priority=Priority.LOW)
    mail.outbox.clear()

    desk = browser.person("agent")
    desk.login(agent, next_path="/desk/")
    page = desk.page
    assert page.locator("h1").inner_text() == "Request queue"
    queue_rows = page.locator("table.queue tbody tr")
    assert queue_rows.count() == 2
    assert waiting.reference in queue_rows.first.inner_text()
    assert "unassigned" in queue_rows.first.inner_text()
    desk.shot("queue")

    page.get_by_role("button", name="Take next").click()
    page.wait_for_url(f"**/desk/r/{waiting.reference}/")
    assert f"{waiting.reference} is now assigned to you." in desk.messages()
    assignee = page.locator("section.summary dt:text-is('Assignee') + dd").inner_text()
    assert assignee == agent.get_full_name()
    assert "Not verified: this request cannot be fulfilled" in page.locator("section.gate").inner_text()
    desk.shot("taken")

    gate = page.locator("section.gate form")
    gate.get_by_label("Method").select_option(label="Identity document matched")
    gate.get_by_label("Evidence").fill("Passport shown on video call matched the account holder.")
    desk.shot("verification-filled")
    gate.get_by_role("button", name="Record verification").click()
    page.wait_for_load_state()
    assert "Identity verification recorded (PP-30)." in desk.messages()
    assert "Verified (see the timeline)." in page.locator("section.gate").inner_text()
    check = page.locator("section.timeline li.event-check")
    assert check.count() == 1
    assert "Identity verified (identity document matched)" in check.inner_text()
    assert agent.get_full_name() in check.inner_text()
    desk.shot("verified")

    reply = page.locator("section.reply form.stacked")  # the reply form, not the letter-language form
    reply.get_by_label("Letter").select_option(label="Acknowledgement of receipt")
    reply.get_by_label("Additional text").fill(NOTE)
    desk.shot("reply-written")
    reply.get_by_role("button", name="Send letter").click()
    page.wait_for_load_state()
    assert "Letter \u201cAcknowledgement of receipt\u201d e-mailed." in desk.messages()
    sent = page.locator("section.timeline li.event-message.outbound")
    assert sent.count() == 1
    sent_text = sent.inner_text()
    assert "Sent (e-mail)" in sent_text and "acknowledgement" in sent_text and NOTE in sent_text
    assert REQUESTER not in page.content()  # the page masks the requester's address (PP-25)
    desk.shot("reply-sent")

    # What the browser showed is what was stored, and the e-mail went out to the requester (PP-41).
    stored = Request.objects.get(pk=waiting.pk)
    assert stored.assignee == agent
    assert IdentityCheck.objects.get(request=stored).verified_by == agent
    assert Message.objects.get(request=stored, direction="outbound").sender == agent
    [letter] = mail.outbox
    assert letter.to == [REQUESTER]
    assert waiting.reference in letter.subject
    assert NOTE in letter.body
