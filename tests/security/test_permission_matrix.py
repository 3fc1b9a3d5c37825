"""Issue 7, requirement 3: every staff-facing URL times every role gets the status code the design expects (PP-25).

The URLs are walked from the resolver (``get_resolver().url_patterns``, recursively), so a page added
without an entry in the expectation tables below fails ``test_every_url_has_an_expectation`` with
its name. The expected codes come from *this file's* declarative tables (what the design says each
role may do: design.md "Who uses it", issues 3-6), never from the code under test's permission checks,
so a permission granted or an override lost by mistake shows up as an unexpected code. URL arguments
are filled with real objects (one of each admin model) created once for the module.

POST-only endpoints are requested with GET (405, or the form) and POSTed too; destructive or
disclosing POSTs by a role that may not make them must leave the database as it was.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field
from decimal import Decimal

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.test.utils import override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, SolarSchedule

from accounts.members.choices import MemberStatus
from accounts.models import IdentityDocument, Member
from accounts.staff import roles
from consents import disclosures
from consents.choices import DisclosureBasis, DisclosureKind
from consents.models import PolicyVersion, Recipient
from requests_desk import access_package, lifecycle, workflow
from requests_desk.choices import IntakeChannel, ReminderKind, RequesterKind, RequestType, VerificationMethod
from requests_desk.fulfilment.deletion import deletion_prepare
from requests_desk.messages import IncomingAttachment, message_record_inbound
from requests_desk.models import IdentityCheck, ReminderLog, Request
from retention import services as retention_services
from retention.choices import ErasureTrigger, ReviewOutcome, RiskLevel
from retention.models import ErasureRecord, JobRun
from retention.schedule import schedule_sync
from tests.factories import MemberFactory, StaffUserFactory
from tests.otp import device_for, verified_login
from tests.retention.erasure_seed import seed_member

# OTP enforcement on (tests/conftest.py): the roles that must use a second factor sign in with it.
pytestmark = [pytest.mark.django_db, pytest.mark.otp]

CO, AG, SV, AU = roles.COMPLIANCE_OFFICER, roles.CUSTOMER_SERVICE_AGENT, roles.SUPERVISOR, roles.AUDITOR
ANON = "anonymous"
STAFF_ROLES = (CO, AG, SV, AU)
ALL_ROLES = (ANON, *STAFF_ROLES)
LOGIN = "302 to login"  # a redirect to the admin's login page, with ?next=

#: Roles that must sign in with a second factor (issue 7); the others sign in with a password only.
OTP_ROLES = {CO, SV}


# --- What each role may do: the declarative tables ----------------------------------------------------
# Effective rights in the admin, model by model: v view, a add, c change, d delete ("" nothing).
# Compliance keeps members' records, consents, holds, reviews and the schedule; agents read members
# masked and work requests; supervisors are compliance plus approvals and product lines; auditors read
# everything and change nothing. Nobody deletes anything by hand (erasure does, PP-02), nobody edits a
# ledger, a log, a record or a job run, and status fields change only through services (style rule 7).
#                                          CO      AG     SV      AU
ADMIN_RIGHTS: dict[str, tuple[str, str, str, str]] = {
    "auth.group":                         ("",     "",    "",     ""),
    "accounts.staffuser":                 ("v",    "",    "v",    "v"),
    "accounts.member":                    ("vac",  "v",   "vac",  "v"),
    "accounts.relatedperson":             ("vac",  "v",   "vac",  "v"),
    "accounts.institutionprofile":        ("vac",  "v",   "vac",  "v"),
    "accounts.identitydocument":          ("vac",  "v",   "vac",  "v"),
    "accounts.verification":              ("v",    "v",   "v",    "v"),  # recorded on the member's page
    "accounts.paymentinstrument":         ("vac",  "",    "vac",  "v"),
    "accounts.devicerecord":              ("v",    "",    "v",    "v"),
    "accounts.transactionrecord":         ("v",    "v",   "v",    "v"),
    "accounts.productline":               ("v",    "v",   "vac",  "v"),
    "accounts.sensitiveaccesslog":        ("v",    "",    "v",    "v"),
    "accounts.importbatch":               ("v",    "",    "v",    "v"),  # where imported data came from (PP-16)
    "consents.legalground":               ("v",    "",    "v",    "v"),
    "consents.purpose":                   ("vac",  "v",   "vac",  "v"),
    "consents.policyversion":             ("vac",  "",    "vac",  "v"),
    "consents.reconsentnotice":           ("v",    "",    "v",    "v"),
    "consents.consentevent":              ("v",    "v",   "v",    "v"),
    "consents.consentstate":              ("v",    "v",   "v",    "v"),
    "consents.guardian":                  ("vac",  "v",   "vac",  "v"),
    "consents.smsreply":                  ("v",    "",    "v",    "v"),
    "consents.recipient":                 ("vac",  "",    "vac",  "v"),
    "consents.disclosure":                ("va",   "",    "va",   "v"),  # decided through buttons only
    "consents.disclosedmember":           ("v",    "",    "v",    "v"),
    "consents.processingonground":        ("va",   "",    "va",   "v"),  # approved and ended through buttons (PP-17)
    "requests_desk.request":              ("vc",   "vc",  "vc",   "v"),  # intake is the desk's form
    "requests_desk.accesspackage":        ("v",    "",    "v",    "v"),
    "requests_desk.packagedownload":      ("v",    "",    "v",    "v"),
    "requests_desk.reminderlog":          ("v",    "",    "v",    "v"),
    "requests_desk.transition":           ("v",    "v",   "v",    "v"),
    "retention.legalhold":                ("va",   "",    "va",   "v"),  # placed and released, never edited
    "retention.erasurerun":               ("v",    "",    "v",    "v"),
    "retention.erasurerunitem":           ("v",    "",    "v",    "v"),
    "retention.erasurerecord":            ("v",    "",    "v",    "v"),
    "retention.jobrun":                   ("v",    "",    "v",    "v"),
    "retention.processingreview":         ("vac",  "",    "vac",  "v"),
    "retention.impactassessment":         ("vac",  "",    "vac",  "v"),
    "django_celery_beat.periodictask":    ("vc",   "",    "vc",   "v"),  # design decision 6
    "django_celery_beat.crontabschedule": ("vac",  "",    "vac",  "v"),
    "django_celery_beat.intervalschedule": ("vac", "",    "vac",  "v"),
    "django_celery_beat.clockedschedule": ("",     "",    "v",    "v"),
    "django_celery_beat.solarschedule":   ("",     "",    "v",    "v"),
    # Staff members' authenticators (issue 7): enrolled by their owner or by a superuser, never by a role.
    "otp_totp.totpdevice":                ("",     "",    "",     ""),
    # Sign-in attempts and lockouts (django-axes): staff members' addresses, for administrators.
    "axes.accessattempt":                 ("",     "",    "",     ""),
    "axes.accesslog":                     ("",     "",    "",     ""),
    "axes.accessfailurelog":              ("",     "",    "",     ""),
}

#: Who may import members' records (compliance work, PP-25).
IMPORTERS = {CO, SV}


def rights(model_label: str, role: str) -> str:
    return "" if role == ANON else ADMIN_RIGHTS[model_label][STAFF_ROLES.index(role)]


def _can_view(model_label: str, role: str) -> bool:
    return bool(set(rights(model_label, role)) & {"v", "c"})


def _per_role(co, ag, sv, au, anon=LOGIN) -> dict[str, object]:
    return {CO: co, AG: ag, SV: sv, AU: au, ANON: anon}


def _everyone(code, anon=LOGIN) -> dict[str, object]:
    return _per_role(code, code, code, code, anon)


#: GET on the pages every ModelAdmin has, from the rights above.
MODEL_PAGE_RULES = {
    "changelist": lambda label, role: 200 if _can_view(label, role) else 403,
    "change": lambda label, role: 200 if _can_view(label, role) else 403,
    "history": lambda label, role: 200 if _can_view(label, role) else 403,
    "simple_history": lambda label, role: 200 if _can_view(label, role) else 403,
    "add": lambda label, role: 200 if "a" in rights(label, role) else 403,
    "delete": lambda label, role: 200 if "d" in rights(label, role) else 403,
    # django-import-export: exports are reading the (masked) list; imports are compliance work.
    "export": lambda label, role: 200 if _can_view(label, role) else 403,
    "import": lambda label, role: 200 if role in IMPORTERS else 403,
    "process_import": lambda label, role: 405,  # POST only (see POST_EXPECTED)
    "search": lambda label, role: 405,  # the search box posts; terms never go into URLs
    "object_redirect": lambda label, role: 302,  # admin/<app>/<model>/<pk>/ -> .../change/
    # django-otp: a device's secret (its configuration URL and QR code) only for those who may change it.
    "config": lambda label, role: 200 if "c" in rights(label, role) else 403,
    "qrcode": lambda label, role: 200 if "c" in rights(label, role) else 403,
}

#: Pages of their own (site pages, custom admin views, the desk, public endpoints): GET.
VIEW_EXPECTED: dict[str, dict[str, object]] = {
    "health": _everyone(200, anon=200),  # the load balancer's check: component states only
    "set_language": _everyone(405, anon=405),  # the language switch posts (issue 16)
    "admin:index": _everyone(200),
    "admin:login": _everyone(302, anon=200),  # staff already logged in are sent to the index
    "admin:logout": _everyone(405, anon=302),  # POST only (Django 5); anonymous go to the index
    "admin:password_change": _everyone(200),  # one's own password
    "admin:password_change_done": _everyone(200),
    "admin:autocomplete": _everyone(200),  # product lines for the member form: everyone reads them
    "admin:jsi18n": _everyone(200),
    "admin:view_on_site": _everyone(404),  # no model has a public page
    "admin:catch_all": _everyone(404),
    "admin:auth_user_password_change": _everyone(403),  # nobody sets another staff user's password
    # The second sign-in step (issue 7). Compliance and supervisors are signed in with it done and are
    # sent on; agents and auditors (not required, signed in without an authenticator) may set one up:
    # the enrolment page shows their own new secret.
    "otp:verify": _per_role(302, 302, 302, 302),
    "otp:enrol": _per_role(302, 200, 302, 200),
    # PP-25: unmasking and document downloads are compliance work; the data map is read by all staff.
    "accounts:reveal": _per_role(200, 403, 200, 403),
    "accounts:document_file": _per_role(200, 403, 200, 403),
    "accounts:data_map": _everyone(200),
    "accounts:data_map_download": _everyone(200),  # the same map as a file (issue 14)
    "admin:consents_timeline": _everyone(200),
    "admin:consents_disclosure_decide": _everyone(403),  # POST only
    "admin:consents_processingonground_approve": _everyone(403),  # POST only
    "admin:consents_processingonground_end": _everyone(403),  # POST only
    "admin:requests_desk_request_prepare": _per_role(200, 200, 200, 403),  # those who work requests
    "admin:retention_legalhold_release": _per_role(200, 403, 200, 403),
    "admin:retention_impactassessment_report": _per_role(200, 403, 200, 200),
    # The agents' queue (issue 6): working it needs the work-queue permission; reading requests and
    # the dashboard needs view permission on requests.
    "requests_desk:queue": _per_role(200, 200, 200, 403),
    "requests_desk:intake": _per_role(200, 200, 200, 403),
    "requests_desk:dashboard": _everyone(200),
    "requests_desk:request_detail": _everyone(200),
    "requests_desk:attachment": _per_role(200, 200, 200, 403),
    # POST-only desk endpoints refuse GET before anything else (anonymous included).
    "requests_desk:take_next": _everyone(405, anon=405),
    "requests_desk:request_transition": _everyone(405, anon=405),
    "requests_desk:identity_check": _everyone(405, anon=405),
    "requests_desk:reply": _everyone(405, anon=405),
    "requests_desk:letter_language": _everyone(405, anon=405),
    "requests_desk:fee": _everyone(405, anon=405),
    "requests_desk:identify_member": _everyone(405, anon=405),
    "requests_desk:log_contact": _everyone(405, anon=405),
    "requests_desk:package_retry": _everyone(405, anon=405),
    # Not staff pages: the SMS gateway's signed webhook, and the requester's expiring download link
    # (PP-29: a bearer link sent by letter; a wrong token is a 404, see below).
    "consents:sms-inbound": _everyone(405, anon=405),
    "consents:site-events": _everyone(405, anon=405),  # the member site's signed consent events
    "packages:download": _everyone(200, anon=200),
}

#: POSTs (empty or minimal form) to POST-only endpoints. 302: the view ran and redirected back with
#: a message; the effect of each is checked by the tests below.
POST_EXPECTED: dict[str, dict[str, object]] = {
    "requests_desk:take_next": _per_role(302, 302, 302, 403),
    "requests_desk:request_transition": _per_role(302, 302, 302, 403),
    "requests_desk:identity_check": _per_role(302, 302, 302, 403),
    "requests_desk:reply": _per_role(302, 302, 302, 403),
    # Issue 16: whoever works the queue may change the language of the next letter (history).
    "requests_desk:letter_language": _per_role(302, 302, 302, 403),
    "requests_desk:fee": _per_role(302, 403, 302, 403),  # fees are decided by compliance (PP-31)
    "requests_desk:identify_member": _per_role(302, 302, 302, 403),
    "requests_desk:log_contact": _per_role(302, 302, 302, 403),
    # PP-29: building a failed access package again is compliance's (the world's package is ready: a message).
    "requests_desk:package_retry": _per_role(302, 403, 302, 403),
    "admin:consents_disclosure_decide": _per_role(302, 403, 302, 302),
    # PP-17: the service refuses whoever may not (a message); agents cannot see the records at all.
    "admin:consents_processingonground_approve": _per_role(302, 403, 302, 302),
    "admin:consents_processingonground_end": _per_role(302, 403, 302, 302),
    "admin:accounts_member_search": _everyone(302),
    "admin:accounts_transactionrecord_search": _everyone(302),
    # An empty confirmation is the import form again with its errors (nothing imported).
    "admin:accounts_member_process_import": _per_role(200, 403, 200, 403),
    "admin:accounts_relatedperson_process_import": _per_role(200, 403, 200, 403),
    "admin:accounts_transactionrecord_process_import": _per_role(200, 403, 200, 403),
    "consents:sms-inbound": _everyone(403, anon=403),  # unsigned
    "consents:site-events": _everyone(403, anon=403),  # unsigned
}


#: Admin actions offered on each changelist (and so runnable), by model and role. Not listed: none.
ACTIONS: dict[str, dict[str, set[str]]] = {
    "accounts.member": {"prepare_erasure": {CO, SV}},  # PP-02: prepared by compliance, approved by another
    "accounts.identitydocument": {"accept_documents": {CO, SV}, "reject_documents": {CO, SV}},
    "consents.policyversion": {"publish_selected": {CO, SV}},  # PP-39
    "consents.disclosure": {"approve_selected": {CO, SV}, "export_register_csv": {CO, SV, AU}},
    "consents.processingonground": {"approve_selected": {SV}},  # PP-17: a supervisor approves
    "requests_desk.request": {"close_duplicates": {CO, AG, SV}, "assign": {CO, AG, SV}, "extend": {CO, SV},
                              "fulfil": {CO, SV}},
    "retention.erasurerun": {"approve_runs": {SV}, "reject_runs": {CO, SV}, "retry_failed": {CO, SV}},
    # Running, enabling or stopping a scheduled job is changing the schedule (design decision 6).
    "django_celery_beat.periodictask": {"enable_tasks": {CO, SV}, "disable_tasks": {CO, SV},
                                        "toggle_tasks": {CO, SV}, "run_tasks": {CO, SV}},
}


def actions_for(label: str, role: str) -> set[str]:
    return {name for name, allowed in ACTIONS.get(label, {}).items() if role in allowed}


def offered_actions(response) -> set[str] | None:
    form = (response.context or {}).get("action_form") if response.status_code == 200 else None
    if form is None:
        return set() if response.status_code == 200 else None
    return {value for value, _label in form.fields["action"].choices if value}


# --- Walking the resolver --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Route:
    key: str  # "namespace:name", or "<namespace:unnamed> route" for unnamed patterns
    name: str | None
    route: str


def walk(patterns=None, prefix: str = "", namespace: str = "") -> list[Route]:
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            found += walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            key = f"{namespace}{pattern.name}" if pattern.name else f"<{namespace}unnamed> {route}"
            found.append(Route(key=key, name=pattern.name, route=route))
    return found


def _admin_models() -> dict[str, type]:
    """``"<app>_<model>_"`` name prefix -> model, longest first (app labels may hold underscores)."""
    prefixes = {f"{m._meta.app_label}_{m._meta.model_name}_": m for m in admin.site._registry}
    return dict(sorted(prefixes.items(), key=lambda item: -len(item[0])))


def classify(route: Route) -> tuple[str, type | None, str]:
    """(kind, model, suffix): kind is "model" for a ModelAdmin's own page, "view" otherwise."""
    if route.name is None:
        if route.route == "admin/(?P<url>.*)$":
            return "view", None, "admin:catch_all"
        match = re.fullmatch(r"admin/(\w+)/(\w+)/<path:object_id>/", route.route)
        if match:
            model = apps.get_model(match[1], match[2])
            return "model", model, "object_redirect"
        return "unknown", None, ""
    if route.key in VIEW_EXPECTED:
        return "view", None, route.key
    if route.key == "admin:app_list":
        return "app_list", None, ""
    if route.key.startswith("admin:"):
        name = route.key.removeprefix("admin:")
        for prefix, model in _admin_models().items():
            if name.startswith(prefix) and name.removeprefix(prefix) in MODEL_PAGE_RULES:
                return "model", model, name.removeprefix(prefix)
    return "unknown", None, ""


