"""The desk in Simplified Chinese, in a real browser (issue 16, requirement 1; PP-14, PP-35, PP-36).

An agent signs in with an English browser, presses the language switch, and works the queue and a
request page in Chinese; the choice is stored, so the next page is Chinese too. Screenshots of the
queue and the request page in zh-Hans are kept in .browser-screenshots/.
"""

from __future__ import annotations

import pytest

from consents.models import LegalGround
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType
from tests.factories import MemberFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_agent_switches_the_desk_to_chinese_and_works_in_it(browser, agent):
    member = MemberFactory()
    waiting = lifecycle.request_create(
        type=RequestType.DELETION, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=member,
        requester_name="王芳", requester_email="wang.fang@mail.example", priority=Priority.HIGH,
        subject="请删除我的个人信息",
    )
    refused = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.WEB, member=member)
    workflow.transition(request=refused, name="start", user=None)
    workflow.transition(request=refused, name="refuse", user=None, note="涉及商业秘密",
                        grounds=[LegalGround.objects.get(code="cannot-trade-secrets")])

    desk = browser.person("agent")
    desk.login(agent, next_path="/desk/")
    page = desk.page
    assert page.locator("h1").inner_text() == "Request queue"
    page.get_by_role("button", name="简体中文").click()
    page.wait_for_load_state()
    assert page.locator("h1").inner_text() == "请求队列"
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert "删除" in page.locator("table.queue tbody").inner_text()
    desk.shot("queue-zh-hans")

    page.get_by_role("button", name="领取下一个").click()
    page.wait_for_url(f"**/desk/r/{waiting.reference}/")
    assert f"{waiting.reference} 现已分配给您。" in desk.messages()
    assert "记录身份核验之前" in page.locator("section.gate").inner_text()
    desk.shot("request-zh-hans")

    desk.goto(f"/desk/r/{refused.reference}/")
    summary = page.locator("section.summary").inner_text()
    assert "已拒绝" in summary and "涉及商业秘密的" in summary
    desk.shot("refused-request-zh-hans")
    agent.refresh_from_db()
    assert agent.language == "zh-hans"
