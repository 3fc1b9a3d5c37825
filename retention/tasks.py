"""Thin Celery shells around ``retention.jobs`` (style rule 4).

Each task calls one job function and returns its counts; the job records its own ``JobRun``.
``acks_late`` and ``reject_on_worker_lost`` come from the settings: a worker killed mid-way leaves
the task queued again, and every job is idempotent, so the rerun finishes the work.
"""

from celery import shared_task

from accounts.dispatch.slots import OncePerSlot

# The engine's task lives beside the engine; importing it here registers it on every worker.
from retention.erasure.tasks import erase_run, erase_run_chunk  # noqa: F401
from retention.jobs import (
    cancelled,
    deidentified,
    erasure_records,
    legal_retention,
    reviews,
    security_data,
    sessions,
    under_14,
)


@shared_task(name="retention.clear_expired_sessions", base=OncePerSlot)
def clear_expired_sessions() -> dict:
    return sessions.clear_expired_sessions().as_dict()


@shared_task(name="retention.anonymise_cancelled", base=OncePerSlot)
def anonymise_cancelled() -> dict:
    return cancelled.anonymise_cancelled().as_dict()


@shared_task(name="retention.purge_under_14", base=OncePerSlot)
def purge_under_14() -> dict:
    return under_14.purge_under_14().as_dict()


@shared_task(name="retention.expire_security_data", base=OncePerSlot)
def expire_security_data() -> dict:
    return security_data.expire_security_data().as_dict()


@shared_task(name="retention.send_review_reminders", base=OncePerSlot)
def send_review_reminders() -> dict:
    return reviews.send_review_reminders().as_dict()


@shared_task(name="retention.export_deidentified", base=OncePerSlot)
def export_deidentified() -> dict:
    return deidentified.export_deidentified().as_dict()


@shared_task(name="retention.expire_legal_retention", base=OncePerSlot)
def expire_legal_retention() -> dict:
    return legal_retention.expire_legal_retention().as_dict()


@shared_task(name="retention.copy_erasure_records", base=OncePerSlot)
def copy_erasure_records() -> dict:
    return erasure_records.copy_erasure_records().as_dict()
