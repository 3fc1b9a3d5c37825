"""Issue 12, requirement 5: with the broker down, the back office keeps working and loses nothing.

The broker is pointed at a port where nothing listens (Redis stopped). Staff keep using the desk, the
admin and the request intake; decisions that need a worker (an approved erasure, a re-consent
campaign, a job run by hand) are recorded in the task outbox and sent when the broker is back;
``/health/`` answers 503 naming the broker. "Back" is the in-memory transport here, so the test reads
the very message the worker would get; the Redis restart with a real worker is ``test_redis_restart``.
"""

from __future__ import annotations

import json
import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.dispatch import outbox
from accounts.dispatch.models import OutboxTask
from accounts.members.choices import MemberStatus
from config.celery import app
from consents.campaigns import policy_version_publish
from consents.models import PolicyVersion
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType
from requests_desk.models import Request
from retention.choices import RunStatus
from retention.models import ErasureRun
from retention.services import erasure_run_approve, erasure_run_prepare
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1


def _use_broker(url: str) -> None:
    """Point the app's producers at ``url`` (the connection pools keep the URL they were made with)."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker(settings):
    """The broker as a switch: ``broker.down()``, ``broker.back()``; tasks are sent, not run inline."""
    original = (app.conf.broker_url, app.conf.task_always_eager)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_always_eager = False

    class Switch:
        @staticmethod
        def down():
            _use_broker(DEAD_BROKER)

        @staticmethod
        def back():
            _use_broker("memory://")

        @staticmethod
        def received() -> list[tuple[str, list]]:
            """(task name, args) of every message waiting on the default queue of the memory broker."""
            found = []
            with app.connection_for_write() as connection:
                queue = connection.SimpleQueue(app.conf.task_default_queue)
                while True:
                    try:
                        message = queue.get(block=False)
                    except queue.Empty:
                        break
                    args = message.decode()[0] if isinstance(message.decode(), list | tuple) else []
                    found.append((message.headers["task"], list(args)))
                    message.ack()
                queue.close()
            return found

    yield Switch
    _use_broker(original[0])
    app.conf.task_always_eager = original[1]


def _approved_run(supervisor, compliance_officer, capture) -> ErasureRun:
    member = MemberFactory(status=MemberStatus.CANCELLED)
    run = erasure_run_prepare(member_ids=[member.pk], prepared_by=compliance_officer)
    with capture(execute=True):
        return erasure_run_approve(run=run, approved_by=supervisor)


def test_pp33_an_erasure_approved_while_the_broker_is_down_waits_in_the_outbox_and_goes_when_it_is_back(
    broker, supervisor, compliance_officer, django_capture_on_commit_callbacks, caplog
):
    broker.down()
    with caplog.at_level(logging.WARNING, logger="accounts.dispatch.outbox"):
        run = _approved_run(supervisor, compliance_officer, django_capture_on_commit_callbacks)
    assert ErasureRun.objects.get(pk=run.pk).status == RunStatus.APPROVED  # the decision stands
    [waiting] = OutboxTask.objects.filter(sent_at__isnull=True)
    assert (waiting.task, waiting.args, waiting.attempts) == ("retention.erase_run", [run.pk], 1)
    assert "OperationalError" in waiting.last_error or "Error" in waiting.last_error
    assert "waits and is sent when the broker is back" in caplog.text

    assert outbox.relay_pending().as_dict()["waiting"] == 1  # still down: nothing sent, nothing lost
    broker.back()
    result = outbox.relay_pending()
    assert (result.sent, result.waiting) == (1, 0)
    assert broker.received() == [("retention.erase_run", [run.pk])]
    assert outbox.relay_pending().sent == 0  # sent once


def test_the_desk_the_admin_and_the_intake_keep_working_and_health_names_the_broker(
    broker, client, agent, supervisor, compliance_officer, django_capture_on_commit_callbacks
):
    broker.down()
    _approved_run(supervisor, compliance_officer, django_capture_on_commit_callbacks)
    member = MemberFactory()
    client.force_login(agent)
    assert client.get(reverse("requests_desk:queue")).status_code == 200
    response = client.post(reverse("requests_desk:intake"), {
        "type": RequestType.ACCESS, "requester_kind": RequesterKind.MEMBER, "channel": IntakeChannel.PHONE,
        "member": member.member_number, "priority": Priority.NORMAL, "subject": "copy of my data",
    })
    assert response.status_code == 302
    assert Request.objects.filter(member=member).count() == 1
    client.force_login(compliance_officer)
    assert client.get("/admin/accounts/member/").status_code == 200
    assert client.get("/admin/retention/erasurerun/").status_code == 200

    health = client.get("/health/")
    assert health.status_code == 503
    body = health.json()
    assert body["failing"] == ["broker"]
    assert body["components"]["broker"] == "error" and body["components"]["database"] == "ok"
    assert body["components"]["outbox"] == "1 waiting"


def test_pp39_a_campaign_published_while_the_broker_is_down_starts_when_it_is_back(
    broker, compliance_officer, django_capture_on_commit_callbacks
):
    MemberFactory.create_batch(2)
    version = PolicyVersion.objects.create(version="2030.1", text="Revised.", summary="Rights changed.",
                                           change_kinds=["rights"])
    broker.down()
    with django_capture_on_commit_callbacks(execute=True):
        published = policy_version_publish(version=version, user=compliance_officer)
    assert published.notices_queued == 2
    assert list(OutboxTask.objects.filter(sent_at__isnull=True).values_list("task", "args")) == [
        ("consents.start_reconsent_campaign", [version.pk])]
    broker.back()
    assert outbox.relay_pending().sent == 1
    assert broker.received() == [("consents.start_reconsent_campaign", [version.pk])]


def test_run_now_in_the_admin_with_the_broker_down_says_the_run_waits(
    broker, client, compliance_officer, django_capture_on_commit_callbacks
):
    every = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.DAYS)
    entry = PeriodicTask.objects.create(name="Reminders by hand", task="requests_desk.send_request_reminders",
                                        interval=every, args=json.dumps([]))
    broker.down()
    client.force_login(compliance_officer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/django_celery_beat/periodictask/",
                               {"action": "run_tasks", "_selected_action": [entry.pk]}, follow=True)
    assert response.status_code == 200
    shown = [str(m) for m in response.context["messages"]]
    assert any("broker is unreachable" in text and "start as soon as it is back" in text for text in shown), shown
    assert OutboxTask.objects.filter(task="requests_desk.send_request_reminders", sent_at__isnull=True).count() == 1
    broker.back()
    assert outbox.relay_pending().sent == 1
    assert broker.received() == [("requests_desk.send_request_reminders", [])]


def test_the_relay_command_says_what_waits_and_what_went(broker, supervisor, compliance_officer,
                                                         django_capture_on_commit_callbacks):
    broker.down()
    _approved_run(supervisor, compliance_officer, django_capture_on_commit_callbacks)
    out, err = StringIO(), StringIO()
    call_command("relay_outbox", stdout=out, stderr=err)
    assert "0 task(s) sent, 1 still waiting" in out.getvalue()
    assert "Run this again when it is back" in err.getvalue()
    broker.back()
    out = StringIO()
    call_command("relay_outbox", stdout=out)
    assert "1 task(s) sent, 0 still waiting" in out.getvalue()
