"""Issue 7, requirement 4: canary values typed into the main flows leak nowhere (PP-25, PP-26, PP-02).

One member is created in the admin (the add form, with a bank account inline), an identity document is
uploaded, its number revealed with a reason, a request made at the desk and answered, the members
exported, the account cancelled at the desk and the member erased by the retention job. Every value
typed is a canary. Then:

- **logs**: every logger at DEBUG (what ``LOG_LEVEL=DEBUG`` gives, and more), one handler on the root
  logger (and on the loggers that do not propagate) records every line, tracebacks included: no canary.
  Two loggers keep the level ``config/settings.py`` pins for them whatever ``LOG_LEVEL`` says, and the
  test checks the pins are there: ``django.template`` (at DEBUG it logs the whole template context on
  every missing variable, a revealed ID number included: the leak this test found) and
  ``django.db.backends`` (SQL with its parameters, logged only when ``DEBUG`` is on or a debug cursor
  is forced, which production never does). What SQL carries is checked more strictly instead: every
  statement of the flows is captured, and no value of an *encrypted* field (ID number, bank account,
  e-mail, phone, date of birth) is in any of them: they are encrypted before they leave the process.
  Plain-text columns (names) are in SQL by design, so they are not checked there.
- **admin log entries** (``object_repr``, ``change_message``): no canary;
- **URLs**: every URL requested, every redirect, every link and form action of every page: no canary;
- **the database**: every column of every table, history tables included, read with raw SQL: no
  encrypted field's canary in plain text; after the erasure no canary at all, and no file holds one;
- **error pages** (400, 403, 404, 500 with DEBUG off): the project's templates, showing no data.

The scanners are those of ``tests/retention/test_canary_scan.py`` (the erasure proof).
"""

from __future__ import annotations

import datetime
import logging
import re
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdentityDocument, Member, PaymentInstrument
from requests_desk import selectors as desk_selectors
from requests_desk.models import Request
from retention.erasure.records import was_erased
from retention.jobs.cancelled import anonymise_cancelled
from tests.accounts.test_admin_members import page_urls
from tests.factories import valid_cn_id
from tests.otp import verified_login
from tests.retention.test_canary_scan import scan_database, scan_media

# With the second factor enforced (issue 7): the officer signs in as in production.
pytestmark = [pytest.mark.django_db, pytest.mark.otp]

BORN = datetime.date(1937, 3, 7)
CANARY_NAME = "CANARY-NAME-7f3a"
CANARY_LOCAL_NAME = "CANARY-LOCAL-7f3a"
CANARY_REQUESTER = "CANARY-REQUESTER-7f3a"
CANARY_EMAIL = "canary.7f3a@mail.example"
CANARY_PHONE = "+86 139 7357 0731"
CANARY_ID = valid_cn_id(731, born=BORN)  # passes accounts.members.validators (PRC resident ID, GB 11643)
CANARY_BANK = "6217 0073 5731 7315 442"
CANARY_FILE_TEXT = "CANARY-SCAN-7f3a"
MEMBER_NUMBER = "M073573101"


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


#: Values of encrypted fields: never in plain text in the database, in SQL, anywhere.
ENCRYPTED = [CANARY_EMAIL, CANARY_PHONE, _digits(CANARY_PHONE), CANARY_ID, CANARY_BANK, _digits(CANARY_BANK),
             BORN.isoformat()]
#: Everything typed: never in a log line, a log entry, a URL; after the erasure, nowhere at all.
EVERYTHING = [CANARY_NAME, CANARY_LOCAL_NAME, CANARY_REQUESTER, CANARY_FILE_TEXT, *ENCRYPTED]


def url_forms(value: str) -> list[str]:
    """How a value looks inside a URL."""
    return sorted({value, quote(value), quote_plus(value), quote(value, safe="")})


def found_in(text: str, needles: list[str]) -> list[str]:
    return [needle for needle in needles if needle in text]


