"""Issue 16, requirement 2: letters in the member's language. A Chinese e-mail is acknowledged in
Chinese and an English one in English; a member's preference wins over the mail's language; the
agent's change of language is used by the next letter; dates follow the letter's language."""

import base64
from email.message import EmailMessage
from email.mime.text import MIMEText
from email.utils import formataddr
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from requests_desk import letters, lifecycle
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType
from requests_desk.models import Request
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

CHINESE_BODY = "您好，我要求删除我在贵平台的全部个人信息，并注销我的账户。谢谢！"
CHINESE_SUBJECT = "申请删除个人信息"


def gb2312_eml(directory: Path, name: str, *, sender=("王芳", "wang.fang@mail.example"),
               message_id="<cn1@mail.example>") -> Path:
    """A mail as Chinese clients send it: body and subject in GB2312, base64."""
    part = MIMEText(CHINESE_BODY, "plain", "gb2312")
    part["From"] = formataddr(sender, charset="gb2312")
    part["To"] = "privacy@exchange.example"
    part["Subject"] = f"=?gb2312?B?{base64.b64encode(CHINESE_SUBJECT.encode('gb2312')).decode()}?="
    part["Date"] = "Tue, 03 Mar 2026 10:00:00 +0800"
    part["Message-ID"] = message_id
    raw = part.as_bytes()
    assert CHINESE_BODY.encode("utf-8") not in raw and b"gb2312" in raw  # really GB2312 on the wire
    path = directory / name
    path.write_bytes(raw)
    return path


def utf8_eml(directory: Path, name: str, *, body: str, subject: str, sender="Li Wei <li.wei@mail.example>",
             message_id="<m1@mail.example>") -> Path:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "privacy@exchange.example"
    message["Subject"] = subject
    message["Date"] = "Tue, 03 Mar 2026 10:00:00 +0800"
    message["Message-ID"] = message_id
    message.set_content(body)
    path = directory / name
    path.write_bytes(bytes(message))
    return path


def ingest(directory: Path) -> None:
    call_command("ingest_mail", str(directory), "--no-progress", "--acknowledge", stdout=StringIO())


def test_pp34_pp14_a_gb2312_chinese_mail_without_a_member_is_acknowledged_in_chinese(tmp_path, settings):
    settings.DEFAULT_LETTER_LANGUAGE = "en"
    gb2312_eml(tmp_path, "cn.eml")
    ingest(tmp_path)
    request = Request.objects.get()
    assert request.member is None and request.language == "zh-hans"
    [ack] = mail.outbox
    assert ack.subject == f"[{request.reference}] 我们已收到您的请求"
    assert "我们已于 2026年3月3日 收到您提交的" in ack.body
    assert "Dear" not in ack.body and "We have received" not in ack.body
    assert "隐私团队" in ack.body  # the signature too (PP-41 addresses kept)
    assert settings.OFFICIAL_REQUESTS_EMAIL in ack.body


def test_pp34_pp14_a_utf8_chinese_mail_is_acknowledged_in_chinese_an_english_one_in_english(tmp_path, settings):
    settings.DEFAULT_LETTER_LANGUAGE = "en"
    utf8_eml(tmp_path, "cn.eml", body=CHINESE_BODY, subject=CHINESE_SUBJECT, message_id="<cn@mail.example>")
    utf8_eml(tmp_path, "en.eml", body="Hello, please delete all my personal data.", subject="Delete my data",
             sender="Ann Lee <ann@mail.example>", message_id="<en@mail.example>")
    ingest(tmp_path)
    by_address = {r.requester_email: r for r in Request.objects.all()}  # encrypted: compared in Python
    chinese, english = by_address["li.wei@mail.example"], by_address["ann@mail.example"]
    assert (chinese.language, english.language) == ("zh-hans", "en")
    by_reference = {m.subject.split("]")[0].strip("["): m for m in mail.outbox}
    assert "我们已收到您的请求" in by_reference[chinese.reference].subject
    assert "尊敬的Li Wei：" in by_reference[chinese.reference].body
    assert "We have received your request" in by_reference[english.reference].subject
    assert "Dear Ann Lee," in by_reference[english.reference].body
    assert "2026-03-03" in by_reference[english.reference].body


def test_an_english_mail_quoting_a_chinese_name_stays_english(tmp_path):
    utf8_eml(tmp_path, "en.eml", body="Hello, I am Wang Fang (王芳). Please send me a copy of my data.",
             subject="Copy of my data")
    ingest(tmp_path)
    assert Request.objects.get().language == "en"