def model_label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def expected_get(route: Route, role: str, app_label: str | None = None) -> object:
    kind, model, suffix = classify(route)
    if kind == "view":
        return VIEW_EXPECTED[suffix][role]
    if role == ANON:
        return LOGIN  # every admin page sends anonymous users to the login page
    if kind == "app_list":
        visible = any(rights(label, role) for label in ADMIN_RIGHTS if label.split(".")[0] == app_label)
        return 200 if visible else 404
    return MODEL_PAGE_RULES[suffix](model_label(model), role)


# --- One object of every kind, for the URLs' arguments ------------------------------------------------
@dataclass
class World:
    media: object
    users: dict[str, object]
    objects: dict[str, object]  # model label -> the instance its pages are opened for
    member: Member
    document: IdentityDocument
    request: Request
    attachment_pk: int
    package_token: str
    extra: dict = field(default_factory=dict)


def staff_with_role(role: str, email: str):
    user = StaffUserFactory(email=email)
    user.groups.add(Group.objects.get(name=role))
    return user


def build_world(media) -> World:
    users = {role: staff_with_role(role, f"{role.replace(' ', '.')}@matrix.example") for role in STAFF_ROLES}
    for role in OTP_ROLES:
        device_for(users[role])  # their authenticator (tests.otp.verified_login signs in with it)
    officer, agent = users[CO], users[AG]
    target_staff = StaffUserFactory(email="colleague@matrix.example")
    today = timezone.localdate()

    seeded = seed_member(tag="matrixseed", institution=True, cancelled_days_ago=None, staff=officer)
    member = seeded.member
    document = member.documents.exclude(file="").order_by("pk").first()

    recipient = Recipient.objects.create(name="Regulator", kind="authority")
    disclosure = disclosures.disclosure_prepare(  # awaiting a second person's approval
        kind=DisclosureKind.SHARE, recipient=recipient, basis=DisclosureBasis.LAW, data_categories=["identity"],
        description="Court order 2024-17", members_queryset=Member.objects.filter(pk=member.pk), user=officer)
    draft = PolicyVersion.objects.create(version="matrix-2", text="Draft policy", change_kinds=[])

    def started(type_: str, subject=member) -> Request:
        created = lifecycle.request_create(
            type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.EMAIL, member=subject,
            requester_name="Requester", requester_email="requester@matrix.example", subject="About my data",
            user=agent,
        )
        workflow.transition(request=created, name="start", user=agent)
        IdentityCheck.objects.create(request=created, method=VerificationMethod.DOCUMENT_MATCH,
                                     evidence="document matched", verified_by=agent)
        return Request.objects.get(pk=created.pk)

    correction = started(RequestType.CORRECTION)  # has a "prepare" page
    message = message_record_inbound(
        request=correction, body="Please correct my name", subject="Correction",
        attachments=[IncomingAttachment(content=b"scan")],
    )
    access = started(RequestType.ACCESS)
    built = access_package.access_package_build(request=access, user=officer)
    access_package.package_download_record(package=built.package, ip_address="198.51.100.4",
                                           user_agent="matrix", staff_user=None)
    deletion = deletion_prepare(request=started(RequestType.DELETION, subject=MemberFactory()),
                                user=officer, note="ready for approval")
    ReminderLog.objects.create(request=correction, staff_user=agent, kind=ReminderKind.BEFORE_DUE, days_before=2,
                               due_at=correction.due_at)

    hold = retention_services.legal_hold_place(member=member, reason="Court case 2024-17", owner=officer)
    cancelled = MemberFactory(status=MemberStatus.CANCELLED,
                              cancelled_at=timezone.now() - datetime.timedelta(days=40))
    run = retention_services.erasure_run_prepare(member_ids=[cancelled.pk], prepared_by=officer)
    ErasureRecord.objects.create(subject_hash="0" * 64, trigger=ErasureTrigger.CANCELLATION,
                                 started_at=timezone.now(), finished_at=timezone.now(), engine_version="matrix")
    JobRun.objects.create(job="clear_expired_sessions", finished_at=timezone.now(), counts={"deleted": 0})
    retention_services.processing_review_record(
        processing="Marketing e-mails", reviewer=officer, reviewed_on=today, outcome=ReviewOutcome.COMPLIANT,
        next_due=today + datetime.timedelta(days=365))
    assessment = retention_services.impact_assessment_record(
        scope="Mobile app", risk_level=RiskLevel.LOW, assessed_on=today, assessor=officer,
        next_due=today + datetime.timedelta(days=365), report=ContentFile(b"%PDF-1.4 report", name="report.pdf"))

    device_for(target_staff)
    if "importbatch" in apps.all_models["accounts"]:
        apps.get_model("accounts", "ImportBatch").objects.create(
            model_label="accounts.Member", source="Partner Ltd, agreement 2024-7", imported_by=officer)
    if apps.is_installed("axes"):
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        seen = {"user_agent": "matrix", "ip_address": "198.51.100.9", "username": target_staff.email,
                "http_accept": "text/html", "path_info": "/admin/login/"}
        AccessAttempt.objects.create(**seen, get_data="", post_data="", failures_since_start=1)
        AccessFailureLog.objects.create(**seen)
        AccessLog.objects.create(**seen)
    schedule_sync()
    IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.DAYS)
    ClockedSchedule.objects.create(clocked_time=timezone.now() + datetime.timedelta(days=1))
    SolarSchedule.objects.get_or_create(event="sunrise", latitude=Decimal("31.2"), longitude=Decimal("121.5"))

    chosen = {
        "accounts.staffuser": target_staff,
        "accounts.member": member,
        "accounts.identitydocument": document,
        "consents.disclosure": disclosure,
        "consents.policyversion": draft,
        "requests_desk.request": correction,
        "retention.legalhold": hold,
        "retention.erasurerun": run,
        "retention.impactassessment": assessment,
    }
    objects = {}
    for model in admin.site._registry:
        label = model_label(model)
        obj = chosen.get(label) or model._default_manager.order_by("pk").first()
        assert obj is not None, f"The matrix's world has no {label}: create one in build_world()"
        if hasattr(model, "history") and not obj.history.exists():
            obj.save()  # rows written by data migrations have no history yet: give their pages one version
        objects[label] = obj
    return World(media=media, users=users, objects=objects, member=member, document=document, request=correction,
                 attachment_pk=message.attachments.get().pk, package_token=built.token,
                 extra={"access": access, "deletion": deletion, "disclosure": disclosure, "run": run, "hold": hold,
                        "draft": draft})


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, tmp_path_factory):
    """Built once for the module inside a transaction that is rolled back at its end; each test runs in
    a savepoint of it (pytest-django's ``db``), so what one test changes the next does not see."""
    media = tmp_path_factory.mktemp("matrix-media")
    hashers = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with (django_db_blocker.unblock(), override_settings(MEDIA_ROOT=media, PASSWORD_HASHERS=hashers),
          transaction.atomic()):
        yield build_world(media)
        transaction.set_rollback(True)


