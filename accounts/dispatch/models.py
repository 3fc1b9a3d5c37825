"""The two tables of task dispatch (issue 12): the outbox and the slots of scheduled jobs.

Registered with the ``accounts`` app (``accounts.models`` imports them). Neither holds personal data:
task arguments are ids and counts (style rule 6), slots are task names and times.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.privacy.datamap import DataMap


class OutboxTask(models.Model):
    """A task to send to the broker, written in the transaction that decided it (transactional outbox).

    The decision (an approval, a publication) and the task that carries it out commit together or not
    at all. After commit the row is sent at once; with the broker down it stays here, waiting, and the
    ``accounts.relay_outbox`` job (every minute) or ``manage.py relay_outbox`` sends it when the broker
    is back. Nothing is lost, and the user who took the decision is not shown an error.
    """

    task = models.CharField(_("task"), max_length=200)
    args = models.JSONField(_("arguments"), default=list, blank=True)
    kwargs = models.JSONField(_("keyword arguments"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    #: Set by the one sender that took the row (compare-and-set); a stale claim is taken again.
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    task_id = models.CharField(_("Celery task id"), max_length=64, blank=True)
    attempts = models.PositiveIntegerField(_("failed attempts"), default=0)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)

    data_map = DataMap(
        subject="",
        not_personal=("id", "task", "args", "kwargs", "created_at", "claimed_at", "sent_at", "task_id", "attempts",
                      "last_error"),
        note=_("Task names with ids and counts as arguments; never a member number or a value."),
    )

    class Meta:
        verbose_name = _("queued task")
        verbose_name_plural = _("task outbox")
        ordering = ["pk"]
        indexes = [
            # The relay's query: the unsent rows, oldest first.
            models.Index(fields=["id"], condition=models.Q(sent_at__isnull=True), name="accounts_outbox_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.task} #{self.pk}"


class ScheduledRun(models.Model):
    """One slot of a scheduled job, taken by the first delivery of that slot (two beats, one run).

    A beat sends each periodic task once per slot (the schedule's fire time). If two beats run by
    mistake, or a beat restarts and fires again, the second delivery finds the slot taken: it does
    no work, logs so and leaves a row with outcome *duplicate*. The partial unique constraint is
    what decides, on PostgreSQL and SQLite alike, whichever worker gets there first.
    """

    class Outcome(models.TextChoices):
        RUNNING = "running", _("Running")
        FINISHED = "finished", _("Finished")
        FAILED = "failed", _("Failed")
        DUPLICATE = "duplicate", _("Duplicate: slot already taken")

    job = models.CharField(_("job (task name)"), max_length=200)
    periodic_task = models.CharField(_("schedule entry"), max_length=200, blank=True)
    slot = models.DateTimeField(_("slot"))
    task_id = models.CharField(_("Celery task id"), max_length=64, blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, default=Outcome.RUNNING)
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=300, blank=True)

    data_map = DataMap(
        subject="",
        not_personal=("id", "job", "periodic_task", "slot", "task_id", "outcome", "started_at", "finished_at", "note"),
        note=_("Task names and times only."),
    )

    class Meta:
        verbose_name = _("scheduled run")
        verbose_name_plural = _("scheduled runs")
        ordering = ["-slot", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["job", "slot"], condition=~models.Q(outcome="duplicate"),
                name="accounts_scheduledrun_unique_slot",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.job} at {self.slot:%Y-%m-%d %H:%M} ({self.outcome})"