def test_without_a_member_preference_or_a_language_in_the_message_the_default_setting_decides(settings):
    settings.DEFAULT_LETTER_LANGUAGE = "zh-hans"
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.PHONE, requester_email="x@mail.example")
    assert request.language == "zh-hans"
    settings.DEFAULT_LETTER_LANGUAGE = "en"
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.PHONE, requester_email="x@mail.example")
    assert request.language == "en"


def test_pp14_a_member_who_prefers_chinese_gets_chinese_letters_even_when_writing_in_english(tmp_path):
    MemberFactory(email="ann@mail.example", preferred_language="zh-hans")
    utf8_eml(tmp_path, "en.eml", body="Hello, please delete all my personal data.", subject="Delete my data",
             sender="Ann Lee <ann@mail.example>")
    ingest(tmp_path)
    request = Request.objects.get()
    assert request.member is not None and request.language == "zh-hans"
    assert "我们已收到您的请求" in mail.outbox[0].subject


def test_a_member_who_prefers_english_gets_english_letters_for_a_chinese_mail(tmp_path):
    MemberFactory(email="wang.fang@mail.example", preferred_language="en")
    gb2312_eml(tmp_path, "cn.eml")
    ingest(tmp_path)
    request = Request.objects.get()
    assert request.member is not None, "the sender is matched to the member by blind index"
    assert request.language == "en"
    assert "We have received your request" in mail.outbox[0].subject


def test_the_agents_change_of_language_is_used_by_the_next_letter_and_kept_in_history(client, agent):
    request = lifecycle.request_create(type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL, requester_email="ann@mail.example",
                                       description="Hello, a question about my account.", acknowledge=True,
                                       user=agent)
    assert request.language == "en" and "We have received" in mail.outbox[0].subject
    client.force_login(agent)
    page = client.get(reverse("requests_desk:request_detail", args=[request.reference]))
    assert b'id="letter-language"' in page.content
    response = client.post(reverse("requests_desk:letter_language", args=[request.reference]),
                           {"language": "zh-hans"}, follow=True)
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.language == "zh-hans"
    latest = request.history.order_by("-history_date").first()
    assert (latest.language, latest.history_user, latest.history_change_reason) == (
        "zh-hans", agent, "letter language: zh-hans")
    client.post(reverse("requests_desk:reply", args=[request.reference]), {"template": "verification_request"})
    assert mail.outbox[-1].subject == f"[{request.reference}] 请确认您的身份"
    assert "请回复本邮件" in mail.outbox[-1].body


def test_an_unknown_language_is_refused_with_the_field_named(agent):
    request = lifecycle.request_create(type=RequestType.ENQUIRY, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL)
    with pytest.raises(ValidationError) as caught:
        lifecycle.request_language_set(request=request, language="fr", user=agent)
    assert "language" in caught.value.message_dict


def test_letters_use_the_requests_language_for_dates_and_labels(settings):
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL, language="zh-hans")
    rendered = letters.letter_render(request=request, template="acknowledgement")
    assert rendered.language == "zh-hans"
    due = timezone.localtime(request.due_at).date()
    assert f"{due.year}年{due.month}月{due.day}日" in rendered.text
    assert f"{due:%Y-%m-%d}" not in rendered.text


def test_pp31_a_recorded_fee_is_notified_in_the_requests_language_with_amount_and_reason(compliance_officer):
    request = lifecycle.request_create(type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL, requester_email="li.wei@mail.example",
                                       description="请提供我的全部个人信息副本。这是本季度第三次申请。")
    assert request.language == "zh-hans"
    lifecycle.request_fee_record(request=request, amount="25.50", reason="本季度第三次提出相同请求",
                                 user=compliance_officer)
    [notice] = mail.outbox
    assert notice.subject == f"[{request.reference}] 关于您请求的收费通知"
    assert "25.50 CNY" in notice.body and "本季度第三次提出相同请求" in notice.body
    assert request.messages.get().template == "fee_notice"


def test_pp29_a_chinese_members_deletion_confirmation_is_in_chinese(agent, compliance_officer, supervisor):
    member = MemberFactory(preferred_language="zh-hans")
    request = lifecycle.request_create(type=RequestType.DELETION, requester_kind=RequesterKind.MEMBER,
                                       channel=IntakeChannel.EMAIL, member=member,
                                       requester_email="ann@mail.example", description="Please delete my data.")
    assert request.language == "zh-hans"
    rendered = letters.letter_render(request=request, template="deletion", extra={"kept": []})
    assert "我们已从我们的系统中删除您的个人信息" in rendered.text and "我们未保留任何信息" in rendered.text
    assert rendered.subject == f"[{request.reference}] 您的请求已处理完毕"
