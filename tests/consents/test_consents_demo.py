"""Issue 4, requirement 10: ``seed_demo`` records consent histories, a campaign part-way through and
the disclosure register — idempotently, in bulk, with a progress bar."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import Count
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member
from consents import demo
from consents.choices import ActorKind, ConsentAction, DisclosureStatus, PurposeKind
from consents.drift import consent_state_drift
from consents.models import (
    ConsentEvent,
    Disclosure,
    Guardian,
    PolicyVersion,
    ProcessingOnGround,
    Purpose,
    Recipient,
    ReconsentNotice,
)
from consents.selectors import may_process

pytestmark = pytest.mark.django_db

MEMBERS = 120  # indexes 13, 63, 113 are aged 13; 16, 66, 116 are aged 16 (accounts.members.seeding.plan.MINOR_AGES)


def seed(**kwargs) -> str:
    out, err = StringIO(), StringIO()
    call_command("seed_demo", members=MEMBERS, stdout=out, stderr=err, **kwargs)
    return out.getvalue() + err.getvalue()


@pytest.fixture
def seeded(settings):
    settings.DEMO_DATA_ALLOWED = True
    return seed(no_progress=True)


def snapshot() -> dict:
    return {
        "events": ConsentEvent.objects.count(),
        "guardians": Guardian.objects.count(),
        "notices": ReconsentNotice.objects.count(),
        "notified": ReconsentNotice.objects.filter(notified_at__isnull=False).count(),
        "accepted": ReconsentNotice.objects.filter(accepted_at__isnull=False).count(),
        "recipients": Recipient.objects.count(),
        "disclosures": Disclosure.objects.count(),
        "grounds": ProcessingOnGround.objects.count(),
        "versions": PolicyVersion.objects.count(),
    }


def accounts_demo_members():
    """The members of accounts' demo step (``M…``); later apps' steps add their own after ours ran."""
    return Member.objects.filter(member_number__startswith="M")


def ages() -> dict[int, int]:
    today = timezone.localdate()
    return {m.pk: m.age_on(today) for m in accounts_demo_members() if m.date_of_birth}


def test_pp04_active_members_aged_14_or_more_have_basic_and_some_additional_grants(seeded):
    member_ages = ages()
    basic = set(Purpose.objects.filter(kind=PurposeKind.BASIC).values_list("pk", flat=True))
    active = accounts_demo_members().filter(status__in=(MemberStatus.ACTIVE, MemberStatus.CANCELLATION_REQUESTED))
    with_history = 0
    for member in active:
        if member_ages.get(member.pk, 99) < 14:
            continue
        granted = set(member.consent_events.filter(action=ConsentAction.GRANT).values_list("purpose_id", flat=True))
        assert basic <= granted, member.member_number
        with_history += 1
    assert with_history > 90
    additional = ConsentEvent.objects.filter(purpose__kind=PurposeKind.ADDITIONAL, action=ConsentAction.GRANT)
    assert additional.values("member").distinct().count() > 50
    assert ConsentEvent.objects.filter(action=ConsentAction.WITHDRAW).exists()
    assert ConsentEvent.objects.filter(actor_kind=ActorKind.STAFF).exists() or ConsentEvent.objects.filter(
        channel="sms").exists()


def test_pp03_children_under_14_have_no_grants(seeded):
    children = [pk for pk, age in ages().items() if age < 14]
    assert len(children) == 3
    assert not ConsentEvent.objects.filter(member_id__in=children).exists()


def test_pp38_members_aged_14_to_17_have_a_verified_guardian_and_guardian_grants(seeded):
    minors = [pk for pk, age in ages().items() if 14 <= age < 18]
    active_minors = list(
        Member.objects.filter(pk__in=minors, status__in=(MemberStatus.ACTIVE, MemberStatus.CANCELLATION_REQUESTED))
    )
    assert active_minors
    for minor in active_minors:
        guardian = Guardian.objects.get(member=minor)
        assert guardian.verified_at is not None and guardian.verified_by is not None
        events = minor.consent_events.all()
        own = set(events.filter(actor_kind=ActorKind.MEMBER, action=ConsentAction.GRANT,
                                purpose__kind=PurposeKind.ADDITIONAL).values_list("purpose_id", flat=True))
        by_guardian = set(events.filter(actor_kind=ActorKind.GUARDIAN).values_list("purpose_id", flat=True))
        assert own == by_guardian
        for purpose_id in own:
            withdrawn = minor.consent_events.filter(purpose_id=purpose_id, action=ConsentAction.WITHDRAW).exists()
            assert may_process(member=minor, purpose=Purpose.objects.get(pk=purpose_id)).allowed is not withdrawn


def test_the_ledger_and_the_state_table_agree_after_seeding(seeded):
    report = consent_state_drift()
    assert report.pairs > 0
    assert report.drift_count == 0


def test_pp39_a_major_version_has_a_campaign_part_way_through(seeded):
    version = PolicyVersion.objects.get(version=demo.DEMO_MAJOR_VERSION)
    assert version.is_major and version.is_published
    counts = ReconsentNotice.objects.filter(policy_version=version).aggregate(
        total=Count("pk"), notified=Count("notified_at"), seen=Count("seen_at"), accepted=Count("accepted_at")
    )
    assert counts["total"] == accounts_demo_members().filter(status=MemberStatus.ACTIVE).count()
    assert counts["total"] > counts["notified"] > counts["seen"] > counts["accepted"] > 0


def test_pp21_recipients_and_disclosures_in_every_state(seeded):
    assert Recipient.objects.count() == 3
    partner = Recipient.objects.get(name="Card Issuing Partner Ltd")
    expired = Recipient.objects.get(name="Legacy Analytics Co")
    today = timezone.localdate()
    assert partner.has_valid_agreement_on(today) and not expired.has_valid_agreement_on(today)
    statuses = dict(Disclosure.objects.values_list("recipient__name", "status"))
    assert statuses == {
        "Card Issuing Partner Ltd": DisclosureStatus.APPROVED,
        "Financial Supervisory Authority": DisclosureStatus.AWAITING_APPROVAL,
        "Legacy Analytics Co": DisclosureStatus.REJECTED,
    }
    approved = Disclosure.objects.get(status=DisclosureStatus.APPROVED)
    assert approved.approved_by_id != approved.prepared_by_id
    assert approved.member_count == approved.member_links.count() > 0


def test_pp17_the_demo_records_processing_on_legal_grounds(seeded):
    """PP-17, PP-24: one member's record approved and cited by the authority's disclosure; the
    futures line's record awaits a supervisor; may_process answers on the approved one."""
    notice = ProcessingOnGround.objects.get(reference=demo.DEMO_NOTICE)
    assert notice.approved_by_id is not None and notice.approved_by_id != notice.recorded_by_id
    assert may_process(member=notice.member, purpose=notice.purpose).code == "ground:consent-law-enforcement"
    assert list(Disclosure.objects.filter(ground_records=notice).values_list("status", flat=True)) == [
        DisclosureStatus.AWAITING_APPROVAL
    ]
    agreement = ProcessingOnGround.objects.get(reference=demo.DEMO_AGREEMENT)
    assert agreement.product_line.code == "futures" and agreement.approved_at is None