@pytest.fixture
def same_media(world, settings):
    settings.MEDIA_ROOT = world.media  # the files the world wrote (conftest gives each test its own root)
    return world


# --- Filling in URLs --------------------------------------------------------------------------------------
def _history_id(obj) -> int:
    found = obj.history.order_by("-history_id").values_list("history_id", flat=True).first()
    assert found is not None, f"{obj._meta.label} #{obj.pk} of the world has no history row"
    return found


def urls_for(route: Route, world: World) -> list[tuple[str, str]]:
    """(label, URL) pairs to request for ``route``; several for the app index (one per app)."""
    kind, model, suffix = classify(route)
    member, request = world.member, world.request
    if kind == "unknown":
        return []  # named by test_every_url_has_an_expectation
    if kind == "app_list":
        labels = sorted({m._meta.app_label for m in admin.site._registry})
        return [(f"admin:app_list[{label}]", reverse("admin:app_list", args=[label])) for label in labels]
    if kind == "model":
        obj = world.objects[model_label(model)]
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        if suffix == "object_redirect":
            return [(route.key, reverse(name + "change", args=[obj.pk]).removesuffix("change/"))]
        if suffix in ("change", "delete", "history"):
            return [(route.key, reverse(name + suffix, args=[obj.pk]))]
        if suffix == "simple_history":
            return [(route.key, reverse(name + suffix, args=[obj.pk, _history_id(obj)]))]
        if suffix in ("config", "qrcode"):
            return [(route.key, reverse(name + suffix, args=[obj.pk]))]
        return [(route.key, reverse(route.key))]
    fixed = {
        "admin:catch_all": "/admin/no-such-page/",
        "admin:autocomplete": reverse("admin:autocomplete") + "?app_label=accounts&model_name=member"
                                                            "&field_name=product_lines&term=",
        "admin:view_on_site": reverse("admin:view_on_site",
                                      args=[ContentType.objects.get_for_model(Member).pk, member.pk]),
        "admin:auth_user_password_change": reverse("admin:auth_user_password_change",
                                                   args=[world.objects["accounts.staffuser"].pk]),
        "accounts:reveal": reverse("accounts:reveal", args=["accounts.Member", member.pk, "email"]),
        "accounts:document_file": reverse("accounts:document_file", args=[world.document.pk]),
        "accounts:data_map_download": reverse("accounts:data_map_download", args=["fides"]),
        "admin:consents_timeline": reverse("admin:consents_timeline") + f"?member={member.member_number}",
        "admin:consents_disclosure_decide": reverse("admin:consents_disclosure_decide",
                                                    args=[world.extra["disclosure"].pk]),
        "admin:consents_processingonground_approve": reverse(
            "admin:consents_processingonground_approve", args=[world.objects["consents.processingonground"].pk]),
        "admin:consents_processingonground_end": reverse(
            "admin:consents_processingonground_end", args=[world.objects["consents.processingonground"].pk]),
        "admin:requests_desk_request_prepare": reverse("admin:requests_desk_request_prepare", args=[request.pk]),
        "admin:retention_legalhold_release": reverse("admin:retention_legalhold_release",
                                                     args=[world.extra["hold"].pk]),
        "admin:retention_impactassessment_report": reverse("admin:retention_impactassessment_report",
                                                           args=[world.objects["retention.impactassessment"].pk]),
        "requests_desk:request_detail": reverse("requests_desk:request_detail", args=[request.reference]),
        "requests_desk:request_transition": reverse("requests_desk:request_transition",
                                                    args=[request.reference, "submit_for_approval"]),
        "requests_desk:identity_check": reverse("requests_desk:identity_check", args=[request.reference]),
        "requests_desk:reply": reverse("requests_desk:reply", args=[request.reference]),
        "requests_desk:letter_language": reverse("requests_desk:letter_language", args=[request.reference]),
        "requests_desk:fee": reverse("requests_desk:fee", args=[request.reference]),
        "requests_desk:identify_member": reverse("requests_desk:identify_member", args=[request.reference]),
        "requests_desk:log_contact": reverse("requests_desk:log_contact", args=[request.reference]),
        "requests_desk:attachment": reverse("requests_desk:attachment",
                                            args=[request.reference, world.attachment_pk]),
        "packages:download": reverse("packages:download", args=[world.package_token]),
        "requests_desk:package_retry": reverse(
            "requests_desk:package_retry", args=[world.objects["requests_desk.accesspackage"].request.reference,
                                                 world.objects["requests_desk.accesspackage"].pk]),
    }
    if suffix in fixed:
        return [(route.key, fixed[suffix])]
    return [(route.key, reverse(suffix))]


