"""Shared fixtures: one staff user per role, fast password hashing, a private media root."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.utils import translation

from accounts.staff import roles
from tests.factories import StaffUserFactory


def pytest_collection_modifyitems(config, items):
    """Every transactional test restores the migrated data. Which tests need a worker, Chromium or
    PostgreSQL, and saying so when they cannot run, is ``tests/availability.py``'s job."""
    _serialized_rollback_for_every_transactional_test(items)


def _serialized_rollback_for_every_transactional_test(items) -> None:
    """Every transactional test starts from the migrated database, whatever ran before it.

    A transactional test ends with a flush that empties every table, including what the data
    migrations wrote (role groups, purposes, legal grounds, the first policy version). Django puts
    that back for tests with ``serialized_rollback``, but only reliably when *all* transactional tests
    use it: a plain one's flush re-creates content types with new keys, and the next restore then
    collides with them. So each transactional test (by marker or through ``live_server``) gets it.
    """
    for item in items:
        marker = item.get_closest_marker("django_db")
        wants_transaction = "live_server" in getattr(item, "fixturenames", ()) or (
            marker is not None and marker.kwargs.get("transaction")
        )
        if not wants_transaction or (marker is not None and marker.kwargs.get("serialized_rollback")):
            continue
        kwargs = {**(marker.kwargs if marker is not None else {}), "transaction": True, "serialized_rollback": True}
        item.add_marker(pytest.mark.django_db(*(marker.args if marker is not None else ()), **kwargs), append=False)


@pytest.fixture(autouse=True)
def _tasks_inline_unless_a_worker_is_wanted(request):
    """With REDIS_URL set, `.delay()` would queue on Redis where no worker listens. Tests run tasks
    inline (as the embedded default does) unless they are marked to need the real worker."""
    from config.celery import app

    if request.node.get_closest_marker("celery_worker"):
        yield
        return
    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = before


@pytest.fixture(autouse=True)
def _otp_enforced_only_where_marked(request, settings):
    """Issue 7: supervisors, compliance officers and superusers need an OTP-verified session.

    Most tests sign staff in with ``client.force_login`` and test something else; for them the
    requirement is off (as with the development bypass). Tests marked ``@pytest.mark.otp`` run
    with it on and sign in through ``tests.otp.verified_login`` or the real sign-in form.
    """
    settings.OTP_DEV_BYPASS = request.node.get_closest_marker("otp") is None


@pytest.fixture(autouse=True)
def _fast_and_isolated(settings, tmp_path):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path / "media"
    yield
    # A request in Chinese leaves its language active in this thread (LocaleMiddleware and the staff
    # language middleware activate, nothing deactivates): the next test starts in the default (issue 16).
    translation.activate(settings.LANGUAGE_CODE)


def _user_with_role(role: str | None, **kwargs):
    user = StaffUserFactory(**kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def compliance_officer(db):
    return _user_with_role(roles.COMPLIANCE_OFFICER, email="officer@test.example")


@pytest.fixture
def agent(db):
    return _user_with_role(roles.CUSTOMER_SERVICE_AGENT, email="agent@test.example")


@pytest.fixture
def supervisor(db):
    return _user_with_role(roles.SUPERVISOR, email="supervisor@test.example")


@pytest.fixture
def auditor(db):
    return _user_with_role(roles.AUDITOR, email="auditor@test.example")


@pytest.fixture
def superuser(db):
    return _user_with_role(None, email="root@test.example", is_superuser=True)


def pytest_configure(config):
    """``FAKE_NOW=2028-02-29T12:00:00Z``: the whole session runs with the clock started at that instant.

    The clock ticks from there (``time_machine.travel(..., tick=True)``), so durations still pass; tests
    that freeze their own clock (``time_machine.travel(..., tick=False)``) nest inside it. ``.ci/clock-check``
    runs the date-sensitive modules at boundary instants this way.
    """
    import os

    fake_now = os.environ.get("FAKE_NOW", "").strip()
    if not fake_now or hasattr(config, "_fake_now_traveller"):
        return
    import datetime

    import time_machine

    destination = datetime.datetime.fromisoformat(fake_now)
    if destination.tzinfo is None:
        raise pytest.UsageError(f"FAKE_NOW={fake_now!r} needs a UTC offset, e.g. 2028-02-29T12:00:00Z")
    config._fake_now_traveller = time_machine.travel(destination, tick=True)
    config._fake_now_traveller.start()
    config.add_cleanup(config._fake_now_traveller.stop)
    print(f"FAKE_NOW: the whole session runs on a clock started at {destination.isoformat()} (time-machine, ticking)")
