"""Issue 14, requirement 3: processing on a non-consent ground is recorded and honoured (PP-17, PP-24).

A compliance officer records it (ground of I(V)3, reference, from/until), a supervisor approves it
(four eyes); while in force ``may_process`` says yes on that ground whatever the member's consent
says; ended, the member's own consent applies again.
"""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.members.choices import MemberStatus
from accounts.models import Member
from consents.choices import ConsentAction, DisclosureBasis, DisclosureKind, RecipientKind
from consents.disclosures import disclosure_approve, disclosure_prepare
from consents.grounds.models import GroundStatus
from consents.grounds.selectors import ground_records_for
from consents.grounds.services import processing_ground_approve, processing_ground_end, processing_ground_record
from consents.models import Disclosure, LegalGround, ProcessingOnGround, Purpose, Recipient
from consents.selectors import audience, may_process
from tests.clock import frozen
from tests.consents.ledger_helpers import aware, born, initial_version, record
from tests.factories import MemberFactory, ProductLineFactory

pytestmark = pytest.mark.django_db

SMS = "marketing-sms"
OLD = aware(2020, 1, 1)
NOW = aware(2026, 3, 10, 12)
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    with frozen(NOW) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


def ground(code: str = "consent-other-law") -> LegalGround:
    return LegalGround.objects.get(code=code)


def sms() -> Purpose:
    return Purpose.objects.get(code=SMS)


def recorded(officer, *, member=None, product_line=None, code="consent-other-law", starts_on=datetime.date(2026, 3, 1),
             ends_on=None, reference="Anti-Money Laundering Act, art. 33") -> ProcessingOnGround:
    return processing_ground_record(
        purpose=sms(), ground=ground(code), reference=reference, user=officer, starts_on=starts_on, ends_on=ends_on,
        member=member, product_line=product_line,
    )


def in_force(officer, supervisor, **kwargs) -> ProcessingOnGround:
    return processing_ground_approve(record=recorded(officer, **kwargs), user=supervisor, now=NOW - DAY)


# --- Recording ---------------------------------------------------------------------------------------
def test_pp17_recording_needs_an_iv3_ground_a_reference_and_one_member_or_group(compliance_officer):
    """PP-17: the record names one of the eleven I(V)3 grounds, the law, contract or request it rests
    on, and whom it covers (one member or one product line, not both); each error names its field."""
    member = MemberFactory(registered_at=OLD)
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer, member=member, reference="  ")
    assert set(caught.value.message_dict) == {"reference"}
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer, member=member, code="reject-unrealistic")
    assert "I(V)3" in caught.value.message_dict["ground"][0]
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer, member=member, code="disclosure-law-enforcement")
    assert set(caught.value.message_dict) == {"ground"}
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer)
    assert set(caught.value.message_dict) == {"member"}
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer, member=member, product_line=ProductLineFactory())
    assert set(caught.value.message_dict) == {"member"}
    with pytest.raises(ValidationError) as caught:
        recorded(compliance_officer, member=member, ends_on=datetime.date(2026, 2, 1))
    assert set(caught.value.message_dict) == {"ends_on"}
    assert not ProcessingOnGround.objects.exists()

    saved = recorded(compliance_officer, member=member)
    assert saved.recorded_by == compliance_officer and saved.recorded_at == NOW
    assert saved.status == GroundStatus.AWAITING_APPROVAL
    assert saved.history.count() == 1 and saved.history.first().history_user == compliance_officer
    assert "Anti-Money" not in str(saved) and member.member_number not in str(saved)


def test_pp17_an_agent_cannot_record_processing_on_a_ground(agent):
    """PP-17, PP-25: recording is compliance work."""
    with pytest.raises(PermissionDenied):
        recorded(agent, member=MemberFactory(registered_at=OLD))


