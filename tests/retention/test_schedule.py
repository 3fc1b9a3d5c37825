"""Requirement 4 of issue 2: the beat schedule lives in the database and admin edits survive."""

import pytest
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from config.schedule import SCHEDULE

pytestmark = pytest.mark.django_db


def test_setup_schedule_creates_every_job_by_name():
    call_command("setup_schedule", stdout=None)
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {job.name for job in SCHEDULE} <= names
    for job in SCHEDULE:
        task = PeriodicTask.objects.get(name=job.name)
        assert task.task == job.task
        assert task.enabled
        assert (task.crontab.minute, task.crontab.hour) == (job.minute, job.hour)


def test_setup_schedule_rerun_keeps_admin_edits():
    call_command("setup_schedule")
    job = SCHEDULE[0]
    edited = PeriodicTask.objects.get(name=job.name)
    other_time = CrontabSchedule.objects.create(minute="45", hour="1")
    edited.crontab = other_time
    edited.enabled = False
    edited.description = "Moved by compliance"
    edited.save()

    call_command("setup_schedule")

    again = PeriodicTask.objects.get(name=job.name)
    assert again.crontab_id == other_time.pk
    assert again.enabled is False
    assert again.description == "Moved by compliance"
    assert PeriodicTask.objects.filter(name=job.name).count() == 1


def test_setup_schedule_repairs_a_task_path_changed_by_hand():
    call_command("setup_schedule")
    job = SCHEDULE[0]
    PeriodicTask.objects.filter(name=job.name).update(task="typo.task")
    call_command("setup_schedule")
    assert PeriodicTask.objects.get(name=job.name).task == job.task


def test_every_scheduled_task_is_registered_with_celery():
    from config.celery import app

    app.loader.import_default_modules()
    for job in SCHEDULE:
        assert job.task in app.tasks, job.task
