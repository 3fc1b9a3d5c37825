"""Requirement 6 of issue 2: /health/ for the load balancer."""

import pytest

from config import health

pytestmark = pytest.mark.django_db


def test_health_reports_every_component_ok(client, settings):
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["components"]["database"] == "ok"
    assert body["components"]["cache"] == "ok"
    expected_broker = "inline" if settings.CELERY_TASK_ALWAYS_EAGER else "ok"
    assert body["components"]["broker"] == expected_broker


def test_health_needs_no_login_and_is_not_cached(client):
    response = client.get("/health/")
    assert "no-cache" in response["Cache-Control"]


def test_health_is_503_when_the_database_fails(client, monkeypatch):
    def broken():
        raise RuntimeError("connection refused")

    monkeypatch.setitem(health.CHECKS, "database", broken)
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["components"]["database"] == "error"


def test_health_is_503_when_the_broker_is_unreachable(client, settings):
    from config.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        response = client.get("/health/")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert response.json()["components"]["broker"] == "error"
    assert response.json()["components"]["database"] == "ok"
