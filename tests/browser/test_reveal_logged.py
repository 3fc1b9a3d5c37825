"""Revealing a member's ID number in the admin, in a real browser (issue 7, requirement 5c; PP-25, PP-26)."""

from __future__ import annotations

import re

import pytest

from accounts.models import SensitiveAccessLog
from tests.factories import TEST_PASSWORD, IdentityDocumentFactory, MemberFactory
from tests.otp import device_for

# Second factor enforced: officers and supervisors sign in with their authenticator code (issue 7).
pytestmark = [
    pytest.mark.browser,
    pytest.mark.otp,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REASON = "Ticket 5123: the member disputes the ID number on file"


def test_pp25_officer_reveals_an_id_number_with_a_reason_and_sees_the_access_logged(browser, compliance_officer):
    member = MemberFactory()
    document = IdentityDocumentFactory(member=member)
    id_number = document.number

    device_for(compliance_officer)

    officer = browser.person("officer")
    page = officer.page
    # The password alone does not let a compliance officer in: the authenticator code is required.
    officer.goto("/admin/accounts/member/")
    page.fill("input[name=username]", compliance_officer.get_username())
    page.fill("input[name=password]", TEST_PASSWORD)
    page.locator("form [type=submit]").first.click()
    page.wait_for_load_state()
    assert "/admin/login/" in page.url
    shown = " ".join(page.locator(".errornote, .errorlist").all_inner_texts())
    assert "Enter the 6-digit code from your authenticator app." in shown
    officer.shot("password-alone-refused")

    officer.login(compliance_officer, next_path="/admin/accounts/member/")
    page.locator("#searchbar").fill(member.member_number)
    page.locator("#changelist-search [type=submit]").click()
    page.wait_for_load_state()
    officer.shot("member-found")
    page.locator("#result_list").get_by_role("link", name=member.member_number).click()
    page.wait_for_url(re.compile(rf"/admin/accounts/member/{member.pk}/change/"))
    assert id_number not in page.content()  # masked on the member's page (PP-25)
    officer.shot("member-page-masked")

    inline = page.locator("#documents-group")
    inline.locator("a.reveal-link").first.click()
    page.wait_for_url(re.compile(rf"/admin/accounts/reveal/accounts.identitydocument/{document.pk}/number/"))
    assert id_number not in page.content()
    assert member.member_number in page.locator("#content-main").inner_text()
    officer.shot("reveal-asks-why")

    reason = page.get_by_label("Reason")
    reason.fill("curious")  # too short: the browser refuses to send it; nothing shown or logged
    page.get_by_role("button", name="Reveal (logged)").click()
    assert reason.evaluate("field => !field.checkValidity() && field.validity.tooShort")
    assert page.locator("#revealed-value").count() == 0
    assert id_number not in page.content()
    assert not SensitiveAccessLog.objects.exists()
    officer.shot("reason-too-short")

    reason.fill(REASON)
    page.get_by_role("button", name="Reveal (logged)").click()
    page.wait_for_load_state()
    assert page.locator("#revealed-value").inner_text() == id_number
    assert id_number not in page.url  # shown in the page body only, never in an address
    officer.shot("revealed")

    officer.goto("/admin/accounts/sensitiveaccesslog/")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert member.member_number in row and "number" in row and "accounts.IdentityDocument" in row
    assert id_number not in page.content()  # the log holds who, what and why, never the value
    officer.shot("access-log")
    rows.first.locator("th a, td a").first.click()
    page.wait_for_load_state()
    assert REASON in page.locator("#content-main").inner_text()
    officer.shot("access-log-entry")

    entry = SensitiveAccessLog.objects.get()
    assert (entry.staff_user, entry.action, entry.field_name) == (
        compliance_officer, SensitiveAccessLog.Action.REVEAL, "number")
    assert (entry.member_number, entry.reason) == (member.member_number, REASON)