def matrix_cases(world: World) -> list[tuple[Route, str, str]]:
    return [(route, label, url) for route in walk() for label, url in urls_for(route, world)]


def _login(client, world: World, role: str) -> None:
    if role in OTP_ROLES:
        verified_login(client, world.users[role])
    elif role != ANON:
        client.force_login(world.users[role])


def _outcome(response, expected) -> str | None:
    """None when ``response`` is what was expected, else what it was."""
    location = response.get("Location", "")
    if expected == LOGIN:
        ok = response.status_code == 302 and location.startswith(reverse("admin:login") + "?next=")
        return None if ok else f"{response.status_code} {location}".strip()
    return None if response.status_code == expected else f"{response.status_code} {location}".strip()


# --- The tests --------------------------------------------------------------------------------------------
def test_every_url_has_an_expectation():
    """A new page (or admin model, or custom admin view) without an entry in the tables fails here."""
    routes = walk()
    unknown = [route.key for route in routes if classify(route)[0] == "unknown"]
    assert not unknown, f"URLs without an expectation in the permission matrix: {unknown}"
    missing_rights = [model_label(m) for m in admin.site._registry if model_label(m) not in ADMIN_RIGHTS]
    assert not missing_rights, f"Admin models without a row in ADMIN_RIGHTS: {missing_rights}"
    keys = {route.key for route in routes} | {"admin:catch_all"}
    stale = [key for key in [*VIEW_EXPECTED, *POST_EXPECTED] if key not in keys]
    assert not stale, f"Expectations for URLs that no longer exist: {stale}"
    stale_models = [label for label in ADMIN_RIGHTS if apps.get_model(label) not in admin.site._registry]
    assert not stale_models, f"ADMIN_RIGHTS rows for models without an admin: {stale_models}"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pp25_every_page_answers_each_role_as_the_design_says(client, same_media, role):
    world = same_media
    client.raise_request_exception = False  # a 500 is an answer like any other here: listed, not raised
    _login(client, world, role)
    unexpected = []
    for route, label, url in matrix_cases(world):
        app_label = label.partition("[")[2].rstrip("]") or None
        expected = expected_get(route, role, app_label)
        response = client.get(url)
        problem = _outcome(response, expected)
        if problem:
            unexpected.append(f"{label} GET {url}: expected {expected}, got {problem}")
        kind, model, suffix = classify(route)
        if kind == "model" and suffix == "changelist" and response.status_code == 200:
            # Actions are POSTed to the changelist: what a role is offered is what it may run.
            offered, declared = offered_actions(response), actions_for(model_label(model), role)
            if offered != declared:
                unexpected.append(f"{label}: actions offered {sorted(offered)}, expected {sorted(declared)}")
    assert not unexpected, f"{role}: {len(unexpected)} unexpected answer(s):\n" + "\n".join(unexpected)


