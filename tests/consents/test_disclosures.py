"""Issue 4, requirement 8: recipients and the disclosure register (PP-21, PP-22, PP-23, PP-24)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from accounts.models import Member
from consents.choices import DisclosureBasis, DisclosureKind, DisclosureStatus, RecipientKind
from consents.disclosures import disclosure_approve, disclosure_prepare, disclosure_reject
from consents.models import DisclosedMember, Disclosure, LegalGround, Recipient
from tests.factories import MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

TODAY = datetime.date(2026, 3, 1)


@pytest.fixture
def partner(db):
    return Recipient.objects.create(
        name="Card Issuer Ltd", kind=RecipientKind.PARTNER, country="HK",
        agreement_signed_on=datetime.date(2025, 1, 1), agreement_expires_on=datetime.date(2027, 1, 1),
    )


@pytest.fixture
def expired_partner(db):
    return Recipient.objects.create(
        name="Old Analytics Co", kind=RecipientKind.PARTNER,
        agreement_signed_on=datetime.date(2022, 1, 1), agreement_expires_on=datetime.date(2025, 1, 1),
    )


@pytest.fixture
def authority(db):
    return Recipient.objects.create(name="Financial Regulator", kind=RecipientKind.AUTHORITY)


@pytest.fixture
def successor(db):
    return Recipient.objects.create(name="Acquirer plc", kind=RecipientKind.SUCCESSOR)


@pytest.fixture
def public(db):
    return Recipient.objects.create(name="The public", kind=RecipientKind.PUBLIC)


def prepare(user, recipient, *, kind=DisclosureKind.SHARE, basis=DisclosureBasis.PARTNER_AGREEMENT,
            members=None, grounds=(), disclosed_on=None) -> Disclosure:
    if members is None:
        members = Member.objects.filter(pk__in=[m.pk for m in MemberFactory.create_batch(3)])
    return disclosure_prepare(
        kind=kind, recipient=recipient, basis=basis, data_categories=["identity", "contact"],
        description="Card issuance for members who applied.", members_queryset=members,
        legal_grounds=grounds, user=user, disclosed_on=disclosed_on,
    )


def test_pp21_preparing_registers_the_members_concerned_and_their_count(compliance_officer, partner):
    members = MemberFactory.create_batch(5)
    chosen = Member.objects.filter(pk__in=[m.pk for m in members[:4]])
    disclosure = prepare(compliance_officer, partner, members=chosen)
    assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL
    assert disclosure.member_count == 4
    assert Disclosure.objects.get(pk=disclosure.pk).member_count == 4
    assert set(DisclosedMember.objects.filter(disclosure=disclosure).values_list("member_id", flat=True)) == {
        m.pk for m in members[:4]
    }
    assert disclosure.prepared_by == compliance_officer


def test_pp21_a_member_selected_twice_is_registered_once(compliance_officer, authority):
    member = MemberFactory()
    TransactionRecordFactory.create_batch(3, member=member)
    duplicated = Member.objects.filter(transactions__order_time__isnull=False)  # one row per transaction
    assert duplicated.count() == 3
    disclosure = prepare(compliance_officer, authority, basis=DisclosureBasis.LAW, members=duplicated)
    assert disclosure.member_count == 1


def test_pp21_a_100_member_disclosure_is_inserted_in_constant_queries(
    compliance_officer, authority, django_assert_max_num_queries
):
    small = MemberFactory.create_batch(10)
    large = MemberFactory.create_batch(100)
    compliance_officer.has_perm("consents.add_disclosure")  # load the permission cache outside the count
    bound = 7  # savepoint, entry + history row, one INSERT … SELECT, count + history row, release
    with django_assert_max_num_queries(bound):
        few = prepare(compliance_officer, authority, basis=DisclosureBasis.LAW,
                      members=Member.objects.filter(pk__in=[m.pk for m in small]))
    with django_assert_max_num_queries(bound):
        many = prepare(compliance_officer, authority, basis=DisclosureBasis.LAW,
                       members=Member.objects.filter(pk__in=[m.pk for m in large]))
    assert (few.member_count, many.member_count) == (10, 100)
    assert DisclosedMember.objects.filter(disclosure=many).count() == 100


def test_pp21_a_disclosure_about_nobody_is_refused_and_leaves_nothing(compliance_officer, authority):
    with pytest.raises(ValidationError, match="at least one member"):
        prepare(compliance_officer, authority, basis=DisclosureBasis.LAW, members=Member.objects.none())
    assert not Disclosure.objects.exists()


def test_pp21_the_preparer_can_never_approve_their_own(compliance_officer, superuser, partner):
    for preparer in (compliance_officer, superuser):
        disclosure = prepare(preparer, partner, disclosed_on=TODAY)
        with pytest.raises(ValidationError, match="four eyes"):
            disclosure_approve(disclosure=disclosure, user=preparer, today=TODAY)
        disclosure.refresh_from_db()
        assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL
        assert disclosure.approved_by is None


def test_pp21_the_database_refuses_self_approval_too(compliance_officer, partner):
    disclosure = prepare(compliance_officer, partner)
    with pytest.raises(IntegrityError), transaction.atomic():
        Disclosure.objects.filter(pk=disclosure.pk).update(approved_by=compliance_officer)


def test_pp21_another_officer_approves_a_sharing_with_a_partner_under_agreement(
    compliance_officer, supervisor, partner
):
    disclosure = prepare(compliance_officer, partner)
    approved = disclosure_approve(disclosure=disclosure, user=supervisor, note="Checked the list.", today=TODAY)
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.APPROVED
    assert disclosure.approved_by == supervisor
    assert disclosure.decided_at is not None
    assert disclosure.disclosed_on == TODAY
    assert disclosure.decision_note == "Checked the list."
    assert approved.history.first().history_user == supervisor


def test_pp21_a_partner_whose_agreement_expired_cannot_be_approved(compliance_officer, supervisor, expired_partner):
    disclosure = prepare(compliance_officer, expired_partner)
    with pytest.raises(ValidationError) as exc:
        disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)
    assert "no valid confidentiality agreement on 2026-03-01" in str(exc.value)
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.AWAITING_APPROVAL


def test_pp21_a_partner_without_any_agreement_cannot_be_approved(compliance_officer, supervisor):
    bare = Recipient.objects.create(name="Handshake Partner", kind=RecipientKind.PARTNER)
    disclosure = prepare(compliance_officer, bare, basis=DisclosureBasis.CONSENT)
    with pytest.raises(ValidationError, match="no valid confidentiality agreement"):
        disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)


def test_pp21_the_agreement_is_judged_on_the_disclosure_date(compliance_officer, supervisor, expired_partner):
    disclosure = prepare(compliance_officer, expired_partner, disclosed_on=datetime.date(2024, 6, 1))
    disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.APPROVED


def test_pp22_a_transfer_needs_a_supervisor(compliance_officer, supervisor, successor):
    other_officer = type(compliance_officer).objects.create_user("officer2@test.example")
    other_officer.groups.set(compliance_officer.groups.all())
    disclosure = prepare(supervisor, successor, kind=DisclosureKind.TRANSFER, basis=DisclosureBasis.MERGER)
    with pytest.raises(PermissionDenied, match="supervisor"):
        disclosure_approve(disclosure=disclosure, user=compliance_officer, today=TODAY)

    prepared_by_officer = prepare(other_officer, successor, kind=DisclosureKind.TRANSFER,
                                  basis=DisclosureBasis.MERGER)
    disclosure_approve(disclosure=prepared_by_officer, user=supervisor, today=TODAY)
    assert Disclosure.objects.get(pk=prepared_by_officer.pk).status == DisclosureStatus.APPROVED


def test_pp23_a_public_disclosure_needs_a_supervisor(compliance_officer, supervisor, public):
    disclosure = prepare(supervisor, public, kind=DisclosureKind.PUBLIC_DISCLOSURE,
                         basis=DisclosureBasis.SERIOUS_VIOLATION)
    with pytest.raises(PermissionDenied):
        disclosure_approve(disclosure=disclosure, user=compliance_officer, today=TODAY)
    assert Disclosure.objects.get(pk=disclosure.pk).status == DisclosureStatus.AWAITING_APPROVAL


def test_pp24_a_legal_ground_basis_needs_a_ground_of_section_iii_iv(compliance_officer, supervisor, authority):
    with pytest.raises(ValidationError) as exc:
        prepare(compliance_officer, authority, basis=DisclosureBasis.LEGAL_GROUND)
    assert "legal_grounds" in exc.value.message_dict

    consent_ground = LegalGround.objects.get(code="consent-law-enforcement")
    with pytest.raises(ValidationError, match="III\\(IV\\)"):
        prepare(compliance_officer, authority, basis=DisclosureBasis.LEGAL_GROUND, grounds=[consent_ground])

    ground = LegalGround.objects.get(code="disclosure-law-enforcement")
    disclosure = prepare(compliance_officer, authority, basis=DisclosureBasis.LEGAL_GROUND, grounds=[ground])
    assert list(disclosure.legal_grounds.all()) == [ground]
    disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)
    assert Disclosure.objects.get(pk=disclosure.pk).status == DisclosureStatus.APPROVED


def test_pp22_a_transfer_cannot_rest_on_a_partner_agreement(compliance_officer, partner):
    with pytest.raises(ValidationError) as exc:
        prepare(compliance_officer, partner, kind=DisclosureKind.TRANSFER, basis=DisclosureBasis.PARTNER_AGREEMENT)
    assert "basis" in exc.value.message_dict


def test_pp21_a_partner_agreement_basis_needs_a_partner(compliance_officer, authority):
    with pytest.raises(ValidationError) as exc:
        prepare(compliance_officer, authority, basis=DisclosureBasis.PARTNER_AGREEMENT)
    assert "recipient" in exc.value.message_dict


def test_unknown_data_categories_are_refused(compliance_officer, authority):
    with pytest.raises(ValidationError) as exc:
        disclosure_prepare(
            kind=DisclosureKind.SHARE, recipient=authority, basis=DisclosureBasis.LAW, data_categories=["gossip"],
            description="x", members_queryset=Member.objects.all(), user=compliance_officer,
        )
    assert "data_categories" in exc.value.message_dict


def test_decisions_are_taken_only_while_awaiting_approval(compliance_officer, supervisor, partner):
    disclosure = prepare(compliance_officer, partner)
    disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)
    with pytest.raises(ValidationError, match="only a disclosure awaiting approval"):
        disclosure_approve(disclosure=disclosure, user=supervisor, today=TODAY)
    with pytest.raises(ValidationError, match="only a disclosure awaiting approval"):
        disclosure_reject(disclosure=disclosure, user=supervisor, note="Too late")
    assert Disclosure.objects.get(pk=disclosure.pk).status == DisclosureStatus.APPROVED


def test_rejecting_needs_a_reason_and_keeps_who_rejected_in_history(compliance_officer, supervisor, partner):
    disclosure = prepare(compliance_officer, partner)
    with pytest.raises(ValidationError, match="why"):
        disclosure_reject(disclosure=disclosure, user=supervisor, note="  ")
    disclosure_reject(disclosure=disclosure, user=supervisor, note="Wrong member list.")
    disclosure.refresh_from_db()
    assert disclosure.status == DisclosureStatus.REJECTED
    assert disclosure.approved_by is None
    assert disclosure.decision_note == "Wrong member list."
    assert disclosure.history.first().history_user == supervisor


def test_agents_and_auditors_neither_prepare_nor_decide(agent, auditor, compliance_officer, partner):
    for user in (agent, auditor):
        with pytest.raises(PermissionDenied):
            prepare(user, partner)
    disclosure = prepare(compliance_officer, partner)
    for user in (agent, auditor):
        with pytest.raises(PermissionDenied):
            disclosure_approve(disclosure=disclosure, user=user, today=TODAY)
        with pytest.raises(PermissionDenied):
            disclosure_reject(disclosure=disclosure, user=user, note="No")