# --- Four eyes ---------------------------------------------------------------------------------------
def test_pp17_four_eyes_the_recorder_cannot_approve_and_a_compliance_officer_cannot(
    compliance_officer, supervisor, django_user_model
):
    """PP-17: a supervisor approves a record someone else made; the database refuses the same person."""
    member = MemberFactory(registered_at=OLD)
    mine = recorded(supervisor, member=member)
    with pytest.raises(ValidationError, match="four eyes"):
        processing_ground_approve(record=mine, user=supervisor)
    theirs = recorded(compliance_officer, member=member)
    with pytest.raises(PermissionDenied, match="supervisor"):
        processing_ground_approve(record=theirs, user=compliance_officer)
    assert not ProcessingOnGround.objects.filter(approved_at__isnull=False).exists()

    approved = processing_ground_approve(record=theirs, user=supervisor)
    assert (approved.approved_by, approved.approved_at) == (supervisor, NOW)
    with pytest.raises(ValidationError, match="already approved"):
        processing_ground_approve(record=theirs, user=supervisor)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProcessingOnGround.objects.filter(pk=mine.pk).update(approved_by=supervisor, approved_at=NOW)


# --- May we process? ----------------------------------------------------------------------------------
def test_pp17_may_process_says_yes_on_the_ground_while_in_force_even_after_a_withdrawal(
    compliance_officer, supervisor
):
    """PP-17: the member withdrew the purpose, but a record in force says yes, naming the ground and
    its reference."""
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, at=aware(2025, 1, 1))
    record(member, SMS, ConsentAction.WITHDRAW, at=aware(2025, 2, 1))
    assert may_process(member=member, purpose=SMS).code == "withdrawn"

    saved = in_force(compliance_officer, supervisor, member=member)
    decision = may_process(member=member, purpose=SMS)
    assert decision.allowed
    assert decision.code == "ground:consent-other-law"
    assert "Other circumstances stipulated by laws and regulations" in decision.reason
    assert "Anti-Money Laundering Act, art. 33" in decision.reason and f"#{saved.pk}" in decision.reason
    # Another purpose, another member: untouched.
    assert may_process(member=member, purpose="profiling-push").code == "no_grant"
    assert may_process(member=MemberFactory(registered_at=OLD), purpose=SMS).code == "no_grant"


def test_pp17_the_audience_of_a_purpose_agrees_with_may_process_on_grounds(compliance_officer, supervisor):
    """PP-17: the set version of ``may_process`` (campaigns and bulk jobs read it) includes the
    members a record in force covers — named or by product line — and leaves out the same members
    once the record ends, or when the account is closed."""
    line = ProductLineFactory(code="futures")
    withdrawn = MemberFactory(registered_at=OLD)
    record(withdrawn, SMS, ConsentAction.WITHDRAW, at=aware(2025, 2, 1))
    on_line = MemberFactory(registered_at=OLD)
    on_line.product_lines.add(line)
    closed = MemberFactory(registered_at=OLD, status=MemberStatus.CLOSED)
    granted = MemberFactory(registered_at=OLD)
    record(granted, SMS, at=aware(2025, 1, 1))
    nobody = MemberFactory(registered_at=OLD)
    assert set(audience(purpose=SMS)) == {granted}

    named = in_force(compliance_officer, supervisor, member=withdrawn)
    in_force(compliance_officer, supervisor, product_line=line)
    in_force(compliance_officer, supervisor, member=closed)
    members = set(audience(purpose=SMS))
    assert members == {granted, withdrawn, on_line}
    for member in (withdrawn, on_line, closed, granted, nobody):
        assert bool(may_process(member=member, purpose=SMS)) == (member in members), member.pk

    processing_ground_end(record=named, user=compliance_officer, reason="Order lifted by the court.")
    assert set(audience(purpose=SMS)) == {granted, on_line}


def test_pp17_a_record_awaiting_approval_is_not_in_force(compliance_officer):
    """PP-17: until a supervisor approves it, the member's own consent decides."""
    member = MemberFactory(registered_at=OLD)
    recorded(compliance_officer, member=member)
    assert may_process(member=member, purpose=SMS).code == "no_grant"