def test_pp25_a_compliance_officer_without_the_second_factor_reaches_no_page(client, same_media):
    """Signed in with the password only, an officer is sent to the OTP step from every URL (issue 7)."""
    world = same_media
    client.raise_request_exception = False
    client.force_login(world.users[CO])  # no OTP verification in this session
    verify = reverse("otp:verify")
    # Declared: the OTP step itself answers; sign-in and sign-out are open to finish or leave it.
    own = {"otp:verify": 200, "admin:login": 302, "admin:logout": 405}
    unexpected = []
    for route, label, url in matrix_cases(world):
        response = client.get(url)
        if route.key in own:
            ok = response.status_code == own[route.key]
        else:
            ok = response.status_code == 302 and response["Location"].startswith(verify)
        if not ok:
            unexpected.append(f"{label} GET {url}: {response.status_code} {response.get('Location', '')}")
    assert not unexpected, "Without OTP:\n" + "\n".join(unexpected)


def test_pp29_a_wrong_or_expired_package_link_is_a_404_for_everyone(client, same_media):
    """The one public page that answers 200 (the matrix) does so only for a live link's token."""
    world = same_media
    package = world.extra["access"].packages.get()
    for role in ALL_ROLES:
        _login(client, world, role)
        assert client.get(reverse("packages:download", args=["x" * 43])).status_code == 404, role
    package.expires_at = timezone.now() - datetime.timedelta(seconds=1)
    package.save(update_fields=["expires_at"])
    assert client.get(reverse("packages:download", args=[world.package_token])).status_code == 404