# --- Capturing -------------------------------------------------------------------------------------------
class Recorder(logging.Handler):
    """Keeps every formatted record (message, arguments and traceback)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


#: Loggers the settings hold above DEBUG whatever LOG_LEVEL says (see the module docstring).
PINNED = {"django.template": "INFO", "django.db.backends": "INFO"}


def test_the_settings_pin_the_loggers_that_would_log_data_at_debug():
    configured = settings.LOGGING["loggers"]
    for name, level in PINNED.items():
        assert configured.get(name, {}).get("level") == level, f"LOGGING must keep {name} at {level}"


def _pinned(name: str) -> bool:
    return any(name == pinned or name.startswith(pinned + ".") for pinned in PINNED)


@pytest.fixture
def all_logs():
    recorder = Recorder()
    root = logging.getLogger()
    loggers = [root] + [
        logging.getLogger(name) for name, obj in list(logging.root.manager.loggerDict.items())
        if isinstance(obj, logging.Logger) and not _pinned(name)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    attached = [logger for logger in loggers if logger is root or not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    for logger in attached:
        logger.addHandler(recorder)
    yield recorder
    for logger in attached:
        logger.removeHandler(recorder)
    for logger, level, disabled in saved:
        logger.setLevel(level)
        logger.disabled = disabled


class Browser:
    """The test client, remembering every URL requested, redirected to, or linked from a page."""

    def __init__(self, client):
        self.client = client
        self.urls: list[str] = []

    def _seen(self, url: str, response):
        self.urls.append(url)
        if response.get("Location"):
            self.urls.append(response["Location"])
        if "text/html" in response.get("Content-Type", "") and not response.streaming:
            self.urls.extend(page_urls(response.content.decode()))
        return response

    def get(self, url, data=None, **extra):
        return self._seen(url, self.client.get(url, data, **extra))

    def post(self, url, data=None, **extra):
        return self._seen(url, self.client.post(url, data or {}, **extra))

    def login(self, user):
        verified_login(self.client, user)


# --- The flows -------------------------------------------------------------------------------------------
def _expect(response, status: int):
    assert response.status_code == status, response.content.decode(errors="replace")[:3000]
    return response


def _empty_inlines(add_page) -> dict[str, str]:
    data = {}
    for inline in add_page.context["inline_admin_formsets"]:
        prefix = inline.formset.prefix
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
                     f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"})
    return data


def create_member_in_the_admin(browser: Browser) -> Member:
    add = _expect(browser.get(reverse("admin:accounts_member_add")), 200)
    data = {
        **_empty_inlines(add),
        "member_number": MEMBER_NUMBER, "kind": "individual", "nationality": "CN", "legal_name": CANARY_NAME,
        "local_name": CANARY_LOCAL_NAME, "date_of_birth": BORN.isoformat(), "email": CANARY_EMAIL,
        "phone": CANARY_PHONE,
        # A bank account, in the payment-instruments inline of the same form.
        "payment_instruments-TOTAL_FORMS": "1", "payment_instruments-0-kind": "bank_account",
        "payment_instruments-0-bank_name": "Demo Bank", "payment_instruments-0-number": CANARY_BANK,
    }
    _expect(browser.post(reverse("admin:accounts_member_add"), data), 302)
    member = Member.objects.get(member_number=MEMBER_NUMBER)
    assert member.legal_name == CANARY_NAME and member.email == CANARY_EMAIL
    assert PaymentInstrument.objects.get(member=member).number == CANARY_BANK
    return member


def upload_identity_document(browser: Browser, member: Member) -> IdentityDocument:
    scan = SimpleUploadedFile(f"{CANARY_NAME} passport.pdf", f"%PDF-1.4 {CANARY_FILE_TEXT}".encode(),
                              content_type="application/pdf")
    _expect(browser.post(reverse("admin:accounts_identitydocument_add"), {
        "member": member.pk, "kind": "national_id", "issuing_country": "CN", "number": CANARY_ID,
        "expires_on": "2031-01-01", "file": scan,
    }), 302)
    document = IdentityDocument.objects.get(member=member)
    assert document.number == CANARY_ID
    return document


def reveal_the_id_number(browser: Browser, document: IdentityDocument) -> None:
    url = reverse("accounts:reveal", args=["accounts.identitydocument", document.pk, "number"])
    _expect(browser.get(url), 200)
    revealed = _expect(browser.post(url, {"reason": "Ticket DSR-0001: checking the document number"}), 200)
    assert CANARY_ID in revealed.content.decode()  # shown in the body of the POST response, and only there


def request_at_the_desk_and_reply(browser: Browser, member: Member) -> Request:
    _expect(browser.post(reverse("requests_desk:intake"), {
        "type": "access", "requester_kind": "member", "channel": "email", "member": member.member_number,
        "requester_name": CANARY_REQUESTER, "requester_email": CANARY_EMAIL, "priority": "2",
        "subject": "Copy of my data", "description": f"I am {CANARY_NAME}; please send me my data.",
        "acknowledge": "on",
    }), 302)
    request = Request.objects.get(member=member, type="access")
    detail = reverse("requests_desk:request_detail", args=[request.reference])
    _expect(browser.get(detail), 200)
    _expect(browser.post(reverse("requests_desk:reply", args=[request.reference]), {
        "template": "verification_request", "note": f"Dear {CANARY_REQUESTER}, please confirm your identity.",
    }), 302)
    _expect(browser.get(detail), 200)
    return request


def export_members(browser: Browser) -> bytes:
    columns = ["member_number", "legal_name", "local_name", "date_of_birth", "email", "phone"]
    response = _expect(browser.post(reverse("admin:accounts_member_export"), {
        "format": "0", "resource": "0", **{f"memberresource_{name}": "on" for name in columns},
    }), 200)
    assert CANARY_EMAIL in response.content.decode()  # compliance may reveal: the export is unmasked
    return response.content


def cancel_at_the_desk(browser: Browser, member: Member) -> None:
    _expect(browser.post(reverse("requests_desk:intake"), {
        "type": "account_cancellation", "requester_kind": "member", "channel": "email",
        "member": member.member_number, "requester_name": CANARY_REQUESTER, "requester_email": CANARY_EMAIL,
        "priority": "2", "subject": "Close my account",
    }), 302)
    request = Request.objects.get(member=member, type="account_cancellation")
    ref = request.reference
    _expect(browser.post(reverse("requests_desk:request_transition", args=[ref, "start"]), {}), 302)
    _expect(browser.post(reverse("requests_desk:identity_check", args=[ref]), {
        "method": "document_match", "evidence": "passport matched the account",
    }), 302)
    _expect(browser.post(reverse("requests_desk:request_transition", args=[ref, "fulfil"]), {
        "fulfil-note": "", "fulfil-notify": "on",
    }), 302)
    member.refresh_from_db()
    assert member.status == "cancelled", "the desk's fulfilment cancels the account (PP-33)"


def erase_by_the_job(member: Member, capture_on_commit) -> None:
    later = timezone.now() + datetime.timedelta(days=settings.CANCELLATION_GRACE_DAYS + 1)
    with capture_on_commit(execute=True):
        result = anonymise_cancelled(now=later)
    assert result.as_dict()["erased"] == 1, result.as_dict()
    assert was_erased(MEMBER_NUMBER)


# --- The test --------------------------------------------------------------------------------------------
def test_pp25_pp26_canaries_typed_into_the_main_flows_leak_nowhere(
    client, compliance_officer, all_logs, django_capture_on_commit_callbacks,
):
    browser = Browser(client)
    browser.login(compliance_officer)
    with CaptureQueriesContext(connection) as queries:
        member = create_member_in_the_admin(browser)
        document = upload_identity_document(browser, member)
        reveal_the_id_number(browser, document)
        request_at_the_desk_and_reply(browser, member)
        export_members(browser)
        _expect(browser.get(reverse("admin:accounts_member_change", args=[member.pk])), 200)
        _expect(browser.get(reverse("admin:accounts_member_history", args=[member.pk])), 200)
        cancel_at_the_desk(browser, member)

    # SQL: encrypted before it leaves the process.
    in_sql = {needle for query in queries.captured_queries for needle in found_in(query["sql"], ENCRYPTED)}
    assert not in_sql, f"plain text of encrypted fields in SQL: {sorted(in_sql)}"
    # The capture saw the flows, parameters included (a plain-text column's value is there).
    assert any(CANARY_NAME in query["sql"] for query in queries.captured_queries)

    # The database: no encrypted value in plain text, live tables and history alike.
    stored = scan_database(EVERYTHING)
    assert not {needle: where for needle, where in stored.items() if needle in ENCRYPTED}, dict(stored)
    # The scan works: the legal name is a plain-text column, in the member's table and its history.
    assert {"accounts_member.legal_name", "accounts_historicalmember.legal_name"} <= stored[CANARY_NAME]
    assert not [where for where in stored.get(CANARY_NAME, ()) if where.endswith("history_change_reason")]

    # Admin log entries: what changed is named, never a value.
    for entry in LogEntry.objects.all():
        leaked = found_in(f"{entry.object_repr} {entry.change_message}", EVERYTHING)
        assert not leaked, f"LogEntry #{entry.pk} holds {leaked}"
    assert LogEntry.objects.filter(object_id=str(member.pk)).exists()

    erase_by_the_job(member, django_capture_on_commit_callbacks)

    # After the erasure: nothing anywhere, and no file holds the scan.
    assert dict(scan_database(EVERYTHING)) == {}
    assert dict(scan_media([CANARY_FILE_TEXT, CANARY_NAME])) == {}

    # No log line, tracebacks included, and no URL.
    assert len(all_logs.lines) > 5  # the handler heard the flows
    leaked_logs = [line for line in all_logs.lines if found_in(line, EVERYTHING)]
    assert not leaked_logs, "canaries in log output:\n" + "\n".join(leaked_logs)
    needles = [form for value in EVERYTHING for form in url_forms(value)]
    leaked_urls = sorted({url for url in browser.urls if found_in(url, needles)})
    assert not leaked_urls, f"canaries in URLs: {leaked_urls}"
    assert len(browser.urls) > 100


# --- Error pages -----------------------------------------------------------------------------------------
TEMPLATES = Path(settings.BASE_DIR) / "templates"


def test_the_project_has_its_own_error_pages():
    for code in (400, 403, 404, 500):
        template = TEMPLATES / f"{code}.html"
        assert template.is_file(), f"templates/{code}.html is missing"
        text = template.read_text()
        # Static pages: no variable, no tag, so they can show nothing about the request or the error;
        # only their fixed texts in the staff user's language (issue 16: translate tags and the page's lang).
        fixed_texts = r'{% (load i18n|get_current_language as LANGUAGE_CODE|translate "[^"{}%]*") %}'
        fixed_texts += r'|{{ LANGUAGE_CODE }}'
        text = re.sub(fixed_texts, "", text)
        assert "{{" not in text and "{%" not in text, f"templates/{code}.html renders data"
        assert "<script" not in text and "style=" not in text  # nothing the Content-Security-Policy refuses


@pytest.fixture
def known_member(db):
    from tests.factories import MemberFactory

    return MemberFactory(legal_name=CANARY_NAME, email=CANARY_EMAIL, phone=CANARY_PHONE)


def _assert_bare(response, status: int, *needles: str):
    assert response.status_code == status
    body = response.content.decode()
    leaked = found_in(body, [n for value in needles for n in url_forms(value)])
    assert not leaked, f"{status} page shows {leaked}"
    assert "Traceback" not in body and "settings" not in body.lower()
    return body


def test_pp25_error_pages_show_no_data_with_debug_off(client, settings, agent, known_member, monkeypatch):
    settings.DEBUG = False
    assert (TEMPLATES / "404.html").is_file()
    client.force_login(agent)

    # 404: a path and a query string that carry personal data are not echoed.
    body = _assert_bare(client.get(f"/desk/r/{CANARY_NAME}/", {"email": CANARY_EMAIL}), 404,
                        CANARY_NAME, CANARY_EMAIL)
    assert "not found" in body.lower()
    _assert_bare(client.get(f"/no-such-page/{CANARY_ID}/"), 404, CANARY_ID)

    # 403: an agent may not reveal; the page says so and nothing else.
    url = reverse("accounts:reveal", args=["accounts.member", known_member.pk, "email"])
    body = _assert_bare(client.get(url), 403, CANARY_EMAIL, known_member.member_number)
    assert "permission" in body.lower() or "forbidden" in body.lower()

    # 400: a request for a host the site does not serve.
    _assert_bare(client.get(f"/desk/?q={CANARY_NAME}", HTTP_HOST="evil.example"), 400, CANARY_NAME)

    # 500: a page that fails half-way; the body is the static page, not the error.
    def broken(*args, **kwargs):
        raise RuntimeError("the dashboard query failed")

    monkeypatch.setattr(desk_selectors, "dashboard", broken)
    client.raise_request_exception = False
    body = _assert_bare(client.get("/desk/dashboard/", {"member": CANARY_NAME}), 500, CANARY_NAME)
    assert re.search("server error|went wrong", body, re.I)
