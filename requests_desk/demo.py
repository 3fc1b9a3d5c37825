"""Demo data for ``manage.py seed_demo`` (issue 6, requirement 11): the queue and the dashboard show work.

Runs after the accounts and consents steps (``INSTALLED_APPS`` order), so the demo staff users and
members exist. It makes a request of **every type in every state the state machine can reach**
(new, awaiting identity, in progress, awaiting approval for the types that need it, fulfilled,
refused, withdrawn, closed), each with its inbound message and the letters sent, some due soon,
some overdue, some assigned to the demo agents and some waiting in the queue for "take next".

States are reached by driving the real flow (``lifecycle.request_create``, ``workflow.transition``,
the identity gate, ``requests_desk.fulfilment``), never by writing a status: a fulfilled access
request has its package, a fulfilled deletion was erased by the retention engine (four eyes:
prepared by the compliance officer, approved by the supervisor), a confirmed underage report names
a demo member (whose stated birth date says adult) that ``purge_under_14`` will erase, and so on.
Destructive fulfilments act on demo members of their own (``R91…``), never on the accounts step's
members.

Idempotent: each demo request has a fixed public reference (``DSR-DEMO0001`` …); references that
exist are skipped, so a second run creates nothing (an erased member's request keeps its reference).
No e-mail is sent: demo requesters who gave an e-mail address get no letters, the others get their
letters recorded on the postal channel.

Both languages (issue 16): two Chinese-speaking members (王芳, 李伟, who prefer Chinese letters)
write in Chinese — a deletion request arriving as a GB2312 e-mail, read by the real mail parser, whose
language is detected from it, and a correction request — and their letters are recorded in Chinese
beside the English ones of the other requests.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from email.header import Header
from email.mime.text import MIMEText
from email.utils import formataddr

from django.db import transaction
from django.utils import timezone

from accounts.members.choices import MemberKind, MemberStatus
from accounts.models import Member, StaffUser
from consents.models import LegalGround
from requests_desk import letters, lifecycle, workflow
from requests_desk.choices import (
    IntakeChannel,
    Priority,
    RequesterKind,
    RequestType,
    Severity,
    VerificationMethod,
)
from requests_desk.fulfilment.correction import correction_propose
from requests_desk.fulfilment.deletion import deletion_prepare
from requests_desk.fulfilment.dispatcher import request_fulfil
from requests_desk.mail.parse import mail_parse
from requests_desk.messages import message_record_inbound
from requests_desk.models import IdentityCheck, Request
from requests_desk.states import Status

AGENT_EMAIL = "agent@demo.example"
AGENT2_EMAIL = "agent2@demo.example"
OFFICER_EMAIL = "compliance@demo.example"
SUPERVISOR_EMAIL = "supervisor@demo.example"
REFERENCE_PREFIX = "DSR-DEMO"

#: Every state a request of each type can reach (awaiting approval only for the four-eyes types).
STATE_ORDER = (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS, Status.AWAITING_APPROVAL,
               Status.FULFILLED, Status.REFUSED, Status.WITHDRAWN, Status.CLOSED)
OPEN = (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS, Status.AWAITING_APPROVAL)
#: Days since receipt for open requests, cycled: due in 14, 10, 2, 1 days; overdue by 3 and 10 days.
OPEN_AGES = (1, 5, 13, 14, 18, 25)
CLOSED_AGES = (9, 16, 22, 30)
POSTAL_CHANNELS = (IntakeChannel.WEB, IntakeChannel.APP, IntakeChannel.PHONE, IntakeChannel.LETTER)

WORDS = {
    RequestType.ACCESS: ("Copy of my data", "Please send me a copy of all personal data you hold about me."),
    RequestType.CORRECTION: ("Wrong phone number", "My phone number on file is outdated; please correct it."),
    RequestType.DELETION: ("Delete my data", "I no longer use the platform. Please delete my personal data."),
    RequestType.CONSENT_WITHDRAWAL: ("Stop marketing", "Please stop marketing SMS and personalised push messages."),
    RequestType.ACCOUNT_CANCELLATION: ("Close my account", "I want to cancel my account."),
    RequestType.COMPLAINT: ("Complaint about my request", "My earlier request is taking too long."),
    RequestType.DISPUTE: ("Disputed trade", "An order was executed at a price I did not agree to."),
    RequestType.UNDERAGE_REPORT: ("Account of a child", "I believe this account belongs to a 13-year-old."),
    RequestType.SECURITY_REPORT: ("Vulnerability report", "The password reset page leaks whether an e-mail exists."),
    RequestType.ENQUIRY: ("Question about fees", "How are withdrawal fees calculated?"),
}
#: Demo members of this step, for fulfilments that change or erase the member.
OWN_MEMBERS = {
    (RequestType.DELETION, Status.FULFILLED): ("R910000001", "Demo Deletion Requester", 35),
    (RequestType.ACCOUNT_CANCELLATION, Status.FULFILLED): ("R910000002", "Demo Cancelling Member", 41),
    # Reported as under 14 although the date of birth on file says adult: the report is what counts (PP-37).
    (RequestType.UNDERAGE_REPORT, Status.FULFILLED): ("R910000003", "Demo Reported Child", 19),
    (RequestType.CORRECTION, Status.FULFILLED): ("R910000004", "Demo Correcting Member", 29),
}


@dataclass(frozen=True)
class DemoRequest:
    number: int
    type: str
    state: str

    @property
    def reference(self) -> str:
        return f"{REFERENCE_PREFIX}{self.number:04d}"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN

    @property
    def days_ago(self) -> int:
        ages = OPEN_AGES if self.is_open else CLOSED_AGES
        return ages[self.number % len(ages)]

    @property
    def requester_kind(self) -> str:
        if self.type in (RequestType.UNDERAGE_REPORT, RequestType.SECURITY_REPORT):
            return RequesterKind.THIRD_PARTY
        return RequesterKind.MEMBER

    @property
    def has_email(self) -> bool:
        # Requesters who gave an address get no letters in the demo (nothing is e-mailed).
        return self.state in (Status.NEW, Status.AWAITING_IDENTITY, Status.IN_PROGRESS)

    @property
    def needs_member(self) -> bool:
        return self.type in workflow.NEEDS_IDENTITY or self.type == RequestType.UNDERAGE_REPORT


def demo_requests() -> list[DemoRequest]:
    specs = []
    for type_ in RequestType.values:
        for state in STATE_ORDER:
            if state == Status.AWAITING_APPROVAL and type_ not in workflow.NEEDS_APPROVAL:
                continue
            specs.append(DemoRequest(number=len(specs) + 1, type=type_, state=state))
    return specs


@dataclass
class Staff:
    agent: StaffUser
    agent2: StaffUser
    officer: StaffUser
    supervisor: StaffUser


def _staff() -> Staff:
    users = {u.email: u for u in StaffUser.objects.filter(
        email__in=[AGENT_EMAIL, AGENT2_EMAIL, OFFICER_EMAIL, SUPERVISOR_EMAIL])}
    missing = {AGENT_EMAIL, AGENT2_EMAIL, OFFICER_EMAIL, SUPERVISOR_EMAIL} - set(users)
    if missing:
        raise RuntimeError(f"Demo staff users missing ({', '.join(sorted(missing))}); run the staff-users step first.")
    return Staff(users[AGENT_EMAIL], users[AGENT2_EMAIL], users[OFFICER_EMAIL], users[SUPERVISOR_EMAIL])


def _years_before(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year - years, day=28)


def _own_member(number: str, name: str, age: int) -> Member:
    member = Member.objects.filter(member_number=number).first()
    if member is not None:
        return member
    today = timezone.localdate()
    return Member.objects.create(
        member_number=number, legal_name=name, nationality="CN",
        date_of_birth=_years_before(today, age) - datetime.timedelta(days=60),
        email=f"{number.lower()}@demo-member.example", phone=f"+86 139 1000 {number[-4:]}",
        registered_at=timezone.now() - datetime.timedelta(days=500),
    )


class _Pool:
    """Active adult individual members of the accounts step, handed out one per request (no repeats)."""

    def __init__(self):
        adult_year = timezone.localdate().year - 19
        self.members = list(
            Member.objects.filter(kind=MemberKind.INDIVIDUAL, status=MemberStatus.ACTIVE, birth_year__lte=adult_year,
                                  member_number__startswith="M")
            .order_by("member_number")[:80]
        )
        self.index = 0

    def take(self, spec: DemoRequest) -> Member:
        if not self.members:
            return _own_member(f"R92{spec.number:07d}", f"Demo Requester {spec.number}", 30 + spec.number % 30)
        member = self.members[self.index % len(self.members)]
        self.index += 1
        return member


def _create(spec: DemoRequest, member: Member | None, concerns: Request | None, staff: Staff) -> Request:
    subject, body = WORDS[spec.type]
    is_security = spec.type == RequestType.SECURITY_REPORT
    purposes = {"purposes": ["marketing-sms", "profiling-push"]}
    received = timezone.now() - datetime.timedelta(days=spec.days_ago, hours=spec.number % 7)
    channel = IntakeChannel.EMAIL if spec.has_email else POSTAL_CHANNELS[spec.number % len(POSTAL_CHANNELS)]
    request = lifecycle.request_create(
        type=spec.type, requester_kind=spec.requester_kind, channel=channel, received_at=received, member=member,
        requester_name="Demo Reporter" if spec.requester_kind == RequesterKind.THIRD_PARTY else
        (member.legal_name if member else "Demo Requester"),
        requester_email=f"requester{spec.number:04d}@demo-mail.example" if spec.has_email else "",
        priority=Priority.HIGH if spec.number % 5 == 0 else None,
        severity=Severity.values[spec.number % len(Severity.values)] if is_security else "",
        subject=subject, description=body, concerns=concerns,
        details=purposes if spec.type == RequestType.CONSENT_WITHDRAWAL else None,
        user=staff.agent,
    )
    # A fixed public reference makes the step idempotent (and survives an erasure of the member).
    Request.objects.filter(pk=request.pk).update(reference=spec.reference)
    request = Request.objects.get(pk=request.pk)
    message_record_inbound(request=request, body=body, subject=subject, channel=channel, at=received)
    if spec.has_email:
        letters.message_record_outbound(
            request=request, subject=f"[{spec.reference}] Call notes", template="", user=staff.agent,
            channel=IntakeChannel.PHONE, body="Called the requester to confirm we received the request.",
        )
    else:
        letters.letter_send(request=request, template="acknowledgement", user=staff.agent)
    return request


def _verify(request: Request, staff: Staff) -> None:
    """Record the identity check of a demo requester (the member themself, already identified).

    Written as ``lifecycle.identity_check_record`` writes it; the demo's requests meet its rules by
    construction, and the row needs no lock here (nobody else works the demo requests while seeding).
    """
    check = IdentityCheck(
        request=request, method=VerificationMethod.DOCUMENT_MATCH, verified_by=staff.agent,
        evidence="Passport photo page matched the member's identity document on file.",
    )
    check._history_user = staff.agent
    check.save()


def _drive(spec: DemoRequest, request: Request, staff: Staff) -> Request:
    """Take ``request`` to ``spec.state`` through the state machine and the fulfilment services."""
    type_, state = spec.type, spec.state
    agent = staff.agent if spec.number % 2 else staff.agent2
    if state == Status.NEW:
        if spec.number % 3 == 0:
            lifecycle.request_assign(request=request, assignee=agent, user=agent)
        return request
    if state == Status.AWAITING_IDENTITY:
        lifecycle.request_assign(request=request, assignee=agent, user=agent)
        return workflow.transition(request=request, name="request_identity", user=agent,
                                   note="Asked the requester for a photo of their ID.")
    if state == Status.WITHDRAWN:
        return workflow.transition(request=request, name="withdraw", user=agent,
                                   note="The requester withdrew the request by phone.")
    if state == Status.CLOSED:
        return workflow.transition(request=request, name="close_duplicate", user=agent,
                                   note="Duplicate of a request received the day before.")

    worker = staff.officer if type_ == RequestType.SECURITY_REPORT else agent
    request = workflow.transition(request=request, name="start", user=worker)
    if request.assignee_id is None:
        request = lifecycle.request_assign(request=request, assignee=worker, user=worker)
    if type_ in workflow.NEEDS_IDENTITY:
        _verify(request, staff)
    if type_ == RequestType.CORRECTION:
        correction_propose(request=request, changes={"phone": "+86 139 5555 0100"}, user=agent)
    if state == Status.IN_PROGRESS:
        return request
    if state == Status.REFUSED:
        code = "reject-unprovoked-duplicate" if type_ in workflow.NEEDS_IDENTITY else "reject-unrealistic"
        ground = LegalGround.objects.get(code=code)
        return lifecycle.request_refuse(request=request, user=staff.officer, grounds=[ground],
                                        note="We answered the same request last month.")
    # Awaiting approval or fulfilled.
    if type_ == RequestType.DELETION:
        request = deletion_prepare(request=request, user=staff.officer,
                                   note="No legal hold; transaction records stay for retention.")
    elif type_ in workflow.NEEDS_APPROVAL:
        request = workflow.transition(request=request, name="submit_for_approval", user=agent)
    if state == Status.AWAITING_APPROVAL:
        return request
    approver = staff.supervisor if type_ == RequestType.DELETION else staff.officer
    return request_fulfil(request=request, user=approver, note="Thank you for contacting us.")


#: Issue 16: the Chinese-speaking members and their requests (number, local name, legal name, age).
CHINESE_MEMBERS = {9001: ("R910000011", "王芳", "Wang Fang", 34), 9002: ("R910000012", "李伟", "Li Wei", 45)}
CHINESE_DELETION = ("删除我的个人信息", "您好：\n我已不再使用贵平台，请删除你们保存的我的全部个人信息。\n谢谢！\n王芳")
CHINESE_CORRECTION = ("更正手机号码", "您好，我账户中登记的手机号码已经停用，请更正为新的号码。李伟")


def _chinese_member(number: int) -> Member:
    member_number, local_name, legal_name, age = CHINESE_MEMBERS[number]
    member = _own_member(member_number, legal_name, age)
    if member.preferred_language != "zh-hans" or member.local_name != local_name:
        member.local_name, member.preferred_language = local_name, "zh-hans"
        member.save(update_fields=["local_name", "preferred_language"])
    return member


def _gb2312_mail(member: Member, subject: str, body: str) -> bytes:
    """The deletion request as a Chinese mail client sends it: GB2312, base64, an encoded From name."""
    message = MIMEText(body, "plain", "gb2312")
    message["From"] = formataddr((member.local_name, member.email), charset="gb2312")
    message["To"] = "privacy@exchange.example"
    message["Subject"] = Header(subject, "gb2312").encode()
    message["Message-ID"] = f"<{member.member_number.lower()}-deletion@demo-mail.example>"
    return message.as_bytes()


def _seed_chinese(staff: Staff, existing: set[str]) -> int:
    """A Chinese deletion request (a GB2312 mail, awaiting approval) and a fulfilled Chinese correction."""
    created = 0
    agent = staff.agent
    for number in CHINESE_MEMBERS:
        reference = f"{REFERENCE_PREFIX}{number}"
        if reference in existing:
            continue
        with transaction.atomic():
            member = _chinese_member(number)
            received = timezone.now() - datetime.timedelta(days=3 if number == 9001 else 12)
            if number == 9001:
                parsed = mail_parse(_gb2312_mail(member, *CHINESE_DELETION))
                subject, body, source = parsed.subject, parsed.body, parsed.message_id
                language = lifecycle.intake_language(member=None, text=f"{subject}\n{body}", charsets=parsed.charsets)
                type_ = RequestType.DELETION
            else:
                (subject, body), source, language, type_ = CHINESE_CORRECTION, "", "", RequestType.CORRECTION
            # No address kept: the demo sends no e-mail, so its letters are recorded for posting.
            request = lifecycle.request_create(
                type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, received_at=received,
                member=member, requester_name=member.local_name, subject=subject, description=body, user=agent,
                language=language,
            )
            Request.objects.filter(pk=request.pk).update(reference=reference)
            request = Request.objects.get(pk=request.pk)
            message_record_inbound(request=request, body=body, subject=subject, channel=IntakeChannel.EMAIL,
                                   at=received, source_message_id=source)
            letters.letter_send(request=request, template="acknowledgement", user=agent)
            letters.letter_send(request=request, template="verification_request", user=agent)
            request = workflow.transition(request=request, name="start", user=agent)
            request = lifecycle.request_assign(request=request, assignee=agent, user=agent)
            _verify(request, staff)
            if type_ == RequestType.DELETION:
                deletion_prepare(request=request, user=staff.officer,
                                 note="No legal hold; transaction records stay for retention.")
            else:
                correction_propose(request=request, changes={"phone": "+86 139 5555 0188"}, user=agent)
                request = workflow.transition(request=request, name="submit_for_approval", user=agent)
                request_fulfil(request=request, user=staff.officer, note="感谢您的耐心等待。")
        created += 1
    return created


def seed_requests(*, bar=None) -> dict[str, int]:
    """Requests of every type in every reachable state; idempotent by reference (see the module docstring)."""
    specs = demo_requests()
    if bar is not None:
        bar.total = len(specs)
        bar.refresh()
    staff = _staff()
    existing = set(Request.objects.filter(reference__startswith=REFERENCE_PREFIX).values_list("reference", flat=True))
    pool = _Pool()
    created = 0
    first_of_type: dict[str, str] = {}
    for spec in specs:
        first_of_type.setdefault(spec.type, spec.reference)
        if spec.reference in existing:
            if bar is not None:
                bar.update(1)
            continue
        with transaction.atomic():
            own = OWN_MEMBERS.get((spec.type, spec.state))
            member = _own_member(*own) if own else (pool.take(spec) if spec.needs_member else None)
            concerns = None
            if spec.type == RequestType.COMPLAINT:
                concerns = Request.objects.filter(reference=first_of_type[RequestType.ACCESS]).first()
                concerns = concerns or Request.objects.filter(reference__startswith=REFERENCE_PREFIX).first()
            request = _create(spec, member, concerns, staff)
            _drive(spec, request, staff)
        created += 1
        if bar is not None:
            bar.update(1)
    created += _seed_chinese(staff, existing)
    return {"requests created": created,
            "demo requests": Request.objects.filter(reference__startswith=REFERENCE_PREFIX).count()}


def register(steps) -> None:
    steps.append(("requests", None, seed_requests))
