"""Issue 7, requirement 2: Content-Security-Policy, no inline script in our templates, WhiteNoise.

ASVS 5.0 3.4.3 (v4.0.3 14.4.3): a CSP with object-src 'none' and base-uri 'none', scripts from an
allowlist only. Settings run in a subprocess where production variables are needed.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import django
import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from tests.config.test_settings import ROOT, production_env, run_django
from tests.otp import verified_login

pytestmark = pytest.mark.django_db

TEMPLATES = ROOT / "templates"
HTML_TEMPLATES = sorted(TEMPLATES.rglob("*.html"))
# An executable inline script: a <script> element without src= (JSON data blocks are not executed).
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTRIBUTE = re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I)
JS_URL = re.compile(r"""(href|src|action)\s*=\s*["']\s*javascript:""", re.I)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def assert_strict(directives: dict[str, list[str]]) -> None:
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    for name in ("script-src", "style-src", "default-src"):
        assert "'unsafe-inline'" not in directives[name]
        assert "'unsafe-eval'" not in directives[name]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


@pytest.mark.otp
@pytest.mark.parametrize(
    ("who", "page"),
    [
        ("compliance_officer", reverse("admin:index")),
        ("compliance_officer", reverse("requests_desk:queue")),
        ("compliance_officer", reverse("requests_desk:dashboard")),
        ("compliance_officer", reverse("admin:accounts_member_changelist")),
        ("auditor", reverse("admin:accounts_member_changelist")),  # no actions: the hashed inline <style>
        ("superuser", reverse("admin:django_celery_beat_periodictask_add")),  # its script moved to a file
    ],
)
def test_csp_header_on_admin_and_desk_pages_allows_no_inline_script(client, request, who, page):
    verified_login(client, request.getfixturevalue(who))

    response = client.get(page)

    assert response.status_code == 200
    assert_strict(policy(response))
    body = response.content.decode()
    assert not INLINE_SCRIPT.search(body), INLINE_SCRIPT.search(body)
    assert not EVENT_HANDLER.search(body), EVENT_HANDLER.search(body)


@pytest.mark.otp
@pytest.mark.parametrize("page", [reverse("admin:login"), reverse("otp:enrol"), reverse("otp:verify")])
def test_csp_header_on_the_sign_in_pages(client, agent, page):
    if page != reverse("admin:login"):
        client.force_login(agent)

    response = client.get(page, follow=True)

    assert response.status_code == 200
    assert_strict(policy(response))
    assert not INLINE_SCRIPT.search(response.content.decode())


def test_csp_is_also_sent_on_redirects_and_errors(client):
    assert "Content-Security-Policy" in client.get(reverse("requests_desk:queue"))  # 302 to sign-in
    assert "Content-Security-Policy" in client.get("/no-such-page/")  # 404


def test_the_admin_changelist_inline_style_hash_matches_django():
    """The admin's one inline <style> (changelist without actions) is allowed by hash; a Django
    upgrade that changes it must update ADMIN_CHANGELIST_STYLE_HASH."""
    template = Path(django.__file__).parent / "contrib/admin/templates/admin/change_list.html"
    block = re.search(r"<style>(.*?)</style>", template.read_text(), re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
    assert f"'sha256-{digest}'" == django_settings.ADMIN_CHANGELIST_STYLE_HASH
    assert django_settings.ADMIN_CHANGELIST_STYLE_HASH in (
        django_settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["style-src"]
    )


def test_the_scan_below_finds_what_it_looks_for():
    assert INLINE_SCRIPT.search('<script>alert(1)</script>')
    assert not INLINE_SCRIPT.search('<script src="/static/x.js"></script>')
    assert not INLINE_SCRIPT.search('<script id="d" type="application/json">{}</script>')
    assert EVENT_HANDLER.search('<button type="button" onclick="go()">')
    assert STYLE_ATTRIBUTE.search('<table id="t" style="width:100%">')
    assert JS_URL.search('<a href="javascript:void(0)">')


@pytest.mark.parametrize("path", HTML_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_our_templates_have_no_inline_script_handler_or_style(path):
    text = path.read_text()
    for pattern in (INLINE_SCRIPT, EVENT_HANDLER, STYLE_ATTRIBUTE, JS_URL):
        match = pattern.search(text)
        assert match is None, f"{path.relative_to(TEMPLATES)}: {match.group(0)!r}"
    assert "<style" not in text.lower()


def test_there_are_templates_to_scan():
    assert len(HTML_TEMPLATES) >= 20


# --- Static files (WhiteNoise) ------------------------------------------------------------------------------------


def test_whitenoise_comes_right_after_the_security_middleware(settings):
    assert settings.MIDDLEWARE[:2] == [
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
    ]


def test_static_file_is_served_by_whitenoise_with_debug_off(settings):
    assert settings.DEBUG is False  # pytest-django runs with DEBUG off; config/urls.py serves no static files
    client = Client()  # a new handler, so WhiteNoise starts with these settings

    response = client.get("/static/accounts/otp.css")

    assert response.status_code == 200
    assert type(response).__module__.startswith("whitenoise")
    assert b".otp-qr" in b"".join(response.streaming_content)


def test_production_static_files_are_hashed_compressed_and_served(tmp_path):
    """collectstatic with the production storage (manifest + compression), then WhiteNoise serves
    the hashed name with a long cache lifetime, before any session or database work."""
    env = production_env(STATIC_ROOT=str(tmp_path / "static"))
    collected = run_django(["manage.py", "collectstatic", "--noinput", "-v", "0"], env)
    assert collected.returncode == 0, collected.stderr
    assert list((tmp_path / "static/accounts").glob("otp.*.css.gz"))

    probe = (
        "import django, json; django.setup(); from django.test import Client; "
        "from django.templatetags.static import static; url = static('accounts/otp.css'); "
        "r = Client().get(url, secure=True, HTTP_HOST='backoffice.example'); "
        "print(json.dumps([url, r.status_code, r['Cache-Control'], type(r).__module__]))"
    )
    served = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**_clean_env(), **env, "DJANGO_SETTINGS_MODULE": "config.settings"},
    )
    assert served.returncode == 0, served.stderr
    url, status, cache_control, module = json.loads(served.stdout.strip().splitlines()[-1])
    assert re.fullmatch(r"/static/accounts/otp\.[0-9a-f]{12}\.css", url)
    assert status == 200 and module.startswith("whitenoise")
    assert "immutable" in cache_control


def _clean_env() -> dict[str, str]:
    import os

    drop = ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY",
            "SMS_GATEWAY_SECRET", "OTP_DEV_BYPASS", "DEBUG")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST")}
