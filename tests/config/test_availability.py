"""Issue 12, requirement 1: `make test` passes on a machine without Chromium and says why browser tests did not run.

Each case runs pytest in a child process, as `make test` would, pointing ``CHROMIUM_PATH`` at a file that
does not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
A_BROWSER_TEST = "tests/browser/test_desk_agent.py"
A_PLAIN_TEST = "tests/config/test_health.py"


def _pytest(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "CHROMIUM_PATH": "/nonexistent/chromium", **env}
    if "BROWSER_TESTS" not in env:
        environment.pop("BROWSER_TESTS", None)
    # The child runs on SQLite whatever this run uses: it must not touch this run's test database.
    environment.pop("DATABASE_URL", None)
    environment.pop("REDIS_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )


def test_without_chromium_the_suite_passes_and_its_last_lines_say_how_to_run_the_browser_tests():
    run = _pytest(A_BROWSER_TEST, A_PLAIN_TEST)
    assert run.returncode == 0, run.stdout[-3000:]
    closing = run.stdout.strip().splitlines()[-6:]
    text = "\n".join(closing)
    assert "browser test(s) did not run: Chromium is not installed at /nonexistent/chromium" in text
    assert "apt-get install chromium" in text and "CHROMIUM_PATH" in text
    assert "deselected" in closing[-1] and "passed" in closing[-1]


def test_with_browser_tests_required_a_missing_chromium_fails_the_run():
    run = _pytest(A_BROWSER_TEST, BROWSER_TESTS="required")
    assert run.returncode != 0
    assert "Chromium is not installed at /nonexistent/chromium" in run.stdout
    assert "did not run" not in run.stdout


def test_a_mistyped_browser_tests_value_stops_the_run_naming_the_variable():
    run = _pytest(A_PLAIN_TEST, BROWSER_TESTS="sometimes")
    assert run.returncode != 0
    assert "BROWSER_TESTS='sometimes'" in run.stdout + run.stderr
