"""Issue 4, requirement 9: the consents admin.

The ledger is read-only for everyone; publishing and disclosure decisions go through the services;
every page runs the same number of queries with 3 rows as with 30.
"""

import csv
import datetime
import io

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Member
from accounts.staff import roles
from consents.campaigns import policy_version_publish, reconsent_chunk_send, reconsent_notice_accept
from consents.choices import (
    ActorKind,
    Channel,
    ConsentAction,
    DisclosureBasis,
    DisclosureKind,
    DisclosureStatus,
    RecipientKind,
    SmsOutcome,
)
from consents.disclosures import disclosure_prepare
from consents.ledger import consent_record
from consents.legal_grounds import INITIAL_POLICY_VERSION
from consents.models import (
    ConsentEvent,
    ConsentState,
    Disclosure,
    Guardian,
    LegalGround,
    PolicyVersion,
    Purpose,
    Recipient,
    ReconsentNotice,
    SmsReply,
)
from tests.factories import MemberFactory, StaffUserFactory

pytestmark = pytest.mark.django_db

BOUND = 25  # every page below stays under this, and runs as many queries at 30 rows as at 3


# --- Builders --------------------------------------------------------------------------------------
def initial_version() -> PolicyVersion:
    return PolicyVersion.objects.get(version=INITIAL_POLICY_VERSION)


def grant(member, code="marketing-sms", *, action=ConsentAction.GRANT, at=None, channel=Channel.WEB, **extra):
    return consent_record(
        member=member, purpose=code, action=action, policy_version=initial_version(), channel=channel,
        actor_kind=extra.pop("actor_kind", ActorKind.MEMBER), evidence=extra.pop("evidence", "form #1"),
        occurred_at=at or timezone.now(), **extra,
    )


def make_events(count: int) -> list[ConsentEvent]:
    return [grant(MemberFactory()) for _ in range(count)]


def make_versions(count: int, officer) -> list[PolicyVersion]:
    made = []
    members = MemberFactory.create_batch(2)
    for _ in range(count):
        version = PolicyVersion.objects.create(
            version=f"v{PolicyVersion.objects.count()}", text="t", summary="s", change_kinds=["rights"]
        )
        policy_version_publish(version=version, user=officer, notify=False)
        reconsent_notice_accept(version=version, member=members[0])
        made.append(version)
    return made


def make_disclosure(officer, member_count: int, *, recipient=None, description="Quarterly report",
                    kind=DisclosureKind.SHARE, basis=DisclosureBasis.LAW) -> Disclosure:
    members = MemberFactory.create_batch(member_count)
    recipient = recipient or Recipient.objects.get_or_create(name="Regulator", kind=RecipientKind.AUTHORITY)[0]
    return disclosure_prepare(
        kind=kind, recipient=recipient, basis=basis, data_categories=["identity"], description=description,
        members_queryset=Member.objects.filter(pk__in=[m.pk for m in members]), user=officer,
    )


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured)


def assert_same_queries_at_3_and_30(client, url_for, make, django_assert_max_num_queries):
    """``make(n)`` adds rows; the page's query count is the same at 3 and 30 rows, and bounded."""
    make(3)
    url = url_for()
    client.get(url)  # warm the process-wide caches (content types) so both counts compare like for like
    few = queries_for(client, url)
    make(27)
    url = url_for()
    with django_assert_max_num_queries(BOUND):
        many = queries_for(client, url)
    assert few == many, (url, few, many)


@pytest.fixture
def officer_client(client, compliance_officer):
    client.force_login(compliance_officer)
    return client


# --- Query bounds ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changelist",
    ["consentevent", "consentstate"],
)
def test_ledger_lists_run_the_same_queries_at_3_and_30_events(officer_client, changelist,
                                                             django_assert_max_num_queries):
    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse(f"admin:consents_{changelist}_changelist"), make_events,
        django_assert_max_num_queries,
    )


