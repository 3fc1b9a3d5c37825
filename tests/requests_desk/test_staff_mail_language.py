"""Issue 16, requirement 1 (staff e-mails): reminder digests, escalations and review reminders go out
in each staff recipient's language (``StaffUser.language``, else ``LANGUAGE_CODE``)."""

import datetime

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import StaffUser
from requests_desk import reminders
from retention.choices import ReviewOutcome
from retention.jobs.reviews import send_review_reminders
from retention.models import ProcessingReview
from tests.requests_desk.test_reminders import digests_to, due_in

pytestmark = pytest.mark.django_db


def prefer(monkeypatch, user, language: str) -> None:
    """The staff user's language: the field (helper "desk", accounts 0013) once merged, else an attribute."""
    if any(f.name == "language" for f in StaffUser._meta.get_fields()):
        StaffUser.objects.filter(pk=user.pk).update(language=language)
    else:
        monkeypatch.setattr(StaffUser, "language", property(lambda u: language if u.pk == user.pk else ""),
                            raising=False)


def test_pp34_an_agent_who_works_in_chinese_gets_the_digest_and_escalation_in_chinese(
        agent, supervisor, settings, monkeypatch):
    settings.REQUEST_REMINDER_DAYS = [5, 2, 0]
    prefer(monkeypatch, agent, "zh-hans")
    tomorrow = due_in(1, assignee=agent)
    late = due_in(-2)
    reminders.send_request_reminders()
    [chinese] = [m for m in mail.outbox if m.to == [agent.email]]
    assert chinese.subject == "请求处理台：需要您关注的处理期限"
    assert "即将到期（已分配给您）：" in chinese.body and "1 天后到期" in chinese.body
    assert tomorrow.reference in chinese.body and "Due soon" not in chinese.body and "Hello" not in chinese.body
    # The supervisor chose nothing: English (LANGUAGE_CODE), with the escalation.
    [english] = digests_to(supervisor)
    assert "OVERDUE (escalated to supervisors):" in english and late.reference in english
    assert "2 days overdue" in english and "unassigned" in english


def test_pp27_review_reminders_follow_each_recipients_language(compliance_officer, supervisor, settings,
                                                                monkeypatch):
    prefer(monkeypatch, compliance_officer, "zh-hans")
    today = timezone.localdate()
    ProcessingReview.objects.create(processing="Marketing profiling", reviewer=compliance_officer,
                                    reviewed_on=today - datetime.timedelta(days=364), outcome=ReviewOutcome.values[0],
                                    next_due=today + datetime.timedelta(days=1))
    send_review_reminders(today=today)
    by_address = {m.to[0]: m for m in mail.outbox}
    assert by_address[compliance_officer.email].subject == "即将到期的处理活动审查和安全影响评估"
    assert "请在后台记录新的审查或评估" in by_address[compliance_officer.email].body
    assert "Record the new review" in by_address[supervisor.email].body