# --- POSTs ------------------------------------------------------------------------------------------------
def snapshot(*models) -> dict[str, list]:
    """Every row of ``models`` (values), to prove a refused request changed nothing."""
    return {m._meta.label: list(m._default_manager.order_by("pk").values()) for m in models}


def fingerprint() -> dict[str, list]:
    """Every row of every table the back office keeps (live, history, logs), sessions and sign-in logs aside."""
    skip = {"sessions", "axes", "contenttypes"}
    return snapshot(*(m for m in apps.get_models() if m._meta.app_label not in skip))


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pp25_actions_a_role_may_not_run_change_nothing(client, same_media, role):
    """A POSTed action the role is not offered (a forged form) is refused and writes nothing."""
    world = same_media
    _login(client, world, role)
    problems = []
    for label, actions in ACTIONS.items():
        model = apps.get_model(label)
        url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        pks = list(model._default_manager.order_by("pk").values_list("pk", flat=True)[:5])
        for action, allowed in actions.items():
            if role in allowed:
                continue
            before = fingerprint()
            response = client.post(url, {"action": action, ACTION_CHECKBOX_NAME: pks, "index": 0, "apply": "1",
                                         "note": "forged", "reason": "forged reason", "notify": ""})
            if role == ANON:
                expected = LOGIN
            elif not _can_view(label, role):
                expected = 403
            else:
                # With some actions the form is checked ("no action selected", back to the list); with
                # none the POST is just the list shown again.
                expected = 302 if actions_for(label, role) else 200
            problem = _outcome(response, expected)
            if problem:
                problems.append(f"{label} {action}: expected {expected}, got {problem}")
            if fingerprint() != before:
                problems.append(f"{label} {action}: the database changed")
    assert not problems, f"{role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pp25_post_only_endpoints_answer_each_role_as_the_design_says(client, same_media, role):
    world = same_media
    _login(client, world, role)
    problems = []
    for route in walk():
        if route.key not in POST_EXPECTED:
            continue
        for label, url in urls_for(route, world):
            problem = _outcome(client.post(url, {}), POST_EXPECTED[route.key][role])
            if problem:
                problems.append(f"{label} POST {url}: expected {POST_EXPECTED[route.key][role]}, got {problem}")
    assert not problems, f"{role}:\n" + "\n".join(problems)


