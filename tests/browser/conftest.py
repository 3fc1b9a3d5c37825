"""Browser tests (issue 7, requirement 5): Playwright's sync API drives Debian's Chromium against
pytest-django's ``live_server``, through the real login page, taking a screenshot of every step.

- Chromium: ``/usr/bin/chromium`` (``apt-get install -y chromium``), or the path in ``CHROMIUM_PATH``.
  Playwright's own browser downloads are never used. Without Chromium, ``make test`` deselects these
  tests and says so in its closing lines (``tests/availability.py``); with ``BROWSER_TESTS=required``
  (CI) a missing Chromium fails them with the instruction to install it.
- Screenshots: ``BROWSER_SCREENSHOTS`` (default ``<repo>/.browser-screenshots/``), one folder per
  test, files numbered in step order.
- Every page is watched: a script error, a console error or a failed (4xx/5xx) request for a page,
  style sheet or script fails the test at teardown (broken JavaScript, CSRF or a missing static file
  show up only in a browser).
- The live server runs in a thread of this process: ``django.core.mail.outbox`` (locmem backend, set
  by pytest-django) holds what it sends, and the eager Celery setting of ``tests/conftest.py``
  applies to it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connections

from accounts.staff import otp
from tests.availability import chromium_path
from tests.factories import TEST_PASSWORD
from tests.otp import totp_token

CHROMIUM = chromium_path()
SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS") or settings.BASE_DIR / ".browser-screenshots")
#: Milliseconds a step may take (an erasure or an import on two busy cores included).
STEP_TIMEOUT_MS = 30_000
#: Requests whose failure is not the page's fault: the favicon Chromium asks for by itself.
IGNORED_FAILURES = re.compile(r"/favicon\.ico$")
INSTALL_HINT = (
    "Install it with `apt-get update && apt-get install -y chromium` (Debian; .ci/run does this in CI), or set "
    "CHROMIUM_PATH to a Chromium binary. Not `playwright install`: the browser comes from the OS packages."
)


def chromium_or_fail() -> Path:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: the browser tests need it. "
            + INSTALL_HINT,
            pytrace=False,
        )
    return CHROMIUM


class Person:
    """One staff member at their own browser (own cookies): a page, screenshots, the login."""

    def __init__(self, suite: BrowserSuite, name: str, context):
        self.suite = suite
        self.name = name
        self.context = context
        self.page = context.new_page()
        self.page.set_default_timeout(STEP_TIMEOUT_MS)
        self.suite.watch(self.page, name)

    def shot(self, step: str) -> Path:
        """Screenshot of the whole page, named ``NN-<person>-<step>.png`` in the test's folder."""
        return self.suite.shot(self.page, f"{self.name}-{step}")

    def goto(self, path: str):
        return self.page.goto(self.suite.base_url + path)

    def login(self, user, *, next_path: str = "/desk/", password: str = TEST_PASSWORD) -> None:
        """Log in through the real login page (the admin's), typing the user's current TOTP code if they
        have an authenticator (``tests.otp.device_for``), as a person with the app on their phone would.

        ``next_path`` is opened first; not being logged in, the browser is sent to the login page,
        and after it back to ``next_path``.
        """
        page = self.page
        self.goto(next_path)
        page.wait_for_selector("input[name=username]")
        assert "/login/" in page.url, f"{next_path} did not ask for a login: {page.url}"
        page.fill("input[name=username]", user.get_username())
        page.fill("input[name=password]", password)
        self._fill_token_if_asked(user)
        self.shot("login-form")
        page.locator("form#login-form [type=submit], form [type=submit]").first.click()
        page.wait_for_load_state()
        # A session signed in without its code is asked for it on a page of its own.
        if "/otp/verify/" in page.url and self._fill_token_if_asked(user):
            self.shot("login-token")
            page.locator("form [type=submit]").first.click()
            page.wait_for_load_state()
        arrived = urlsplit(page.url)
        assert arrived.path == urlsplit(next_path).path, (
            f"sign-in of staff user {user.pk} did not reach {next_path}: at {arrived.path} ({self._errors()})"
        )
        self.shot("logged-in")

    def _fill_token_if_asked(self, user) -> bool:
        """Type the authenticator's current code where the page has a code field and the user a device.

        Staff without an authenticator leave the field empty: the server decides whether the
        password alone is enough (agents) or sends them to enrolment (tests marked ``otp``).
        """
        field = self.page.locator("input[name=otp_token]")
        if not field.count() or not field.first.is_visible():
            return False
        device = otp.confirmed_device(user)
        if device is None:
            return False
        field.first.fill(totp_token(device))
        return True

    def _errors(self) -> str:
        notes = self.page.locator(".errornote, .errorlist")
        return " / ".join(notes.all_inner_texts()) or "no error shown"

    def messages(self) -> list[str]:
        """The messages framework's notices on the current page (desk and admin)."""
        return [text.strip() for text in self.page.locator("ul.messages li, ul.messagelist li").all_inner_texts()]


