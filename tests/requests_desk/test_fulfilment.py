"""Fulfilment per type (issue 6, requirement 8): access, correction, four-eyes deletion, consent
withdrawal, account cancellation, underage reports and security reports."""

from __future__ import annotations

import datetime
import smtplib

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import Member, TransactionRecord
from accounts.privacy import crypto
from accounts.privacy.storage import protected_storage
from consents.choices import ActorKind, Channel, ConsentAction
from consents.ledger import consent_record
from consents.models import ConsentEvent, ConsentState, LegalGround
from consents.selectors import may_process
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, MessageDirection, RequesterKind, RequestType, Severity
from requests_desk.fulfilment.cancellation import member_cancel
from requests_desk.fulfilment.correction import correctable_fields, correction_propose
from requests_desk.fulfilment.deletion import deletion_prepare, deletion_refuse_held
from requests_desk.fulfilment.dispatcher import request_fulfil
from requests_desk.fulfilment.reports import security_report_route, security_report_set_severity
from requests_desk.models import AccessPackage, IdentityCheck, Message, Request
from requests_desk.states import Status
from retention import services as retention_services
from retention.choices import ErasureTrigger, RunStatus
from retention.erasure import runner
from retention.erasure.records import was_erased
from retention.jobs.cancelled import anonymise_cancelled
from retention.jobs.under_14 import purge_under_14, underage_confirmed_member_ids
from retention.models import ErasureRecord, ErasureRun
from tests.consents.ledger_helpers import initial_version
from tests.factories import MemberFactory, TransactionRecordFactory

pytestmark = pytest.mark.django_db

ADDRESS = "requester@mail.example"


def make(type_, member=None, *, kind=RequesterKind.MEMBER, details=None, **kwargs) -> Request:
    return lifecycle.request_create(type=type_, requester_kind=kind, channel=IntakeChannel.EMAIL, member=member,
                                    requester_name="Han Meimei", requester_email=ADDRESS, details=details, **kwargs)


def started_and_verified(request: Request, agent) -> Request:
    workflow.transition(request=request, name="start", user=agent)
    authority = "signed power of attorney" if request.requester_kind != RequesterKind.MEMBER else ""
    # Recorded directly, as the workflow's own tests do: the gate's service has tests of its own.
    IdentityCheck.objects.create(request=request, method="document_match", evidence="passport matched",
                                 authority_evidence=authority, verified_by=agent)
    return Request.objects.get(pk=request.pk)


def fulfilment_mail():
    return [m for m in mail.outbox if "has been completed" in m.subject]


# --- Access ------------------------------------------------------------------------------------------
def test_pp29_access_is_prepared_approved_by_someone_else_and_the_link_is_sent(agent, compliance_officer, client,
                                                                              django_capture_on_commit_callbacks):
    member = MemberFactory()
    TransactionRecordFactory.create_batch(3, member=member)
    request = started_and_verified(make(RequestType.ACCESS, member), agent)
    workflow.transition(request=request, name="submit_for_approval", user=compliance_officer)
    with pytest.raises(ValidationError, match="Four eyes"):
        request_fulfil(request=request, user=compliance_officer)
    assert not AccessPackage.objects.exists()
    # The approval commits, then the worker builds the package and sends the letter (inline in tests).
    with django_capture_on_commit_callbacks(execute=True):
        supervisor_done = request_fulfil(request=request, user=_other_officer())
    assert supervisor_done.status == Status.FULFILLED
    package = AccessPackage.objects.get(request=request)
    assert package.status == "ready"
    [letter] = fulfilment_mail()
    assert letter.to == [ADDRESS]
    link = next(line for line in letter.body.splitlines() if "/packages/" in line).strip()
    response = client.get(link[link.index("/packages/"):])
    assert response.status_code == 200
    assert package.downloads.count() == 1
    # The copy of the e-mail kept on the request does not hold the token (only its hash is stored).
    kept = Message.objects.get(request=request, template="access_package")
    token = link.rstrip("/").rsplit("/", 1)[-1]
    assert token not in kept.body and "withheld" in kept.body


def _other_officer():
    from django.contrib.auth.models import Group

    from accounts.staff import roles
    from tests.factories import StaffUserFactory

    user = StaffUserFactory(email="second.officer@test.example")
    user.groups.add(Group.objects.get(name=roles.COMPLIANCE_OFFICER))
    return user


