"""Thin Celery shells around ``retention.jobs`` (style rule 4)."""

from celery import shared_task

from retention import jobs


@shared_task(name="retention.clear_expired_sessions")
def clear_expired_sessions() -> dict:
    return jobs.clear_expired_sessions().as_dict()
