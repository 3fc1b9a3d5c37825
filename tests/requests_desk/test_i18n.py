"""The desk speaks the staff user's language (issue 16, requirements 1 and 3).

An agent whose browser asks for Chinese gets the desk in Chinese; a staff user who chose English gets
English whatever the browser says; the language switch changes the page and stores the preference;
request types, states and the refusal grounds (PP-35, PP-36) read in the policy's Chinese wording;
deadlines are formatted for the active language.
"""

import datetime

import pytest
from django.urls import reverse
from django.utils import translation

from consents.choices import GroundUse
from consents.legal_grounds import CATALOGUE
from consents.models import LegalGround
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType
from requests_desk.refusal_grounds import REFUSAL_WORDINGS, ground_wording
from requests_desk.states import Status
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
QUEUE = reverse("requests_desk:queue")


def create(type_=RequestType.ACCESS, **kwargs):
    return lifecycle.request_create(type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL,
                                    received_at=datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.UTC), **kwargs)


def test_pp14_a_chinese_browser_gets_the_desk_in_chinese(client, agent):
    create()
    client.force_login(agent)
    html = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "请求队列" in html and "领取下一个" in html and "获取本人数据副本" in html and "新建" in html
    assert "Request queue" not in html and "Take next" not in html
    assert "2026年3月2日" in html  # the received date, formatted for Chinese


def test_an_english_browser_gets_english(client, agent):
    create()
    client.force_login(agent)
    html = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.9").content.decode()
    assert '<html lang="en">' in html and "Request queue" in html and "Access (copy of my data)" in html
    assert "2026-03-02" in html


def test_a_staff_user_who_chose_english_gets_english_whatever_the_browser_says(client, agent):
    agent.language = "en"
    agent.save()
    client.force_login(agent)
    html = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "Request queue" in html and "请求队列" not in html


def test_a_staff_user_who_chose_chinese_gets_chinese_in_an_english_browser(client, agent):
    agent.language = "zh-hans"
    agent.save()
    client.force_login(agent)
    assert "请求队列" in client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_language_switch_changes_the_page_and_stores_the_preference(client, agent):
    client.force_login(agent)
    page = client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'action="/i18n/setlang/"' in page and 'name="language" value="zh-hans"' in page
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": QUEUE},
                           HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 302 and response["Location"] == QUEUE
    agent.refresh_from_db()
    assert agent.language == "zh-hans"
    # Another browser, another cookie jar: the preference follows the staff user.
    client.cookies.clear()
    client.force_login(agent)
    assert "请求队列" in client.get(QUEUE, HTTP_ACCEPT_LANGUAGE="en").content.decode()


def test_the_switch_refuses_a_language_we_do_not_offer(client, agent):
    client.force_login(agent)
    client.post(reverse("set_language"), {"language": "fr", "next": QUEUE})
    agent.refresh_from_db()
    assert agent.language == ""


def test_the_admin_has_the_language_switch(client, superuser):
    client.force_login(superuser)
    html = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'action="/i18n/setlang/"' in html and 'value="en"' in html
    assert "隐私合规后台" in html and "双因素登录" in html
    assert "站点管理" in html or "首页" in html or "注销" in html  # Django's own strings, from Django's catalogue


def test_pp35_pp36_the_refusal_grounds_read_in_the_policys_chinese_wording(client, compliance_officer):
    """The list of refusal grounds matches the catalogue, and each ground has its Chinese wording."""
    refusal = {wording for _code, use, _s, _p, wording in CATALOGUE
               if use in (GroundUse.REQUEST_REJECTION, GroundUse.CANNOT_RESPOND)}
    assert set(REFUSAL_WORDINGS) == refusal
    with translation.override("zh-hans"):
        for ground in LegalGround.objects.filter(use__in=[GroundUse.REQUEST_REJECTION, GroundUse.CANNOT_RESPOND]):
            assert ground_wording(ground) != ground.wording, ground.code
    member = MemberFactory()
    request = create(RequestType.DELETION, member=member)
    workflow.transition(request=request, name="start", user=None)
    ground = LegalGround.objects.get(code="cannot-trade-secrets")
    workflow.transition(request=request, name="refuse", user=None, note="secret", grounds=[ground])
    client.force_login(compliance_officer)
    html = client.get(reverse("requests_desk:request_detail", args=[request.reference]),
                      HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "涉及商业秘密的" in html and "已拒绝" in html and "拒绝理由" in html


def test_request_types_and_states_have_chinese_labels():
    """Every request type and state reads in Chinese (no label left as its English text)."""
    with translation.override("en"):
        english = {choice: str(choice.label) for choice in (*RequestType, *Status)}
    with translation.override("zh-hans"):
        untranslated = [choice for choice in english if str(choice.label) == english[choice]]
        assert str(RequestType.ACCOUNT_CANCELLATION.label) == "注销账户"
        assert str(Status.AWAITING_IDENTITY.label) == "待身份核验"
    assert untranslated == []


def test_messages_and_errors_are_in_the_staff_users_language(client, agent):
    agent.language = "zh-hans"
    agent.save()
    client.force_login(agent)
    response = client.post(reverse("requests_desk:take_next"), follow=True)
    assert "没有待分配的未结请求。" in response.content.decode()
