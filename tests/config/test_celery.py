"""Requirement 4 of issue 2: the Celery app, its safety settings, and a real round trip."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.celery import app
from retention.tasks import clear_expired_sessions


def test_celery_reads_django_settings_with_the_celery_namespace():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert 0 < conf.task_soft_time_limit < conf.task_time_limit
    assert conf.beat_scheduler == "django_celery_beat.schedulers:DatabaseScheduler"


def test_broker_visibility_timeout_outlasts_the_longest_job():
    # Redis re-delivers unacknowledged tasks after this timeout: shorter than a job means twice.
    assert app.conf.broker_transport_options["visibility_timeout"] > app.conf.task_time_limit


def _make_sessions(expired: int, live: int) -> None:
    for _ in range(expired):
        store = SessionStore()
        store.create()
        Session.objects.filter(session_key=store.session_key).update(
            expire_date=timezone.now() - timedelta(days=1)
        )
    for _ in range(live):
        SessionStore().create()


@pytest.mark.django_db
def test_task_body_runs_inline_and_returns_counts():
    _make_sessions(expired=3, live=2)
    result = clear_expired_sessions.apply()
    assert result.get() == {"selected": 3, "changed": 3, "dry_run": False}
    assert Session.objects.count() == 2


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_round_trip_through_redis_and_a_real_worker():
    """A task goes through the Redis broker to a worker thread and its result comes back."""
    from celery.contrib.testing.worker import start_worker

    assert settings.CELERY_BROKER_URL.startswith("redis://")
    _make_sessions(expired=2, live=1)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        result = clear_expired_sessions.delay()
        assert result.get(timeout=30) == {"selected": 2, "changed": 2, "dry_run": False}
    assert Session.objects.count() == 1