def _form_data(response) -> dict:
    """The values a change form shows, as a browser would post them back."""
    form = response.context["adminform"].form
    data = {}
    for bound in form:
        value = bound.value()
        if value is None or hasattr(value, "read"):
            continue
        data[bound.html_name] = [str(v) for v in value] if isinstance(value, list | tuple) else str(value)
    return data


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pp25_model_pages_refuse_writes_the_rights_do_not_allow(client, same_media, role):
    """Change, add and delete POSTs by a role without that right are refused and change nothing; a
    historical version is never restored by anyone (a revert would bypass the services: style rule 7)."""
    world = same_media
    client.raise_request_exception = False
    _login(client, world, role)
    problems = []
    for model in admin.site._registry:
        label = model_label(model)
        obj = world.objects[label]
        name = f"admin:{model._meta.app_label}_{model._meta.model_name}_"
        attempts = []
        if "c" not in rights(label, role):
            attempts.append(("change", reverse(name + "change", args=[obj.pk]), {}))
        if "a" not in rights(label, role):
            attempts.append(("add", reverse(name + "add"), {}))
        if "d" not in rights(label, role):
            attempts.append(("delete", reverse(name + "delete", args=[obj.pk]), {"post": "yes"}))
        if hasattr(model, "history"):
            oldest = obj.history.order_by("history_id").values_list("history_id", flat=True).first()
            url = reverse(name + "simple_history", args=[obj.pk, oldest])
            page = client.get(url)
            data = _form_data(page) if page.status_code == 200 and page.context else {}
            attempts.append(("revert", url, {**data, "_save": "Save"}))
        for what, url, data in attempts:
            before = snapshot(model, *([model.history.model] if hasattr(model, "history") else []))
            expected = LOGIN if role == ANON else 403
            problem = _outcome(client.post(url, data), expected)
            if problem:
                problems.append(f"{label} {what} POST {url}: expected {expected}, got {problem}")
            if snapshot(model, *([model.history.model] if hasattr(model, "history") else [])) != before:
                problems.append(f"{label} {what} POST {url}: the table changed")
    assert not problems, f"{role}: {len(problems)} problem(s):\n" + "\n".join(problems)