class BrowserSuite:
    """One test's browser: people (contexts), numbered screenshots and the page-problem watch."""

    def __init__(self, browser, base_url: str, folder: Path):
        self.browser = browser
        self.base_url = base_url
        self.folder = folder
        self.step = 0
        self.problems: list[str] = []
        self.people: list[Person] = []

    def person(self, name: str) -> Person:
        context = self.browser.new_context(base_url=self.base_url, viewport={"width": 1280, "height": 900},
                                           locale="en-GB", timezone_id="UTC")
        found = Person(self, name, context)
        self.people.append(found)
        return found

    def shot(self, page, label: str) -> Path:
        self.step += 1
        path = self.folder / f"{self.step:02d}-{re.sub(r'[^a-z0-9]+', '-', label.lower()).strip('-')}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def watch(self, page, who: str) -> None:
        def on_page_error(error):
            self.problems.append(f"{who}: script error on {page.url}: {error}")

        def on_console(message):
            # A failed load is reported by on_response (with the favicon left out), not twice.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.problems.append(f"{who}: console error on {page.url}: {message.text}")

        def on_response(response):
            kind = response.request.resource_type
            watched = kind in ("document", "stylesheet", "script", "image", "font")
            if response.status >= 400 and watched and not IGNORED_FAILURES.search(response.url):
                self.problems.append(f"{who}: {response.status} for {kind} {response.url}")

        page.on("pageerror", on_page_error)
        page.on("console", on_console)
        page.on("response", on_response)

    def close(self) -> None:
        for person in self.people:
            person.context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Remember whether the test body failed, so the browser fixture can photograph the pages as they were."""
    report = yield
    if report.when == "call":
        item.browser_test_failed = report.failed
    return report


@pytest.fixture
def browser(live_server, monkeypatch, request) -> Iterator[BrowserSuite]:
    """Headless Chromium against the live server; fails the test if any page had a script or load problem.

    Playwright's sync API runs an asyncio loop in this thread while the browser is open, so Django
    would refuse the test's own ORM calls as "async unsafe"; they are plain synchronous calls between
    browser steps, hence DJANGO_ALLOW_ASYNC_UNSAFE for this test only.
    """
    executable = chromium_or_fail()
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    folder = SCREENSHOTS / re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(executable), headless=True)
        suite = BrowserSuite(chromium, live_server.url, folder)
        try:
            yield suite
        finally:
            if getattr(request.node, "browser_test_failed", False):
                for person in suite.people:
                    try:
                        person.shot("at-failure")
                    except Exception as exc:  # a crashed page: the test's own failure says more
                        suite.problems.append(f"{person.name}: no screenshot at failure ({exc})")
            suite.close()
            chromium.close()
            # While Playwright's loop runs, Django keeps this thread's database connections in a
            # context variable (asgiref's Local): the test body used connections of its own. Close
            # them here, still inside that context, or PostgreSQL cannot drop the test database.
            connections.close_all()
    if suite.problems:
        pytest.fail("The pages had problems a browser shows:\n" + "\n".join(suite.problems), pytrace=False)