def test_pp17_once_ended_the_members_own_consent_state_applies_again(compliance_officer, supervisor, clock):
    """PP-17, PP-32: ending a record (with a reason) gives the answer back to the member's consent;
    the record keeps its history: recorded, approved, ended, each by whom."""
    member = MemberFactory(registered_at=OLD)
    record(member, SMS, ConsentAction.WITHDRAW, at=aware(2025, 2, 1))
    saved = in_force(compliance_officer, supervisor, member=member)
    assert may_process(member=member, purpose=SMS).code == "ground:consent-other-law"

    with pytest.raises(ValidationError) as caught:
        processing_ground_end(record=saved, user=compliance_officer, reason=" ")
    assert set(caught.value.message_dict) == {"reason"}
    ended = processing_ground_end(record=saved, user=compliance_officer, reason="Order lifted by the court.")
    assert ended.status == GroundStatus.ENDED
    assert may_process(member=member, purpose=SMS).code == "withdrawn"
    with pytest.raises(ValidationError, match="already ended"):
        processing_ground_end(record=saved, user=compliance_officer, reason="again")
    history = list(saved.history.order_by("history_date", "history_id"))
    assert [h.history_user for h in history] == [compliance_officer, supervisor, compliance_officer]
    # An answer about a moment before the end still reads the record (historical "at").
    assert may_process(member=member, purpose=SMS, at=NOW - datetime.timedelta(hours=1)).code.startswith("ground:")


def test_pp17_an_answer_about_the_past_uses_the_records_validity_window(compliance_officer, supervisor):
    """PP-17: approved, started and not yet ended or expired at ``at``: before approval, before the
    first day and after the last day the member's consent decides."""
    member = MemberFactory(registered_at=OLD)
    saved = recorded(compliance_officer, member=member, starts_on=datetime.date(2026, 1, 10),
                     ends_on=datetime.date(2026, 2, 20))
    processing_ground_approve(record=saved, user=supervisor, now=aware(2026, 1, 15, 12))
    assert may_process(member=member, purpose=SMS, at=aware(2026, 1, 12, 12)).code == "no_grant"  # not approved
    assert may_process(member=member, purpose=SMS, at=aware(2026, 1, 16, 12)).code == "ground:consent-other-law"
    assert may_process(member=member, purpose=SMS, at=aware(2026, 2, 20, 12)).code == "ground:consent-other-law"
    assert may_process(member=member, purpose=SMS, at=aware(2026, 2, 21, 12)).code == "no_grant"  # expired
    assert may_process(member=member, purpose=SMS).code == "no_grant"
    assert saved.__class__.objects.get(pk=saved.pk).status == GroundStatus.EXPIRED


def test_pp17_a_product_line_record_covers_that_lines_members_only(compliance_officer, supervisor):
    """PP-17: "a defined group of members" is a product line; its members are processed on the
    ground, members of other lines are not."""
    derivatives, spot = ProductLineFactory(code="derivatives"), ProductLineFactory(code="spot")
    inside, outside = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    inside.product_lines.add(derivatives, spot)
    outside.product_lines.add(spot)
    in_force(compliance_officer, supervisor, product_line=derivatives, code="consent-contract",
             reference="Derivatives client agreement, clause 12")
    assert may_process(member=inside, purpose=SMS).code == "ground:consent-contract"
    assert "Derivatives client agreement, clause 12" in may_process(member=inside, purpose=SMS).reason
    assert may_process(member=outside, purpose=SMS).code == "no_grant"
    assert [r.product_line.code for r in ground_records_for(member=inside)] == ["derivatives"]
    assert list(ground_records_for(member=outside)) == []


def test_pp17_a_ground_applies_to_a_child_too_but_never_to_a_closed_account(compliance_officer, supervisor):
    """PP-17, PP-03: a legal ground does not rest on consent, so a child's inability to consent does
    not stop it (docs/decisions.md); an account that is not active is still not processed (PP-04)."""
    today = NOW.date()
    child = MemberFactory(registered_at=OLD, date_of_birth=born(10, today))
    closed = MemberFactory(registered_at=OLD, status=MemberStatus.CLOSED)
    assert may_process(member=child, purpose=SMS).code == "child"
    in_force(compliance_officer, supervisor, member=child)
    in_force(compliance_officer, supervisor, member=closed)
    assert may_process(member=child, purpose=SMS).code == "ground:consent-other-law"
    assert may_process(member=closed, purpose=SMS).code == "account_closed"


