"""Which tests can run on this machine, decided once, and said at the end of every run (issue 12).

README's second command, ``make test``, must pass on a fresh clone that has only what ``make run``
installs. Three groups of tests need more than that, and each is *deselected* (not skipped) where its
need is missing, with a line in the run's closing summary saying what did not run, why, and how to
run it:

- ``browser``: headless Chromium (``/usr/bin/chromium`` or ``CHROMIUM_PATH``). ``BROWSER_TESTS``:
  ``auto`` (default: run when Chromium is there), ``required`` (CI: a missing Chromium fails the
  run), ``off``.
- ``celery_worker``: a real Celery worker on a Redis broker (``REDIS_URL``).
- ``postgresql``: features SQLite does not have (row locks with ``SKIP LOCKED``, the append-only
  trigger); the PostgreSQL run (``DATABASE_URL``) executes them.

CI (``.ci/run``) runs the suite on SQLite and then on PostgreSQL + Redis with ``BROWSER_TESTS=required``,
so every group runs there. Loaded by ``-p tests.availability`` in ``pyproject.toml``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BROWSER_MODES = ("auto", "required", "off")


def chromium_path() -> Path:
    return Path(os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium")


def browser_mode() -> str:
    mode = (os.environ.get("BROWSER_TESTS") or "auto").strip().lower()
    if mode not in BROWSER_MODES:
        raise pytest.UsageError(f"BROWSER_TESTS={mode!r}: use one of {', '.join(BROWSER_MODES)}.")
    return mode


@dataclass
class NotRun:
    """One group of tests deselected on this machine, with the reason and the way to run it."""

    marker: str
    why: str
    how: str
    items: list = field(default_factory=list)

    def line(self) -> str:
        return f"{len(self.items)} {self.marker} test(s) did not run: {self.why}. {self.how}"


def _groups(config) -> list[NotRun]:
    from django.conf import settings
    from django.db import connection

    groups = []
    mode = browser_mode()
    chromium = chromium_path()
    if mode == "off":
        groups.append(NotRun("browser", "BROWSER_TESTS=off", "Unset it to run them where Chromium is installed."))
    elif mode == "auto" and not chromium.exists():
        groups.append(NotRun(
            "browser", f"Chromium is not installed at {chromium}",
            "To run them: `apt-get install chromium` (Debian/Ubuntu), or set CHROMIUM_PATH to a Chromium binary; "
            "then `make test` or `make test-browser`. CI sets BROWSER_TESTS=required, where a missing Chromium "
            "fails the run.",
        ))
    if not settings.REDIS_URL:
        groups.append(NotRun(
            "celery_worker", "they need a Celery worker on a Redis broker and REDIS_URL is not set",
            "To run them: REDIS_URL=redis://127.0.0.1:6379/13 make test (CI's second run does).",
        ))
    if connection.vendor != "postgresql":
        groups.append(NotRun(
            "postgresql",
            f"they test PostgreSQL features (row locks, triggers) and the database is {connection.vendor}",
            "To run them: DATABASE_URL=postgres://postgres@127.0.0.1:5432/test make test (CI's second run does).",
        ))
    return groups


def pytest_configure(config):
    browser_mode()  # a mistyped BROWSER_TESTS fails at start, naming the variable
    config.addinivalue_line(
        "markers", "postgresql: needs PostgreSQL (row locks, triggers); deselected on SQLite and said so"
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    groups = _groups(config)
    config._not_run = groups
    if not groups:
        return
    kept = []
    for item in items:
        for group in groups:
            if item.get_closest_marker(group.marker):
                group.items.append(item)
                break
        else:
            kept.append(item)
    dropped = [item for group in groups for item in group.items]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The closing lines: what did not run here, why, and how to run it."""
    groups = [group for group in getattr(config, "_not_run", []) if group.items]
    if not groups:
        return
    terminalreporter.section("tests not run on this machine", sep="-", yellow=True)
    for group in groups:
        terminalreporter.write_line(group.line(), yellow=True)
