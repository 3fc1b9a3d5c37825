"""Demo data of the request desk (issue 6, requirement 11): every type in every reachable state, reached
through the state machine, with messages, some due soon and some overdue; idempotent."""

from __future__ import annotations

import datetime
import itertools

import pytest
from django.utils import timezone

from accounts.demo import seed_staff
from accounts.models import Member
from requests_desk import demo, selectors, workflow
from requests_desk.choices import MessageDirection, RequestType
from requests_desk.models import AccessPackage, Message, Request, Transition
from requests_desk.states import OPEN_STATES, Status
from retention.erasure.records import was_erased
from retention.jobs.under_14 import purge_under_14
from retention.models import ErasureRecord
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(django_capture_on_commit_callbacks):
    seed_staff()
    for _ in range(12):
        MemberFactory(date_of_birth=datetime.date(1985, 3, 3))
    with django_capture_on_commit_callbacks(execute=True):
        counts = demo.seed_requests()
    return counts


def test_every_type_is_in_every_reachable_state(seeded):
    specs = demo.demo_requests()
    assert seeded["requests created"] == len(specs) + len(demo.CHINESE_MEMBERS)
    found = dict(Request.objects.filter(reference__startswith="DSR-DEMO").values_list("reference", "status"))
    for spec in specs:
        assert found[spec.reference] == spec.state, spec
    pairs = set(Request.objects.values_list("type", "status"))
    for type_ in RequestType.values:
        for state in Status.values:
            if state == Status.AWAITING_APPROVAL and type_ not in workflow.NEEDS_APPROVAL:
                continue
            assert (type_, state) in pairs, (type_, state)


def test_states_were_reached_through_the_state_machine(seeded):
    for request in Request.objects.exclude(status=Status.NEW).prefetch_related("transitions"):
        steps = sorted(request.transitions.all(), key=lambda t: (t.at, t.pk))
        assert steps, request.reference
        assert steps[0].from_status == Status.NEW
        for before, after in itertools.pairwise(steps):
            assert after.from_status == before.to_status
        assert steps[-1].to_status == request.status
        assert all(t.actor_id for t in steps)
    assert not Transition.objects.filter(request__status=Status.NEW).exclude(name="extend").exists()


def test_the_queue_and_dashboard_have_real_work(seeded):
    now = timezone.now()
    open_ = Request.objects.filter(status__in=list(OPEN_STATES))
    assert open_.filter(due_at__lt=now).count() >= 3  # overdue
    assert open_.filter(due_at__gte=now, due_at__lt=now + datetime.timedelta(days=3)).count() >= 3  # due soon
    assert open_.filter(assignee__isnull=True).exists() and open_.filter(assignee__isnull=False).exists()
    assert Message.objects.filter(direction=MessageDirection.INBOUND).count() >= len(demo.demo_requests())
    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).exists()
    board = selectors.dashboard(now=now)
    assert board.open and board.due_soon and board.overdue
    assert board.oldest_open


def test_fulfilled_requests_did_their_work(seeded):
    assert AccessPackage.objects.filter(request__reference__startswith="DSR-DEMO").exists()
    deletion = Request.objects.get(type=RequestType.DELETION, status=Status.FULFILLED)
    assert ErasureRecord.objects.filter(request_reference=deletion.reference).exists()
    assert not Member.objects.filter(member_number="R910000001").exists()  # now a tombstone
    assert Member.objects.get(member_number="R910000002").status == "cancelled"
    assert Member.objects.get(member_number="R910000004").phone == "+86 139 5555 0100"
    child = Member.objects.get(member_number="R910000003")
    purge_under_14()
    assert was_erased(child.member_number)


def test_seeding_twice_creates_nothing_more(seeded, django_capture_on_commit_callbacks):
    before = (Request.objects.count(), Message.objects.count(), Transition.objects.count(), Member.objects.count())
    with django_capture_on_commit_callbacks(execute=True):
        again = demo.seed_requests()
    assert again["requests created"] == 0
    assert (Request.objects.count(), Message.objects.count(), Transition.objects.count(),
            Member.objects.count()) == before


def test_without_members_of_the_accounts_step_the_demo_makes_its_own(django_capture_on_commit_callbacks):
    seed_staff()
    with django_capture_on_commit_callbacks(execute=True):
        counts = demo.seed_requests()
    assert counts["requests created"] == len(demo.demo_requests()) + len(demo.CHINESE_MEMBERS)


def test_issue16_the_demo_shows_chinese_requests_and_their_chinese_letters_beside_english_ones(seeded):
    deletion = Request.objects.get(reference=f"{demo.REFERENCE_PREFIX}9001")
    correction = Request.objects.get(reference=f"{demo.REFERENCE_PREFIX}9002")
    assert (deletion.type, deletion.status, deletion.language) == (RequestType.DELETION, Status.AWAITING_APPROVAL,
                                                                   "zh-hans")
    assert (correction.type, correction.status, correction.language) == (RequestType.CORRECTION, Status.FULFILLED,
                                                                         "zh-hans")
    assert deletion.member.local_name == "王芳" and deletion.member.preferred_language == "zh-hans"
    inbound = deletion.messages.get(direction=MessageDirection.INBOUND)
    assert "请删除" in inbound.body  # decoded from the GB2312 mail
    sent = {m.template: m for m in Message.objects.filter(direction=MessageDirection.OUTBOUND,
                                                          request__in=[deletion, correction])}
    assert "我们已收到您的请求" in sent["acknowledgement"].subject
    assert "请回复本邮件" in sent["verification_request"].body
    assert "我们已更正您的以下信息" in sent["correction"].body
    english = Message.objects.filter(direction=MessageDirection.OUTBOUND, template="acknowledgement",
                                     request__reference__lt=f"{demo.REFERENCE_PREFIX}9000").first()
    assert english is not None and "We have received your request" in english.subject