def _import_file() -> SimpleUploadedFile:
    header = "member_number,kind,status,nationality,legal_name,date_of_birth,email,phone,product_lines\r\n"
    row = "IMP000001,individual,active,cn,Person One,1990-05-17,p1@mail.example,+86 138 0000 0001,spot\r\n"
    return SimpleUploadedFile("members.csv", (header + row).encode(), content_type="text/csv")


#: Disclosing or destructive POSTs outside the model pages: (what, URL, data, roles allowed). Every
#: other role is refused (its expected code below) and the database is left exactly as it was.
def dangerous_posts(world: World) -> list[tuple[str, str, object, set[str], dict[str, object]]]:
    member, reason = world.member, {"reason": "Ticket DSR-1234: checking the requester's e-mail"}
    deletion = world.extra["deletion"]
    return [
        ("reveal an e-mail (PP-25)", reverse("accounts:reveal", args=["accounts.Member", member.pk, "email"]),
         reason, {CO, SV}, _per_role(None, 403, None, 403)),
        ("download an identity document (PP-25)", reverse("accounts:document_file", args=[world.document.pk]),
         reason, {CO, SV}, _per_role(None, 403, None, 403)),
        ("release a legal hold (PP-29)", reverse("admin:retention_legalhold_release", args=[world.extra["hold"].pk]),
         {"release_reason": "The court case is closed now."}, {CO, SV}, _per_role(None, 403, None, 403)),
        # Four eyes (PP-22, PP-23): the officer prepared this disclosure and may not approve it.
        ("approve a disclosure", reverse("admin:consents_disclosure_decide", args=[world.extra["disclosure"].pk]),
         {"decision": "approve", "note": "ok"}, {SV}, _per_role(302, 403, None, 302)),
        # Deletions are approved by a supervisor other than the preparer (PP-29); the queue refuses others.
        ("fulfil a deletion at the desk", reverse("requests_desk:request_transition",
                                                  args=[deletion.reference, "fulfil"]),
         {"fulfil-note": "approved", "fulfil-notify": ""}, {SV}, _per_role(302, 302, None, 403)),
        ("prepare a correction", reverse("admin:requests_desk_request_prepare", args=[world.request.pk]),
         {"legal_name": "Someone Else"}, {CO, AG, SV}, _per_role(None, None, None, 403)),
        ("set another staff user's password",
         reverse("admin:auth_user_password_change", args=[world.objects["accounts.staffuser"].pk]),
         {"password1": "a-new-long-password-42", "password2": "a-new-long-password-42", "usable_password": "true"},
         set(), _everyone(403)),
        ("import members", reverse("admin:accounts_member_import"),
         lambda: {"import_file": _import_file(), "format": "0", "resource": "0",
                  "source": "Partner Ltd, data-sharing agreement 2024-7"}, {CO, SV},
         _per_role(None, 403, None, 403)),
        ("take the next request", reverse("requests_desk:take_next"), {}, {CO, AG, SV},
         _per_role(None, None, None, 403)),
        ("record a fee (PP-31)", reverse("requests_desk:fee", args=[world.request.reference]),
         {"fee_amount": "10.00", "fee_reason": "Repeated request"}, {CO, SV}, _per_role(None, 403, None, 403)),
    ]


@pytest.mark.parametrize("role", ALL_ROLES)
def test_pp25_disclosing_and_destructive_posts_by_other_roles_change_nothing(client, same_media, role):
    world = same_media
    _login(client, world, role)
    problems = []
    for what, url, data, allowed, refused in dangerous_posts(world):
        if role in allowed:
            continue
        expected = LOGIN if role == ANON else refused[role]
        before = fingerprint()
        problem = _outcome(client.post(url, data() if callable(data) else data), expected)
        if problem:
            problems.append(f"{what} (POST {url}): expected {expected}, got {problem}")
        if fingerprint() != before:
            problems.append(f"{what} (POST {url}): the database changed")
    assert not problems, f"{role}:\n" + "\n".join(problems)


def test_the_dangerous_posts_do_act_for_the_roles_allowed(client, same_media):
    """The refusals above are refusals: the same POSTs by an allowed role change the database."""
    world = same_media
    silent = []
    for what, url, data, allowed, _refused in dangerous_posts(world):
        for role in sorted(allowed):
            _login(client, world, role)
            with transaction.atomic():
                before = fingerprint()
                response = client.post(url, data() if callable(data) else data)
                # An import's first step is a preview (nothing written until it is confirmed).
                previewed = "confirm_form" in (response.context or {})
                if fingerprint() == before and not previewed:
                    silent.append(f"{what} by {role}")
                transaction.set_rollback(True)
    assert not silent, f"Allowed POSTs that did nothing (the test data is wrong): {silent}"
