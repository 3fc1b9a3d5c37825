"""Enqueue a task by name, in the caller's transaction, and send it when the broker can take it.

Services call ``enqueue_on_commit("app.task_name", …)``: they never import a tasks module (tasks
import services, not the reverse), and the task is found by name in the Celery app's registry at
send time. Sending happens after commit, so a worker never looks for rows a rollback removed; a
broker that is down (Redis stopped or restarting) leaves the row in the outbox and the request that
decided the work succeeds. ``relay_pending`` sends what is waiting: the ``accounts.relay_outbox``
job every minute, ``manage.py relay_outbox``, and each later enqueue that finds the broker back.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import KombuError
from redis.exceptions import RedisError

from accounts.dispatch.models import OutboxTask

logger = logging.getLogger(__name__)

#: What a broker that is down or restarting raises on publish (kombu wraps most of it).
BROKER_ERRORS = (KombuError, RedisError, OSError)
#: A claim older than this was taken by a sender that died before sending: it is taken again.
STALE_CLAIM = datetime.timedelta(minutes=5)
#: Rows sent per relay batch.
RELAY_BATCH = 500


@dataclass(frozen=True)
class RelayResult:
    sent: int
    waiting: int
    error: str = ""

    def as_dict(self) -> dict:
        return {"sent": self.sent, "waiting": self.waiting, **({"error": self.error} if self.error else {})}


def enqueue_on_commit(task: str, *args, **kwargs) -> OutboxTask:
    """Record ``task(*args, **kwargs)`` in the outbox now and send it after the transaction commits.

    Arguments must be JSON (ids and counts: style rule 6). Outside a transaction the row is sent
    at once.
    """
    row = OutboxTask.objects.create(task=task, args=list(args), kwargs=kwargs)
    transaction.on_commit(lambda: _send_after_commit([row.pk]))
    return row


def enqueue_many_on_commit(task: str, calls: Iterable[tuple]) -> int:
    """One outbox row per ``args`` tuple of ``calls``, inserted together; sent after commit."""
    rows = OutboxTask.objects.bulk_create(OutboxTask(task=task, args=list(args)) for args in calls)
    pks = [row.pk for row in rows]
    if pks and pks[0] is None:  # a database that does not return ids from a bulk insert
        pks = list(OutboxTask.objects.filter(task=task, sent_at__isnull=True, claimed_at__isnull=True)
                   .order_by("-pk").values_list("pk", flat=True)[: len(rows)])
    if pks:
        transaction.on_commit(lambda: _send_after_commit(pks))
    return len(rows)


def _send_after_commit(pks: list[int]) -> None:
    sent = _send(pks)
    # The broker takes tasks again: whatever waited while it was down goes too.
    if sent == len(pks) and OutboxTask.objects.filter(sent_at__isnull=True).exclude(pk__in=pks).exists():
        relay_pending()


def _claimable(now: datetime.datetime):
    """Unsent rows that no live sender holds."""
    return OutboxTask.objects.filter(sent_at__isnull=True).filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - STALE_CLAIM)
    )


def _send(pks: list[int], *, now: datetime.datetime | None = None) -> int:
    """Send the outbox rows ``pks`` that nobody else is sending; returns how many went out.

    Each row is claimed with a compare-and-set ``UPDATE`` first, so the after-commit send and the
    relay job never both send it. The first broker error stops the batch: the rest stay waiting.
    """
    now = now or timezone.now()
    sent = 0
    rows = list(OutboxTask.objects.filter(pk__in=pks, sent_at__isnull=True).order_by("pk"))
    if not rows:
        return 0
    with contextlib.ExitStack() as stack:
        connection = None if current_app.conf.task_always_eager else stack.enter_context(_fail_fast_connection())
        for row in rows:
            claimed = _claimable(now).filter(pk=row.pk).update(claimed_at=now)
            if claimed != 1:
                continue  # another sender has it
            try:
                task_id = _publish(row, connection)
            except BROKER_ERRORS as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
                OutboxTask.objects.filter(pk=row.pk).update(claimed_at=None, attempts=row.attempts + 1,
                                                            last_error=error)
                logger.warning("broker unreachable: task %s (outbox #%s) waits and is sent when the broker is back "
                               "(%s)", row.task, row.pk, type(exc).__name__)
                break
            OutboxTask.objects.filter(pk=row.pk).update(sent_at=timezone.now(), task_id=task_id or "",
                                                        last_error="")
            sent += 1
    return sent


def _fail_fast_connection():
    """A broker connection that gives up at the first refusal.

    The pooled connections retry for seconds (right for a worker riding out a Redis restart); a
    staff member's request must not wait on a broker that is down, and the outbox is the retry.
    """
    options = {**(current_app.conf.broker_transport_options or {}), "max_retries": 0}
    return current_app.connection_for_write(transport_options=options)


def _publish(row: OutboxTask, connection) -> str:
    app = current_app
    if app.conf.task_always_eager:
        # Embedded default: the task runs here and now, as ``.delay()`` would. Marked sent first, so an
        # error of the task itself reaches the caller (eager propagation) without the row being sent again.
        OutboxTask.objects.filter(pk=row.pk).update(sent_at=timezone.now())
        if row.task not in app.tasks:
            app.loader.import_default_modules()  # the apps' tasks modules register their tasks by name
        result = app.tasks[row.task].apply_async(args=row.args, kwargs=row.kwargs)
        return result.id
    result = app.send_task(row.task, args=row.args, kwargs=row.kwargs, retry=False, connection=connection)
    return result.id


def relay_pending(*, now: datetime.datetime | None = None, limit: int | None = None) -> RelayResult:
    """Send every waiting outbox row, oldest first, in batches; stop at the first broker error."""
    now = now or timezone.now()
    sent = 0
    error = ""
    while limit is None or sent < limit:
        batch = list(_claimable(now).order_by("pk").values_list("pk", flat=True)[:RELAY_BATCH])
        if not batch:
            break
        went = _send(batch, now=now)
        sent += went
        if went < len(batch):
            still = OutboxTask.objects.filter(pk__in=batch, sent_at__isnull=True).order_by("pk").first()
            error = still.last_error if still is not None else ""
            if error:
                break
    waiting = OutboxTask.objects.filter(sent_at__isnull=True).count()
    if sent or waiting:
        logger.info("outbox relay: %s task(s) sent, %s waiting", sent, waiting)
    return RelayResult(sent=sent, waiting=waiting, error=error)


def periodic_tasks_run_now(entries: Iterable) -> tuple[int, int]:
    """Queue schedule entries (django-celery-beat ``PeriodicTask`` rows) to run now, through the outbox.

    Without the schedule's slot header, so the run always happens. Returns (sent, waiting).
    """
    with transaction.atomic():
        rows = [enqueue_on_commit(entry.task, *json.loads(entry.args or "[]"), **json.loads(entry.kwargs or "{}"))
                for entry in entries]
    pks = [row.pk for row in rows]
    waiting = OutboxTask.objects.filter(pk__in=pks, sent_at__isnull=True).count()
    return len(pks) - waiting, waiting


def waiting_count() -> int:
    return OutboxTask.objects.filter(sent_at__isnull=True).count()