def test_pp17_may_process_asks_one_more_query_at_most(compliance_officer, supervisor, django_assert_max_num_queries):
    """PP-17: the ground is one query (the member's own records and their product lines' in one),
    whatever the size of the group."""
    line = ProductLineFactory(code="derivatives")
    members = MemberFactory.create_batch(5, registered_at=OLD)
    for member in members:
        member.product_lines.add(line)
    in_force(compliance_officer, supervisor, product_line=line)
    purpose, other = sms(), MemberFactory(registered_at=OLD)
    with django_assert_max_num_queries(1):
        assert may_process(member=members[0], purpose=purpose).allowed
    with django_assert_max_num_queries(3):  # ground, ledger, the introducing version (no grant: no PP-40)
        assert may_process(member=other, purpose=purpose).code == "no_grant"


# --- Shown: the member's page, the register of records, the disclosure register ------------------
@pytest.fixture
def officer_client(client, compliance_officer):
    client.force_login(compliance_officer)
    return client


def test_pp17_the_members_page_shows_the_grounds_that_cover_them(officer_client, compliance_officer, supervisor):
    """PP-17: the member's admin page lists processing on legal grounds: their own records and their
    product line's, with ground, reference and status (accounts shows it through its hook)."""
    line = ProductLineFactory(code="derivatives", name="Derivatives")
    member = MemberFactory(registered_at=OLD)
    member.product_lines.add(line)
    in_force(compliance_officer, supervisor, member=member, reference="Court order 2026-117")
    recorded(compliance_officer, product_line=line, code="consent-contract", reference="Client agreement cl. 12")
    page = officer_client.get(reverse("admin:accounts_member_change", args=[member.pk])).content.decode()
    assert "Processing without consent on a legal ground (PP-17)" in page
    assert "Court order 2026-117" in page and "In force" in page
    assert "Client agreement cl. 12" in page and "members of derivatives" in page
    assert "Awaiting a supervisor" in page
    other = MemberFactory(registered_at=OLD)
    page = officer_client.get(reverse("admin:accounts_member_change", args=[other.pk])).content.decode()
    assert "None recorded." in page and "Court order 2026-117" not in page


def test_pp17_the_record_is_approved_and_ended_from_its_admin_page(client, compliance_officer, supervisor):
    """PP-17: the admin records through the service, the supervisor approves with a button (not the
    recorder), and ending asks for a reason; nothing is edited by hand."""
    member = MemberFactory(registered_at=OLD)
    client.force_login(compliance_officer)
    response = client.post(reverse("admin:consents_processingonground_add"), {
        "purpose": sms().pk, "ground": ground().pk, "reference": "AML Act art. 33", "starts_on": "2026-03-01",
    })
    assert response.status_code == 200 and "Name one member, or a product line" in response.content.decode()
    assert not ProcessingOnGround.objects.exists()
    response = client.post(reverse("admin:consents_processingonground_add"), {
        "purpose": sms().pk, "member": member.pk, "ground": ground().pk, "reference": "AML Act art. 33",
        "starts_on": "2026-03-01",
    })
    assert response.status_code == 302
    saved = ProcessingOnGround.objects.get()
    assert saved.recorded_by == compliance_officer
    client.post(reverse("admin:consents_processingonground_approve", args=[saved.pk]))
    saved.refresh_from_db()
    assert saved.approved_at is None  # a compliance officer is not a supervisor

    client.force_login(supervisor)
    page = client.get(reverse("admin:consents_processingonground_change", args=[saved.pk])).content.decode()
    assert "Approve: in force from now" in page
    client.post(reverse("admin:consents_processingonground_approve", args=[saved.pk]))
    saved.refresh_from_db()
    assert saved.approved_by == supervisor
    assert may_process(member=member, purpose=SMS).code == "ground:consent-other-law"
    client.post(reverse("admin:consents_processingonground_end", args=[saved.pk]), {"reason": "Law repealed."})
    saved.refresh_from_db()
    assert saved.end_reason == "Law repealed." and saved.ended_by == supervisor
    assert may_process(member=member, purpose=SMS).code == "no_grant"