def test_when_the_letter_cannot_be_sent_the_package_fails_and_no_file_is_left_behind(
        agent, compliance_officer, monkeypatch, django_capture_on_commit_callbacks):
    """PP-29: the letter now goes from the worker, after the approval committed (issue 15 req. 4). A
    mail server that refuses it leaves the package failed (with a retry), no file and no link."""
    member = MemberFactory()
    request = started_and_verified(make(RequestType.ACCESS, member), agent)
    workflow.transition(request=request, name="submit_for_approval", user=agent)
    written = []
    real_save = protected_storage._save
    monkeypatch.setattr(protected_storage, "_save", lambda name, content: written.append(real_save(name, content))
                        or written[-1])

    def refuse(self, fail_silently=False):
        raise smtplib.SMTPException("mail server down")

    monkeypatch.setattr("django.core.mail.EmailMultiAlternatives.send", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        request_fulfil(request=request, user=compliance_officer)
    package = AccessPackage.objects.get(request=request)
    assert package.status == "failed" and "sending the letter failed" in package.error
    assert package.token_hash is None and not fulfilment_mail()
    assert written and not any(protected_storage.exists(name) for name in written)


# --- Correction --------------------------------------------------------------------------------------
def test_correction_is_reviewed_applied_with_history_and_the_member_told(agent, compliance_officer):
    member = MemberFactory(email="old@mail.example", legal_name="Old Name")
    request = started_and_verified(make(RequestType.CORRECTION, member), agent)
    correction_propose(request=request, changes={"email": "New@Mail.example ", "legal_name": "New Name"},
                       user=agent)
    workflow.transition(request=request, name="submit_for_approval", user=agent)
    done = request_fulfil(request=request, user=compliance_officer)
    assert done.status == Status.FULFILLED
    member.refresh_from_db()
    assert (member.email, member.legal_name) == ("New@Mail.example", "New Name")
    # The blind index follows: the new address is found by exact lookup, the old one no longer.
    assert Member.objects.filter(email_bidx=crypto.blind_index("email", "new@mail.example")).get() == member
    assert not Member.objects.filter(email_bidx=crypto.blind_index("email", "old@mail.example")).exists()
    latest = member.history.first()
    assert latest.history_user == compliance_officer
    assert latest.history_change_reason == f"correction request {request.reference}"
    assert member.history.count() >= 2
    [letter] = fulfilment_mail()
    assert "E-mail" in letter.body and "Legal full name" in letter.body
    assert "New Name" not in letter.body  # the letter names the fields, not the values


def test_correction_accepts_only_correctable_fields_with_valid_values(agent):
    request = started_and_verified(make(RequestType.CORRECTION, MemberFactory()), agent)
    with pytest.raises(ValidationError, match="cannot be corrected"):
        correction_propose(request=request, changes={"member_number": "M1"}, user=agent)
    with pytest.raises(ValidationError) as error:
        correction_propose(request=request, changes={"email": "not-an-address",
                                                     "date_of_birth": "31/12/1990"}, user=agent)
    assert set(error.value.message_dict) == {"email", "date_of_birth"}
    assert "changes" not in Request.objects.get(pk=request.pk).details
    assert set(correctable_fields()) == {"nationality", "legal_name", "local_name", "date_of_birth",
                                         "email", "phone"}


def test_a_correction_without_a_proposal_is_not_fulfilled(agent, compliance_officer):
    request = started_and_verified(make(RequestType.CORRECTION, MemberFactory()), agent)
    workflow.transition(request=request, name="submit_for_approval", user=agent)
    with pytest.raises(ValidationError, match="no proposed change"):
        request_fulfil(request=request, user=compliance_officer)
    assert Request.objects.get(pk=request.pk).status == Status.AWAITING_APPROVAL


# --- Deletion ----------------------------------------------------------------------------------------
def deletion_ready(agent, compliance_officer, member=None) -> tuple[Request, Member]:
    member = member or MemberFactory()
    request = started_and_verified(make(RequestType.DELETION, member), agent)
    deletion_prepare(request=request, user=compliance_officer, note="checked: no retention issue")
    return Request.objects.get(pk=request.pk), member


def test_pp29_four_eyes_deletion_compliance_prepares_a_supervisor_approves_the_engine_erases(
    agent, compliance_officer, supervisor, django_capture_on_commit_callbacks
):
    member = MemberFactory()
    TransactionRecordFactory.create_batch(2, member=member, counterparty_nickname="peer")
    number = member.member_number
    with pytest.raises(PermissionDenied):
        deletion_prepare(request=make(RequestType.DELETION, member), user=agent)
    request, _ = deletion_ready(agent, compliance_officer, member)
    assert request.prepared_by == compliance_officer
    with pytest.raises(PermissionDenied, match="supervisor"):
        request_fulfil(request=request, user=_other_officer())
    with django_capture_on_commit_callbacks(execute=True):
        done = request_fulfil(request=request, user=supervisor)

    assert (done.status, done.prepared_by, done.approved_by) == (Status.FULFILLED, compliance_officer, supervisor)
    assert was_erased(number)
    record = ErasureRecord.objects.get()
    assert (record.trigger, record.request_reference) == (ErasureTrigger.DELETION_REQUEST, request.reference)
    run = ErasureRun.objects.get()
    assert (run.prepared_by, run.approved_by, run.status) == (compliance_officer, supervisor, RunStatus.FINISHED)
    tombstone = Member.objects.get(pk=member.pk)
    assert tombstone.status == MemberStatus.CLOSED and not tombstone.email and tombstone.member_number != number
    # Transaction records are kept (pseudonymised) for the legal retention period.
    assert TransactionRecord.objects.filter(member=tombstone).count() == 2
    stored = Request.objects.get(pk=request.pk)
    assert stored.member is None and not stored.requester_email  # the ticket itself is pseudonymous now
    assert stored.details["erasure"]["kept"][0]["days"] == 5 * 365


def test_pp29_the_deletion_reply_lists_what_was_kept_and_why(agent, compliance_officer, supervisor, settings):
    settings.LEGAL_RETENTION_DAYS = {"transaction": 1825, "account": 1825}
    member = MemberFactory()
    TransactionRecordFactory(member=member)
    request, _ = deletion_ready(agent, compliance_officer, member)
    request_fulfil(request=request, user=supervisor)
    [letter] = fulfilment_mail()
    assert letter.to == [ADDRESS]
    assert "We have erased your personal data" in letter.body
    kept_line = "Transaction records (Transaction): Order number, Order time, Asset type, Quantity, Amount (USD)"
    assert kept_line in letter.body
    assert "kept for 1825 days" in letter.body
    assert "because the law requires us to keep them" in letter.body
    assert "Counterparty nickname" not in letter.body.split("What we must keep")[1]  # tokenised, not kept
    # The letter kept on the (now pseudonymous) ticket names nobody.
    kept = Message.objects.get(request=request, direction=MessageDirection.OUTBOUND, template="deletion")
    assert "Han Meimei" not in kept.body and "Dear requester" in kept.body


def test_pp29_a_member_under_legal_hold_is_not_erased_and_the_refusal_says_why(agent, compliance_officer, supervisor):
    member = MemberFactory()
    request, _ = deletion_ready(agent, compliance_officer, member)
    retention_services.legal_hold_place(member=member, reason="Police inquiry 2026-17", owner=compliance_officer)
    with pytest.raises(ValidationError, match="legal hold"):
        request_fulfil(request=request, user=supervisor)
    assert not was_erased(member.member_number)
    assert Request.objects.get(pk=request.pk).status == Status.AWAITING_APPROVAL
    assert not ErasureRun.objects.exists()

    ground = LegalGround.objects.get(code="cannot-crime-investigation")
    refused = deletion_refuse_held(request=request, user=supervisor, grounds=[ground])
    assert refused.status == Status.REFUSED
    [letter] = [m for m in mail.outbox if "Our decision" in m.subject]
    assert "legal hold" in letter.body and ground.wording in letter.body
    assert "Police inquiry" not in letter.body  # the hold's own reason stays internal


def test_a_hold_placed_while_approving_rolls_everything_back(agent, compliance_officer, supervisor, monkeypatch):
    member = MemberFactory()
    request, _ = deletion_ready(agent, compliance_officer, member)
    real = runner.erase_members

    def hold_first(**kwargs):
        retention_services.legal_hold_place(member=member, reason="Regulator inquiry 9", owner=compliance_officer)
        return real(**kwargs)

    monkeypatch.setattr(runner, "erase_members", hold_first)
    with pytest.raises(ValidationError, match="legal hold"):
        request_fulfil(request=request, user=supervisor)
    assert Request.objects.get(pk=request.pk).status == Status.AWAITING_APPROVAL
    assert Member.objects.get(pk=member.pk).member_number == member.member_number
    assert not fulfilment_mail()


# --- Consent withdrawal ------------------------------------------------------------------------------
@pytest.fixture
def granted_member():
    initial_version()
    member = MemberFactory()
    for code in ("marketing-sms", "profiling-push"):
        consent_record(member=member, purpose=code, action=ConsentAction.GRANT, policy_version=None,
                       channel=Channel.WEB, actor_kind=ActorKind.MEMBER, occurred_at=timezone.now()
                       - datetime.timedelta(days=30))
    return member


def test_pp32_withdrawal_writes_ledger_events_on_the_ticket_channel(agent, compliance_officer, granted_member):
    request = started_and_verified(
        make(RequestType.CONSENT_WITHDRAWAL, granted_member, details={"purposes": ["marketing-sms"]}), agent)
    assert may_process(member=granted_member, purpose="marketing-sms").allowed
    request_fulfil(request=request, user=compliance_officer)
    event = ConsentEvent.objects.filter(member=granted_member, action=ConsentAction.WITHDRAW).get()
    assert (event.purpose.code, event.channel, event.actor_kind, event.staff_user) == (
        "marketing-sms", Channel.TICKET, ActorKind.MEMBER, compliance_officer)
    assert request.reference in event.evidence
    assert ConsentEvent.objects.filter(member=granted_member, action=ConsentAction.GRANT).count() == 2  # kept
    assert not may_process(member=granted_member, purpose="marketing-sms").allowed
    assert may_process(member=granted_member, purpose="profiling-push").allowed
    assert not ConsentState.objects.get(member=granted_member, purpose__code="marketing-sms").granted


def test_pp32_an_agent_acting_for_the_member_is_recorded_as_staff_on_behalf(agent, compliance_officer, granted_member):
    request = started_and_verified(make(RequestType.CONSENT_WITHDRAWAL, granted_member, kind=RequesterKind.AGENT,
                                        details={"purposes": ["profiling-push"]}), agent)
    request_fulfil(request=request, user=compliance_officer)
    event = ConsentEvent.objects.get(member=granted_member, action=ConsentAction.WITHDRAW)
    assert (event.actor_kind, event.staff_user) == (ActorKind.STAFF, compliance_officer)


def test_pp04_a_basic_purpose_cannot_be_withdrawn_and_nothing_is_recorded(agent, compliance_officer, granted_member):
    request = started_and_verified(make(RequestType.CONSENT_WITHDRAWAL, granted_member,
                                        details={"purposes": ["marketing-sms", "account-identity"]}), agent)
    with pytest.raises(ValidationError, match="Basic purposes"):
        request_fulfil(request=request, user=compliance_officer)
    assert not ConsentEvent.objects.filter(action=ConsentAction.WITHDRAW).exists()
    assert Request.objects.get(pk=request.pk).status == Status.IN_PROGRESS


# --- Account cancellation ----------------------------------------------------------------------------
def test_pp33_cancellation_marks_the_member_and_the_job_erases_after_the_grace_period(
    agent, compliance_officer, settings
):
    settings.CANCELLATION_GRACE_DAYS = 30
    member = MemberFactory()
    request = started_and_verified(make(RequestType.ACCOUNT_CANCELLATION, member), agent)
    request_fulfil(request=request, user=compliance_officer)
    member.refresh_from_db()
    assert member.status == MemberStatus.CANCELLED and member.cancelled_at is not None
    change = member.history.first()
    assert (change.status, change.history_user) == (MemberStatus.CANCELLED, compliance_officer)
    assert "30 days" in fulfilment_mail()[0].body

    assert anonymise_cancelled(now=timezone.now() + datetime.timedelta(days=29)).changed == 0
    assert anonymise_cancelled(now=timezone.now() + datetime.timedelta(days=31)).changed == 1
    assert was_erased(member.member_number)


def test_an_account_already_cancelled_is_not_cancelled_twice(compliance_officer):
    member = MemberFactory(status=MemberStatus.CANCELLED, cancelled_at=timezone.now())
    with pytest.raises(ValidationError, match="already cancelled"):
        member_cancel(member=member, user=compliance_officer)


# --- Underage report ---------------------------------------------------------------------------------
def test_pp37_a_confirmed_underage_report_leads_the_purge_job_to_erase_the_member(agent, compliance_officer):
    member = MemberFactory(date_of_birth=datetime.date(1990, 1, 1))  # the stated birth date was false
    report = make(RequestType.UNDERAGE_REPORT, None, kind=RequesterKind.THIRD_PARTY)
    lifecycle.request_member_identify(request=report, member=member, user=agent)
    workflow.transition(request=report, name="start", user=agent)
    assert purge_under_14().selected == 0
    with pytest.raises(PermissionDenied):
        request_fulfil(request=report, user=agent)

    confirmed = request_fulfil(request=report, user=compliance_officer)
    assert confirmed.status == Status.FULFILLED
    assert Request.objects.get(pk=report.pk).details["confirmed"] is True
    assert underage_confirmed_member_ids() == {member.pk}

    result = purge_under_14()
    assert (result.selected, result.changed) == (1, 1)
    assert was_erased(member.member_number)
    assert ErasureRecord.objects.get().trigger == ErasureTrigger.UNDER_14
    assert Member.objects.get(pk=member.pk).status == MemberStatus.CLOSED
    assert purge_under_14().selected == 0  # the report no longer names anyone


# --- Security report ---------------------------------------------------------------------------------
def test_pp28_a_security_report_is_routed_to_compliance_and_needs_a_severity(agent, compliance_officer):
    report = make(RequestType.SECURITY_REPORT, None, kind=RequesterKind.THIRD_PARTY, severity=Severity.HIGH)
    lifecycle.request_assign(request=report, assignee=agent, user=agent)
    routed = security_report_route(request=report, user=agent)
    assert routed.assignee == compliance_officer
    workflow.transition(request=report, name="start", user=compliance_officer)
    done = request_fulfil(request=report, user=compliance_officer)
    assert (done.status, done.assignee) == (Status.FULFILLED, compliance_officer)

    ungraded = Request.objects.create(type=RequestType.SECURITY_REPORT, requester_kind=RequesterKind.THIRD_PARTY,
                                      channel=IntakeChannel.EMAIL, received_at=timezone.now(),
                                      due_at=timezone.now() + datetime.timedelta(days=15))
    workflow.transition(request=ungraded, name="start", user=compliance_officer)
    with pytest.raises(ValidationError, match="severity"):
        request_fulfil(request=ungraded, user=compliance_officer)
    security_report_set_severity(request=ungraded, severity=Severity.CRITICAL, user=compliance_officer)
    graded = request_fulfil(request=ungraded, user=compliance_officer)
    assert (graded.status, graded.severity, graded.assignee) == (Status.FULFILLED, Severity.CRITICAL,
                                                                compliance_officer)


# --- Replies -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("type_", [RequestType.ENQUIRY, RequestType.DISPUTE])
def test_replies_fulfil_and_tell_the_requester(type_, agent, compliance_officer):
    request = make(type_, MemberFactory())
    request = started_and_verified(request, agent) if type_ in workflow.NEEDS_IDENTITY else request
    if type_ not in workflow.NEEDS_IDENTITY:
        workflow.transition(request=request, name="start", user=agent)
    done = request_fulfil(request=request, user=compliance_officer, note="Here is your answer.")
    assert done.status == Status.FULFILLED
    [letter] = fulfilment_mail()
    assert "Here is your answer." in letter.body


def test_an_access_package_is_never_built_without_the_letter_that_carries_its_link(agent, compliance_officer):
    request = started_and_verified(make(RequestType.ACCESS, MemberFactory()), agent)
    workflow.transition(request=request, name="submit_for_approval", user=agent)
    with pytest.raises(ValidationError, match="delivered by its letter"):
        request_fulfil(request=request, user=compliance_officer, notify=False)
    assert not AccessPackage.objects.exists()