def test_consent_event_page_is_bounded(officer_client, django_assert_max_num_queries):
    def url():
        return reverse("admin:consents_consentevent_change", args=[ConsentEvent.objects.latest("pk").pk])

    assert_same_queries_at_3_and_30(officer_client, url, make_events, django_assert_max_num_queries)


def test_consent_state_page_is_bounded(officer_client, django_assert_max_num_queries):
    def url():
        return reverse("admin:consents_consentstate_change", args=[ConsentState.objects.latest("pk").pk])

    assert_same_queries_at_3_and_30(officer_client, url, make_events, django_assert_max_num_queries)


def test_pp39_policy_version_list_shows_progress_in_bounded_queries(officer_client, compliance_officer,
                                                                    django_assert_max_num_queries):
    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse("admin:consents_policyversion_changelist"),
        lambda n: make_versions(n, compliance_officer), django_assert_max_num_queries,
    )


def test_pp39_policy_version_page_is_bounded_whatever_the_campaign_size(officer_client, compliance_officer,
                                                                         django_assert_max_num_queries):
    version = PolicyVersion.objects.create(version="2025.9", text="t", change_kinds=["contact"])

    def make(n):
        MemberFactory.create_batch(n)

    def url():
        ReconsentNotice.objects.filter(policy_version=version).delete()
        PolicyVersion.objects.filter(pk=version.pk).update(published_at=None, effective_at=None)
        version.refresh_from_db()
        policy_version_publish(version=version, user=compliance_officer, notify=False)
        return reverse("admin:consents_policyversion_change", args=[version.pk])

    assert_same_queries_at_3_and_30(officer_client, url, make, django_assert_max_num_queries)


def test_notice_list_is_bounded(officer_client, compliance_officer, django_assert_max_num_queries):
    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse("admin:consents_reconsentnotice_changelist"),
        lambda n: make_versions(n, compliance_officer), django_assert_max_num_queries,
    )


def test_disclosure_list_is_bounded(officer_client, compliance_officer, django_assert_max_num_queries):
    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse("admin:consents_disclosure_changelist"),
        lambda n: [make_disclosure(compliance_officer, 2) for _ in range(n)], django_assert_max_num_queries,
    )


def test_pp21_disclosure_page_is_bounded_and_never_lists_the_members(officer_client, compliance_officer,
                                                                    django_assert_max_num_queries):
    few = make_disclosure(compliance_officer, 3)
    many = make_disclosure(compliance_officer, 30)
    counts = []
    officer_client.get(reverse("admin:consents_disclosure_change", args=[few.pk]))  # warm the caches
    for disclosure in (few, many):
        with django_assert_max_num_queries(BOUND):
            counts.append(queries_for(officer_client, reverse("admin:consents_disclosure_change",
                                                              args=[disclosure.pk])))
    assert counts[0] == counts[1]
    page = officer_client.get(reverse("admin:consents_disclosure_change", args=[many.pk])).content.decode()
    assert ">30 —" in page or "30 — <a" in page
    numbers = Member.objects.filter(disclosures__disclosure=many).values_list("member_number", flat=True)
    assert not any(number in page for number in numbers)  # a count and a link, never a row per member


def test_disclosed_members_list_is_bounded(officer_client, compliance_officer, django_assert_max_num_queries):
    disclosures = []

    def make(n):
        disclosures.append(make_disclosure(compliance_officer, n))

    def url():
        return reverse("admin:consents_disclosedmember_changelist") + f"?disclosure__id__exact={disclosures[-1].pk}"

    assert_same_queries_at_3_and_30(officer_client, url, make, django_assert_max_num_queries)
    page = officer_client.get(url()).content.decode()
    assert page.count('class="field-member_number"') == 27  # the members of the last disclosure