def test_pp17_the_records_list_is_bounded_whatever_their_number(officer_client, compliance_officer, supervisor,
                                                              django_assert_max_num_queries):
    """PP-17: the register of records runs the same queries at 3 and at 30 records."""
    url = reverse("admin:consents_processingonground_changelist")

    def make(n):
        for _ in range(n):
            in_force(compliance_officer, supervisor, member=MemberFactory(registered_at=OLD))

    make(3)
    officer_client.get(url)
    with CaptureQueriesContext(connection) as few:
        assert officer_client.get(url).status_code == 200
    make(27)
    with django_assert_max_num_queries(25), CaptureQueriesContext(connection) as many:
        assert officer_client.get(url).status_code == 200
    assert len(few) == len(many)


def test_pp24_a_disclosure_on_a_legal_ground_cites_the_records_in_force(compliance_officer, supervisor):
    """PP-24, PP-17: a disclosure on a III(IV) ground cites the approved record it rests on; the
    record's ground must be one section III(IV) repeats, in force on the day, and cover every member
    concerned; the register shows the record and the matching III(IV) ground."""
    authority = Recipient.objects.create(name="Public Security Bureau", kind=RecipientKind.AUTHORITY)
    covered, stranger = MemberFactory(registered_at=OLD), MemberFactory(registered_at=OLD)
    order = in_force(compliance_officer, supervisor, member=covered, code="consent-law-enforcement",
                     reference="Investigation notice 2026-17")
    contract = in_force(compliance_officer, supervisor, member=covered, code="consent-contract")
    pending = recorded(compliance_officer, member=covered, code="consent-law-enforcement")

    def prepare(records, members):
        return disclosure_prepare(
            kind=DisclosureKind.SHARE, recipient=authority, basis=DisclosureBasis.LEGAL_GROUND,
            data_categories=["identity"], description="Answer to the investigation notice.",
            members_queryset=Member.objects.filter(pk__in=[m.pk for m in members]), ground_records=records,
            user=compliance_officer,
        )

    for records, members, words in (
        ([pending], [covered], "Not approved and in force"),
        ([contract], [covered], "only six of the eleven"),
        ([order], [covered, stranger], "not covered"),
    ):
        with pytest.raises(ValidationError) as caught:
            prepare(records, members)
        assert words in caught.value.message_dict["ground_records"][0]
    assert not Disclosure.objects.exists()

    disclosure = prepare([order], [covered])
    assert list(disclosure.ground_records.all()) == [order]
    assert [g.code for g in disclosure.legal_grounds.all()] == ["disclosure-law-enforcement"]
    processing_ground_end(record=order, user=compliance_officer, reason="Investigation closed.")
    with pytest.raises(ValidationError, match="Not approved and in force"):
        disclosure_approve(disclosure=disclosure, user=supervisor)


def test_pp24_the_disclosure_register_shows_and_exports_the_records(officer_client, compliance_officer, supervisor):
    """PP-24: the register's page and its CSV name the processing on a legal ground relied on."""
    authority = Recipient.objects.create(name="Public Security Bureau", kind=RecipientKind.AUTHORITY)
    member = MemberFactory(registered_at=OLD)
    order = in_force(compliance_officer, supervisor, member=member, code="consent-law-enforcement",
                     reference="Investigation notice 2026-17")
    disclosure = disclosure_prepare(
        kind=DisclosureKind.SHARE, recipient=authority, basis=DisclosureBasis.LEGAL_GROUND,
        data_categories=["identity"], description="Answer to the notice.",
        members_queryset=Member.objects.filter(pk=member.pk), ground_records=[order], user=compliance_officer,
    )
    page = officer_client.get(reverse("admin:consents_disclosure_change", args=[disclosure.pk])).content.decode()
    assert str(order) in page
    response = officer_client.post(reverse("admin:consents_disclosure_changelist"), {
        "action": "export_register_csv", "_selected_action": [disclosure.pk],
    })
    assert f"#{order.pk} Investigation notice 2026-17" in response.content.decode()
