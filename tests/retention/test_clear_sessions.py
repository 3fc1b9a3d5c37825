from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.utils import timezone

from retention.jobs.sessions import clear_expired_sessions

pytestmark = pytest.mark.django_db


@pytest.fixture
def sessions():
    for days in (-2, -1, 1):
        store = SessionStore()
        store.create()
        Session.objects.filter(session_key=store.session_key).update(
            expire_date=timezone.now() + timedelta(days=days)
        )


def test_clear_expired_sessions_deletes_only_expired_ones(sessions, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        result = clear_expired_sessions()
    assert (result.selected, result.changed) == (2, 2)
    assert Session.objects.count() == 1
    assert clear_expired_sessions().changed == 0  # idempotent


def test_dry_run_changes_nothing(sessions):
    out = StringIO()
    call_command("clear_expired_sessions", "--dry-run", stdout=out)
    assert Session.objects.count() == 3
    assert "2 found, would delete 2" in out.getvalue()