def test_guardian_pages_are_bounded(officer_client, django_assert_max_num_queries):
    def make(n):
        for _ in range(n):
            minor = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=16 * 365))
            Guardian.objects.create(member=minor, name="Parent", relation="mother", contact="p@mail.example")

    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse("admin:consents_guardian_changelist"), make, django_assert_max_num_queries
    )
    with django_assert_max_num_queries(BOUND):
        queries_for(officer_client, reverse("admin:consents_guardian_change",
                                            args=[Guardian.objects.latest("pk").pk]))


def test_sms_reply_list_is_bounded(officer_client, django_assert_max_num_queries):
    def make(n):
        for _ in range(n):
            member = MemberFactory()
            SmsReply.objects.create(message_id=f"msg-{member.pk}", phone_bidx=member.phone_bidx, member=member,
                                    keyword="TD", outcome=SmsOutcome.WITHDRAWN)

    assert_same_queries_at_3_and_30(
        officer_client, lambda: reverse("admin:consents_smsreply_changelist"), make, django_assert_max_num_queries
    )


def test_recipient_and_purpose_lists_are_bounded(officer_client, django_assert_max_num_queries):
    def make(n):
        for _ in range(n):
            count = Recipient.objects.count()
            Recipient.objects.create(name=f"Partner {count}", kind=RecipientKind.PARTNER)
            Purpose.objects.create(code=f"extra-{count}", name=f"Extra {count}", kind="additional",
                                   introduced_in=initial_version())

    for model in ("recipient", "purpose"):
        Recipient.objects.all().delete()
        Purpose.objects.filter(code__startswith="extra-").delete()
        assert_same_queries_at_3_and_30(
            officer_client, lambda model=model: reverse(f"admin:consents_{model}_changelist"), make,
            django_assert_max_num_queries,
        )


def test_legal_grounds_list_is_bounded(officer_client, django_assert_max_num_queries):
    with django_assert_max_num_queries(BOUND):
        queries_for(officer_client, reverse("admin:consents_legalground_changelist"))


def test_timeline_is_bounded_whatever_the_number_of_events(officer_client, django_assert_max_num_queries):
    member = MemberFactory()
    codes = ["marketing-sms", "profiling-push", "cookies-analytics"]
    url = reverse("admin:consents_timeline") + f"?member={member.member_number}"

    def make(n):
        for i in range(n):
            grant(member, codes[i % 3], action=ConsentAction.GRANT if i % 2 == 0 else ConsentAction.WITHDRAW)

    assert_same_queries_at_3_and_30(officer_client, lambda: url, make, django_assert_max_num_queries)


@pytest.mark.parametrize("model", ["consentevent", "consentstate", "reconsentnotice", "disclosedmember", "smsreply"])
def test_big_tables_never_count_the_whole_table(officer_client, model):
    make_events(3)
    with CaptureQueriesContext(connection) as captured:
        assert officer_client.get(reverse(f"admin:consents_{model}_changelist")).status_code == 200
    counts = [q["sql"] for q in captured.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts
    assert all("LIMIT" in sql.upper() for sql in counts), counts


@pytest.mark.parametrize("role", ["compliance_officer", "auditor"])
def test_history_pages_open_for_officers_and_auditors(client, request, role, compliance_officer):
    disclosure = make_disclosure(compliance_officer, 2)
    recipient = disclosure.recipient
    minor = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=16 * 365))
    guardian = Guardian.objects.create(member=minor, name="P", relation="mother", contact="p@mail.example")
    client.force_login(request.getfixturevalue(role))
    for model, obj in (("policyversion", initial_version()), ("purpose", Purpose.objects.first()),
                       ("recipient", recipient), ("disclosure", disclosure), ("guardian", guardian)):
        response = client.get(reverse(f"admin:consents_{model}_history", args=[obj.pk]))
        assert response.status_code == 200, model


