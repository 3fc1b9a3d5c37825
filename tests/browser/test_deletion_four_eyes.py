"""Deletion with four eyes, in a real browser (issue 7, requirement 5b; PP-02, PP-29, PP-33).

A compliance officer prepares, a supervisor approves, the retention engine erases; the preparer's
own approval is refused. Two screens do this: a member's deletion request at the request desk,
and the admin's "Prepare erasure" action on cancelled members with the erasure-run approval.
"""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from requests_desk import lifecycle
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType
from requests_desk.models import Request
from requests_desk.states import Status
from retention.choices import RunStatus
from retention.erasure.records import was_erased
from retention.models import ErasureRun
from tests.factories import MemberFactory, TransactionRecordFactory
from tests.otp import device_for

# Second factor enforced: officers and supervisors sign in with their authenticator code (issue 7).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.otp,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REQUESTER = "li.lei@mail.example"


def _action(page, label: str):
    """The form of one workflow action on a request's page (each is its own form, headed by its label)."""
    return page.locator("section.actions form.action").filter(has=page.locator(f"h3:text-is('{label}')"))


def _status(page) -> str:
    return page.locator("section.summary dt:text-is('Status') + dd").inner_text()


def test_pp29_officer_prepares_a_deletion_request_a_supervisor_approves_and_the_member_is_erased(
    browser, compliance_officer, supervisor
):
    member = MemberFactory(email=REQUESTER)
    TransactionRecordFactory(member=member)
    number = member.member_number
    request = lifecycle.request_create(
        type=RequestType.DELETION, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="Li Lei", requester_email=REQUESTER, subject="Delete my account data",
    )
    mail.outbox.clear()

    device_for(compliance_officer)
    device_for(supervisor)

    officer = browser.person("officer")
    officer.login(compliance_officer, next_path="/desk/")
    page = officer.page
    page.get_by_role("link", name=request.reference).click()
    page.wait_for_url(f"**/desk/r/{request.reference}/")
    officer.shot("deletion-request")

    gate = page.locator("section.gate form")
    gate.get_by_label("Method").select_option(label="Logged-in account session")
    gate.get_by_label("Evidence").fill("Request sent from the member's logged-in account session.")
    gate.get_by_role("button", name="Record verification").click()
    page.wait_for_load_state()
    assert "Identity verification recorded (PP-30)." in officer.messages()
    officer.shot("verified")

    _action(page, "Start work").get_by_role("button", name="Start work").click()
    page.wait_for_load_state()
    assert _status(page) == "In progress"
    officer.shot("started")
    prepare = _action(page, "Submit for approval")
    prepare.get_by_label("Note").fill("No legal hold; transaction records stay pseudonymised for 5 years.")
    officer.shot("prepare-filled")
    prepare.get_by_role("button", name="Submit for approval").click()
    page.wait_for_load_state()
    assert "Submit for approval: done." in officer.messages()
    assert _status(page) == "Awaiting approval"
    officer.shot("prepared")

    # Four eyes: the officer who prepared it presses "Fulfil" and is refused; nothing is erased.
    _action(page, "Fulfil").get_by_role("button", name="Fulfil").click()
    page.wait_for_load_state()
    assert "Deletions are approved by a supervisor." in officer.messages()
    assert _status(page) == "Awaiting approval"
    officer.shot("own-approval-refused")
    assert not was_erased(number)
    assert Request.objects.get(pk=request.pk).prepared_by == compliance_officer

    boss = browser.person("supervisor")
    boss.login(supervisor, next_path=f"/desk/r/{request.reference}/")
    page = boss.page
    assert _status(page) == "Awaiting approval"
    boss.shot("to-approve")
    _action(page, "Fulfil").get_by_role("button", name="Fulfil").click()
    page.wait_for_load_state()
    assert "Fulfil: done." in boss.messages()
    assert _status(page) == "Fulfilled"
    assert "Not identified yet." in page.locator("section.member").inner_text()  # the ticket is pseudonymous now
    assert number not in page.content()
    boss.shot("approved-and-erased")

    assert was_erased(number)
    tombstone = Member.objects.get(pk=member.pk)
    assert tombstone.status == MemberStatus.CLOSED and tombstone.member_number != number and not tombstone.email
    stored = Request.objects.get(pk=request.pk)
    assert (stored.status, stored.prepared_by, stored.approved_by) == (Status.FULFILLED, compliance_officer, supervisor)
    [letter] = [m for m in mail.outbox if "has been completed" in m.subject]
    assert letter.to == [REQUESTER]
    assert "We have erased your personal data" in letter.body


def test_pp33_officer_prepares_an_erasure_run_in_the_admin_and_only_a_supervisor_approves_it(
    browser, compliance_officer, supervisor
):
    member = MemberFactory(status=MemberStatus.CANCELLED, cancelled_at=timezone.now() - datetime.timedelta(days=40))
    number = member.member_number
    bystander = MemberFactory()

    device_for(compliance_officer)
    device_for(supervisor)

    officer = browser.person("officer")
    officer.login(compliance_officer, next_path="/admin/accounts/member/")
    page = officer.page
    page.locator("#searchbar").fill(number)
    page.locator("#changelist-search [type=submit]").click()
    page.wait_for_load_state()
    officer.shot("member-found")
    page.locator(f"input[name=_selected_action][value='{member.pk}']").check()
    page.locator("select[name=action]").select_option(
        label="Prepare erasure of the selected cancelled members (a supervisor approves it)")
    officer.shot("prepare-selected")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    [notice] = officer.messages()
    assert "prepared for 1 member(s). A supervisor other than you must approve it" in notice
    officer.shot("prepared")
    run = ErasureRun.objects.get()
    assert (run.status, run.prepared_by) == (RunStatus.PREPARED, compliance_officer)

    # The preparer is offered no approval: the action is not in their list.
    officer.goto("/admin/retention/erasurerun/")
    actions = page.locator("select[name=action] option").all_inner_texts()
    assert not [text for text in actions if "Approve" in text]
    officer.shot("no-approve-action")
    assert not was_erased(number)

    boss = browser.person("supervisor")
    boss.login(supervisor, next_path="/admin/retention/erasurerun/")
    page = boss.page
    page.locator(f"input[name=_selected_action][value='{run.pk}']").check()
    page.locator("select[name=action]").select_option(label="Approve selected prepared runs (four eyes) and queue them")
    boss.shot("approve-selected")
    page.locator("button[name=index]").click()
    page.wait_for_load_state()
    assert "1 erasure run(s) approved and queued." in boss.messages()
    boss.goto(f"/admin/retention/erasurerun/{run.pk}/change/")
    assert "Finished" in page.locator(".field-status").inner_text()
    boss.shot("run-finished")

    run.refresh_from_db()
    assert (run.status, run.approved_by) == (RunStatus.FINISHED, supervisor)
    assert was_erased(number)
    assert not was_erased(bystander.member_number)
    assert Member.objects.get(pk=bystander.pk).member_number == bystander.member_number
