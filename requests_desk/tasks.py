"""Thin Celery shells around the request desk's jobs (style rule 4)."""

from celery import shared_task

from requests_desk import reminders


@shared_task(name="requests_desk.send_request_reminders")
def send_request_reminders() -> dict:
    """PP-34: deadline reminders to assignees and escalations to supervisors (exactly once each)."""
    return reminders.send_request_reminders().as_dict()
