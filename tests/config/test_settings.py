"""Requirement 2 of issue 2: one settings module, read from the environment, strict in production.

Settings are evaluated at import, so each case runs Django in a fresh subprocess with a
controlled environment.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json, django; from django.conf import settings; django.setup(); "
    "print(json.dumps({k: str(getattr(settings, k)) for k in "
    "['DEBUG','CELERY_TASK_ALWAYS_EAGER','CELERY_BROKER_URL','EMAIL_BACKEND','SECURE_SSL_REDIRECT']"
    " } | {'CACHE': settings.CACHES['default']['BACKEND'], 'DB': settings.DATABASES['default']['ENGINE']}))"
)


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(40),
        "SMS_GATEWAY_SECRET": secrets.token_urlsafe(40),
        "MEMBER_SITE_SECRET": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "backoffice.example",
    }
    env.update(overrides)
    return env


def run_django(code_or_args: list[str], env: dict[str, str], drop: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("PYTEST")}
    for name in ("DATABASE_URL", "REDIS_URL", "EMAIL_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY",
                 "SMS_GATEWAY_SECRET", "MEMBER_SITE_SECRET"):
        base.pop(name, None)
    base.update(env)
    base["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=ROOT, env=base, capture_output=True, text=True, timeout=120
    )


def probe(env: dict[str, str]) -> dict:
    result = run_django(["-c", PROBE], env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_embedded_default_is_sqlite_inline_tasks_console_mail_and_local_cache():
    values = probe({"DEBUG": "true"})
    assert values["DB"] == "django.db.backends.sqlite3"
    assert values["CELERY_TASK_ALWAYS_EAGER"] == "True"
    assert values["CACHE"].endswith("LocMemCache")
    assert values["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"


def test_redis_url_makes_redis_the_broker_and_the_cache():
    values = probe({"DEBUG": "true", "REDIS_URL": "redis://127.0.0.1:6379/9"})
    assert values["CELERY_TASK_ALWAYS_EAGER"] == "False"
    assert values["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert values["CACHE"].endswith("RedisCache")


def test_database_url_selects_postgresql():
    values = probe({"DEBUG": "true", "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"})
    assert values["DB"] == "django.db.backends.postgresql"


@pytest.mark.parametrize("variable", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "BLIND_INDEX_KEY", "SMS_GATEWAY_SECRET",
                                      "MEMBER_SITE_SECRET"])
def test_pp26_missing_secret_stops_start_up_when_debug_is_off(variable):
    env = production_env()
    del env[variable]
    result = run_django(["-c", PROBE], env)
    assert result.returncode != 0
    assert f"{variable} is not set" in result.stderr


@pytest.mark.parametrize(
    ("variable", "weak"),
    [
        ("SECRET_KEY", "short"),
        ("SECRET_KEY", "django-insecure-" + "x1y2z3" * 10),
        ("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key"),
        ("FIELD_ENCRYPTION_KEYS", base64.urlsafe_b64encode(b"16-bytes-only-xx").decode()),
        ("BLIND_INDEX_KEY", "tiny"),
    ],
)
def test_pp26_weak_secret_stops_start_up_naming_the_variable(variable, weak):
    result = run_django(["-c", PROBE], production_env(**{variable: weak}))
    assert result.returncode != 0
    assert f"{variable} is too weak or malformed" in result.stderr


def test_development_defaults_are_refused_in_production():
    from django.conf import settings

    env = production_env(FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS))
    result = run_django(["-c", PROBE], env)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS is the public development default" in result.stderr


def test_pp26_check_deploy_is_clean_with_production_variables():
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stderr


def test_pp26_production_forces_https_and_secure_cookies():
    values = probe(production_env())
    assert values["DEBUG"] == "False"
    assert values["SECURE_SSL_REDIRECT"] == "True"