# --- The ledger is read-only for everyone ----------------------------------------------------------
@pytest.mark.parametrize("role", ["superuser", "auditor", "compliance_officer", "supervisor"])
def test_ledger_refuses_add_change_and_delete_for_every_role(client, request, role):
    user = request.getfixturevalue(role)
    event = grant(MemberFactory())
    state = ConsentState.objects.get(last_event=event)
    client.force_login(user)
    for model, obj in (("consentevent", event), ("consentstate", state),
                       ("legalground", LegalGround.objects.first())):
        add = reverse(f"admin:consents_{model}_add")
        change = reverse(f"admin:consents_{model}_change", args=[obj.pk])
        delete = reverse(f"admin:consents_{model}_delete", args=[obj.pk])
        assert client.get(add).status_code == 403
        assert client.post(add, {"action": "withdraw"}).status_code == 403
        assert client.post(change, {"action": "withdraw", "evidence": "edited"}).status_code == 403
        assert client.post(delete, {"post": "yes"}).status_code == 403
        changelist = client.post(reverse(f"admin:consents_{model}_changelist"),
                                 {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
        assert changelist.status_code in (200, 302)
    event.refresh_from_db()
    assert event.action == ConsentAction.GRANT and event.evidence == "form #1"
    assert ConsentEvent.objects.filter(pk=event.pk).exists()
    assert ConsentState.objects.filter(pk=state.pk).exists()


def test_auditor_and_agent_can_read_the_ledger(client, auditor, agent):
    grant(MemberFactory())
    for user in (auditor, agent):
        client.force_login(user)
        assert client.get(reverse("admin:consents_consentevent_changelist")).status_code == 200


# --- Policy versions ------------------------------------------------------------------------------
def test_pp39_publish_action_calls_the_service_and_reports_the_campaign(
    officer_client, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(4)
    version = PolicyVersion.objects.create(version="2025.5", text="t", summary="s", change_kinds=["recipients"])
    with django_capture_on_commit_callbacks(execute=False):
        response = officer_client.post(
            reverse("admin:consents_policyversion_changelist"),
            {"action": "publish_selected", "_selected_action": [version.pk]}, follow=True,
        )
    version.refresh_from_db()
    assert version.is_published
    assert "4 member(s) will be notified" in response.content.decode()
    assert ReconsentNotice.objects.filter(policy_version=version).count() == 4


def test_pp39_publishing_twice_from_the_admin_shows_the_error(officer_client):
    response = officer_client.post(
        reverse("admin:consents_policyversion_changelist"),
        {"action": "publish_selected", "_selected_action": [initial_version().pk]}, follow=True,
    )
    assert "already published" in response.content.decode()


def test_pp39_agents_and_auditors_have_no_publish_action(client, agent, auditor):
    version = PolicyVersion.objects.create(version="2025.6", text="t", change_kinds=["minor"])
    for user in (agent, auditor):
        client.force_login(user)
        client.post(reverse("admin:consents_policyversion_changelist"),
                    {"action": "publish_selected", "_selected_action": [version.pk]})
        version.refresh_from_db()
        assert not version.is_published


def test_pp39_a_published_version_is_read_only(officer_client):
    version = initial_version()
    change = reverse("admin:consents_policyversion_change", args=[version.pk])
    response = officer_client.post(change, {"version": "hacked", "text": "x", "change_kinds": ["minor"]})
    assert response.status_code == 403
    version.refresh_from_db()
    assert version.version == INITIAL_POLICY_VERSION
    page = officer_client.get(change).content.decode()
    assert 'name="text"' not in page  # a view-only page: no inputs


def test_pp39_a_draft_is_edited_with_change_kind_checkboxes(officer_client):
    response = officer_client.post(reverse("admin:consents_policyversion_add"), {
        "version": "2026.1", "text": "Full text", "summary": "New contact address", "change_kinds": ["contact"],
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    version = PolicyVersion.objects.get(version="2026.1")
    assert version.change_kinds == ["contact"] and version.is_major and not version.is_published


def test_pp39_campaign_progress_is_on_the_version_page(officer_client, compliance_officer,
                                                       django_capture_on_commit_callbacks):
    members = MemberFactory.create_batch(4)
    version = PolicyVersion.objects.create(version="2025.7", text="t", change_kinds=["rights"])
    with django_capture_on_commit_callbacks(execute=False):
        policy_version_publish(version=version, user=compliance_officer)
    ids = list(ReconsentNotice.objects.order_by("pk").values_list("pk", flat=True))
    reconsent_chunk_send(version_id=version.pk, first_id=ids[0], last_id=ids[1])
    reconsent_notice_accept(version=version, member=members[0])
    page = officer_client.get(reverse("admin:consents_policyversion_change", args=[version.pk])).content.decode()
    assert "<th>Notified</th><td>2</td><td>50.0%</td>" in page
    assert "<th>Accepted</th><td>1</td><td>25.0%</td>" in page
    listing = officer_client.get(reverse("admin:consents_policyversion_changelist")).content.decode()
    assert "2 (50.0%)" in listing and "1 (25.0%)" in listing


# --- The consent timeline -------------------------------------------------------------------------
def test_timeline_shows_events_in_order_with_actor_channel_version_and_state(officer_client, compliance_officer):
    # The migration publishes the first version when the test database is built: date it back.
    PolicyVersion.objects.filter(version=INITIAL_POLICY_VERSION).update(
        published_at=timezone.now() - datetime.timedelta(days=30)
    )
    member = MemberFactory()
    first = timezone.now() - datetime.timedelta(days=3)
    grant(member, "marketing-sms", at=first, channel=Channel.APP, evidence="consent screen v7")
    grant(member, "marketing-sms", action=ConsentAction.WITHDRAW, at=first + datetime.timedelta(days=1),
          channel=Channel.SMS, evidence="SMS reply 881")
    grant(member, "cookies-analytics", at=first + datetime.timedelta(days=2), channel=Channel.TICKET,
          actor_kind=ActorKind.STAFF, staff_user=compliance_officer, evidence="ticket 42")
    other = MemberFactory()
    grant(other, "profiling-push", evidence="other member's event")

    response = officer_client.get(reverse("admin:consents_timeline"), {"member": member.member_number})
    page = response.content.decode()
    assert response.status_code == 200
    events = page[page.index('id="events"'):]
    assert events.index("consent screen v7") < events.index("SMS reply 881") < events.index("ticket 42")
    assert "other member&#x27;s event" not in page and "other member's event" not in page
    assert "App" in events and "SMS" in events and "Ticket" in events
    assert "A staff user on the member" in events and INITIAL_POLICY_VERSION in events
    now = page[page.index('id="current-state"'):page.index('id="events"')]
    marketing = now[now.index("Marketing SMS"):now.index("</tr>", now.index("Marketing SMS"))]
    assert "Withdrawn on" in marketing
    cookies = now[now.index("Cookies and analytics"):now.index("</tr>", now.index("Cookies and analytics"))]
    assert "<strong>yes</strong>" in cookies
    assert member.email not in page and member.legal_name not in page


def test_timeline_refuses_an_unknown_member_number(officer_client):
    response = officer_client.get(reverse("admin:consents_timeline"), {"member": "M000000000"})
    assert "No member has this number." in response.content.decode()


def test_timeline_needs_the_view_permission(client):
    client.force_login(StaffUserFactory(email="norole@test.example"))
    assert client.get(reverse("admin:consents_timeline")).status_code == 403


def test_ledger_rows_link_to_the_member_timeline(officer_client):
    event = grant(MemberFactory())
    page = officer_client.get(reverse("admin:consents_consentevent_changelist")).content.decode()
    assert f"timeline/?member={event.member.member_number}" in page


# --- Guardians ------------------------------------------------------------------------------------
def test_pp38_a_guardian_added_in_the_admin_is_verified_by_the_service_and_shown_masked(officer_client,
                                                                                         compliance_officer):
    minor = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=16 * 365))
    response = officer_client.post(reverse("admin:consents_guardian_add"), {
        "member": minor.pk, "name": "Wang Fang", "relation": "mother", "new_contact": "wang.fang@mail.example",
        "verify_with_evidence": "Birth certificate and mother's ID seen at the branch",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    guardian = Guardian.objects.get(member=minor)
    assert guardian.contact == "wang.fang@mail.example"
    assert guardian.verified_by == compliance_officer and guardian.verified_at is not None
    listing = officer_client.get(reverse("admin:consents_guardian_changelist")).content.decode()
    assert "w***@mail.example" in listing and "wang.fang@" not in listing
    page = officer_client.get(reverse("admin:consents_guardian_change", args=[guardian.pk])).content.decode()
    assert "wang.fang@" not in page


def test_pp38_guardian_history_never_shows_the_contact_in_clear(officer_client):
    minor = MemberFactory(date_of_birth=timezone.localdate() - datetime.timedelta(days=16 * 365))
    officer_client.post(reverse("admin:consents_guardian_add"), {
        "member": minor.pk, "name": "Li Wei", "relation": "father", "new_contact": "first.contact@mail.example",
    })
    guardian = Guardian.objects.get(member=minor)
    response = officer_client.post(reverse("admin:consents_guardian_change", args=[guardian.pk]), {
        "name": "Li Wei", "relation": "father", "new_contact": "second.contact@mail.example",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    guardian.refresh_from_db()
    assert guardian.contact == "second.contact@mail.example"
    page = officer_client.get(reverse("admin:consents_guardian_history", args=[guardian.pk])).content.decode()
    assert "first.contact@" not in page and "second.contact@" not in page
    assert "s***@mail.example" in page


def test_pp38_a_guardian_for_an_adult_is_refused_on_the_form(officer_client):
    adult = MemberFactory()
    response = officer_client.post(reverse("admin:consents_guardian_add"), {
        "member": adult.pk, "name": "X", "relation": "father", "new_contact": "x@mail.example",
    })
    assert response.status_code == 200
    assert "under 18" in response.content.decode()
    assert not Guardian.objects.exists()


# --- The disclosure register ----------------------------------------------------------------------
def test_pp21_preparing_through_the_admin_calls_the_service(officer_client, compliance_officer):
    members = MemberFactory.create_batch(3)
    regulator = Recipient.objects.create(name="Regulator", kind=RecipientKind.AUTHORITY)
    response = officer_client.post(reverse("admin:consents_disclosure_add"), {
        "kind": DisclosureKind.SHARE, "recipient": regulator.pk, "basis": DisclosureBasis.LAW,
        "data_categories": ["identity", "transaction"], "description": "Court order 2026/17",
        "member_numbers": "\n".join(m.member_number for m in members[:2]),
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    disclosure = Disclosure.objects.get()
    assert disclosure.member_count == 2
    assert disclosure.prepared_by == compliance_officer
    assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL


def test_pp24_the_prepare_form_shows_the_service_errors_on_its_fields(officer_client):
    member = MemberFactory()
    regulator = Recipient.objects.create(name="Regulator", kind=RecipientKind.AUTHORITY)
    response = officer_client.post(reverse("admin:consents_disclosure_add"), {
        "kind": DisclosureKind.SHARE, "recipient": regulator.pk, "basis": DisclosureBasis.LEGAL_GROUND,
        "data_categories": ["identity"], "description": "Police request", "member_numbers": member.member_number,
    })
    assert response.status_code == 200
    assert "Name at least one ground of section III(IV)" in response.content.decode()
    assert not Disclosure.objects.exists()


def test_pp21_the_prepare_form_rejects_unknown_member_numbers(officer_client):
    regulator = Recipient.objects.create(name="Regulator", kind=RecipientKind.AUTHORITY)
    response = officer_client.post(reverse("admin:consents_disclosure_add"), {
        "kind": DisclosureKind.SHARE, "recipient": regulator.pk, "basis": DisclosureBasis.LAW,
        "data_categories": ["identity"], "description": "x", "member_numbers": "M999999999",
    })
    assert "1 unknown member number(s): M999999999" in response.content.decode()


def test_pp21_self_approval_in_the_admin_is_refused_with_a_message(officer_client, compliance_officer):
    disclosure = make_disclosure(compliance_officer, 3)
    page = officer_client.get(reverse("admin:consents_disclosure_change", args=[disclosure.pk])).content.decode()
    assert 'value="approve"' not in page and 'value="reject"' in page  # the author may only withdraw it
    response = officer_client.post(reverse("admin:consents_disclosure_decide", args=[disclosure.pk]),
                                   {"decision": "approve", "note": ""}, follow=True)
    assert "four eyes" in response.content.decode()
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL


def test_pp21_another_approver_approves_from_the_page(client, compliance_officer, supervisor):
    disclosure = make_disclosure(compliance_officer, 3)
    client.force_login(supervisor)
    page = client.get(reverse("admin:consents_disclosure_change", args=[disclosure.pk])).content.decode()
    assert 'value="approve"' in page
    client.post(reverse("admin:consents_disclosure_decide", args=[disclosure.pk]),
                {"decision": "approve", "note": "Order checked"})
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.APPROVED and disclosure.approved_by == supervisor


def test_pp21_rejecting_from_the_page_needs_a_note(client, compliance_officer, supervisor):
    disclosure = make_disclosure(compliance_officer, 2)
    client.force_login(supervisor)
    response = client.post(reverse("admin:consents_disclosure_decide", args=[disclosure.pk]),
                           {"decision": "reject", "note": ""}, follow=True)
    assert "Say why" in response.content.decode()
    client.post(reverse("admin:consents_disclosure_decide", args=[disclosure.pk]),
                {"decision": "reject", "note": "Wrong recipient"})
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.REJECTED


def test_pp21_approve_action_refuses_a_partner_without_a_valid_agreement(client, compliance_officer, supervisor):
    expired = Recipient.objects.create(
        name="Old Partner", kind=RecipientKind.PARTNER,
        agreement_signed_on=datetime.date(2020, 1, 1), agreement_expires_on=datetime.date(2021, 1, 1),
    )
    disclosure = make_disclosure(compliance_officer, 2, recipient=expired, basis=DisclosureBasis.PARTNER_AGREEMENT)
    client.force_login(supervisor)
    response = client.post(reverse("admin:consents_disclosure_changelist"),
                           {"action": "approve_selected", "_selected_action": [disclosure.pk]}, follow=True)
    assert "no valid confidentiality agreement" in response.content.decode()
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL


def test_pp22_an_officer_cannot_approve_a_transfer_from_the_admin(client, compliance_officer, supervisor):
    successor = Recipient.objects.create(name="Acquirer", kind=RecipientKind.SUCCESSOR)
    disclosure = make_disclosure(supervisor, 2, recipient=successor, kind=DisclosureKind.TRANSFER,
                                 basis=DisclosureBasis.MERGER)
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:consents_disclosure_decide", args=[disclosure.pk]),
                           {"decision": "approve"}, follow=True)
    assert "supervisor" in response.content.decode()
    assert Disclosure.objects.get(pk=disclosure.pk).status == DisclosureStatus.AWAITING_APPROVAL


def test_the_register_is_never_edited_or_deleted_in_the_admin(client, compliance_officer, superuser):
    disclosure = make_disclosure(compliance_officer, 2)
    client.force_login(superuser)
    change = reverse("admin:consents_disclosure_change", args=[disclosure.pk])
    assert client.post(change, {"status": "approved"}).status_code == 403
    assert client.post(reverse("admin:consents_disclosure_delete", args=[disclosure.pk]),
                       {"post": "yes"}).status_code == 403
    assert Disclosure.objects.get(pk=disclosure.pk).status == DisclosureStatus.AWAITING_APPROVAL


def test_register_export_escapes_spreadsheet_formulas(officer_client, compliance_officer):
    disclosure = make_disclosure(compliance_officer, 2, description='=HYPERLINK("http://evil.example")')
    response = officer_client.post(reverse("admin:consents_disclosure_changelist"),
                                   {"action": "export_register_csv", "_selected_action": [disclosure.pk]})
    assert response["Content-Type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel shows Chinese (issue 16)
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Entry"
    description = rows[1][[label for label in rows[0]].index("Description")]
    assert description == '\'=HYPERLINK("http://evil.example")'
    assert rows[1][rows[0].index("Members concerned")] == "2"


def test_agents_see_no_disclosure_register(client, agent):
    client.force_login(agent)
    assert client.get(reverse("admin:consents_disclosure_changelist")).status_code == 403


def test_role_groups_exist():
    assert Group.objects.filter(name=roles.SUPERVISOR).exists()


# --- Purposes: widening needs a new policy version (PP-05) -------------------------------------------
def _purpose_post(purpose: Purpose, **changes) -> dict:
    data = {"name": purpose.name, "description": purpose.description, "kind": purpose.kind,
            "data_categories": list(purpose.data_categories), "introduced_in": purpose.introduced_in_id or "",
            "is_biometric": purpose.is_biometric, **changes}
    if not data.pop("is_biometric"):
        return data
    return {**data, "is_biometric": "on"}  # a ticked checkbox; an unticked one is not posted


def test_pp05_widening_a_purpose_without_a_newer_policy_version_is_refused(officer_client):
    purpose = Purpose.objects.get(code="marketing-sms")
    before = (purpose.kind, list(purpose.data_categories), purpose.is_biometric)
    url = reverse("admin:consents_purpose_change", args=[purpose.pk])
    extra = next(c for c in ("identity", "transaction", "device") if c not in purpose.data_categories)
    for change in ({"data_categories": [*purpose.data_categories, extra]}, {"kind": "basic"}, {"is_biometric": True}):
        response = officer_client.post(url, _purpose_post(purpose, **change))
        assert response.status_code == 200, change
        assert "widens the purpose" in response.content.decode() and "PP-05" in response.content.decode()
    purpose.refresh_from_db()
    assert (purpose.kind, list(purpose.data_categories), purpose.is_biometric) == before


def test_pp05_widening_with_a_newer_version_is_saved_and_earlier_grants_stop_covering_it(
    officer_client, compliance_officer
):
    from consents.selectors import may_process

    member = MemberFactory(registered_at=timezone.now() - datetime.timedelta(days=400))
    grant(member)
    assert may_process(member=member, purpose="marketing-sms").allowed
    purpose = Purpose.objects.get(code="marketing-sms")
    newer = PolicyVersion.objects.create(version="2027.1", text="t", summary="s", change_kinds=["minor"])
    policy_version_publish(version=newer, user=compliance_officer, notify=False)
    extra = next(c for c in ("identity", "transaction", "device") if c not in purpose.data_categories)

    response = officer_client.post(reverse("admin:consents_purpose_change", args=[purpose.pk]),
                                   _purpose_post(purpose, data_categories=[*purpose.data_categories, extra],
                                                 introduced_in=newer.pk))

    assert response.status_code == 302, response.content.decode()[:2000]
    purpose.refresh_from_db()
    assert extra in purpose.data_categories and purpose.introduced_in == newer
    assert not may_process(member=member, purpose="marketing-sms").allowed  # asked again


def test_pp05_narrowing_or_rewording_a_purpose_needs_no_new_version(officer_client):
    purpose = Purpose.objects.get(code="marketing-sms")
    response = officer_client.post(reverse("admin:consents_purpose_change", args=[purpose.pk]),
                                   _purpose_post(purpose, description="Clearer words", data_categories=[]))
    assert response.status_code == 302
    purpose.refresh_from_db()
    assert purpose.description == "Clearer words" and purpose.data_categories == []