def test_seeding_again_duplicates_nothing(settings, seeded):
    # The second run also gives histories to members that later apps' demo steps added after ours.
    seed(no_progress=True)
    before = snapshot()
    seed(no_progress=True)
    assert snapshot() == before
    basic_twice = (
        ConsentEvent.objects.filter(purpose__kind=PurposeKind.BASIC)
        .values("member", "purpose").annotate(n=Count("pk")).filter(n__gt=1)
    )
    assert not basic_twice.exists()
    assert not Guardian.objects.values("member").annotate(n=Count("pk")).filter(n__gt=1).exists()


def test_the_consents_step_draws_a_progress_bar(settings):
    settings.DEMO_DATA_ALLOWED = True
    output = seed()
    candidates = accounts_demo_members().filter(
        status__in=(MemberStatus.ACTIVE, MemberStatus.CANCELLATION_REQUESTED)
    ).count()
    assert re.search(rf"consents: 100%\|[^|]*\| {candidates}/{candidates} ", output)
    assert "consent events: " in output


def test_histories_are_recorded_in_bulk(settings):
    """Far fewer queries than members: the step's queries depend on chunks (and, on SQLite, on the
    999-parameter limit that splits each bulk insert), never one query per member or per event."""
    from accounts.demo import seed_staff
    from accounts.members.seeding.seed import demo_members_seed

    seed_staff()
    demo_members_seed(count=MEMBERS, files=False)
    officer = demo._staff(demo.OFFICER_EMAIL)
    demo.launch_version_date_back()
    with CaptureQueriesContext(connection) as captured:
        totals = demo.consent_histories_seed(seed=demo.DEFAULT_SEED, now=timezone.now(), officer=officer)
    assert totals["members with a history"] > MEMBERS * 0.75
    assert totals["consent events"] > totals["members with a history"] * 5
    assert len(captured) <= 40, len(captured)
