"""Thin Celery shell around the task outbox (style rule 4)."""

from celery import shared_task

from accounts.dispatch import outbox


@shared_task(name="accounts.relay_outbox")
def relay_outbox() -> dict:
    """Send the tasks that waited in the outbox while the broker was down (issue 12)."""
    return outbox.relay_pending().as_dict()
