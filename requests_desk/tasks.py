"""Thin Celery shells around the request desk's jobs (style rule 4)."""

import logging
from pathlib import Path

from celery import shared_task
from django.conf import settings

from accounts.dispatch.slots import OncePerSlot
from requests_desk import package_build, reminders
from requests_desk.mail.directory import mail_directory_ingest

logger = logging.getLogger(__name__)


@shared_task(name="requests_desk.send_request_reminders", base=OncePerSlot)
def send_request_reminders() -> dict:
    """PP-34: deadline reminders to assignees and escalations to supervisors (exactly once each)."""
    return reminders.send_request_reminders().as_dict()


@shared_task(name="requests_desk.ingest_mail", base=OncePerSlot)
def ingest_mail() -> dict:
    """PP-14: read the e-mails left in ``INBOUND_MAIL_DIR`` onto their requests, as ``manage.py ingest_mail``.

    Files whose message is kept are removed from the directory (``remove_processed``), so the next
    run does not read them again. Without the setting the job does nothing and says so.
    """
    directory = settings.INBOUND_MAIL_DIR
    if not directory:
        logger.info("ingest_mail: INBOUND_MAIL_DIR is not set; no mail directory to read")
        return {"skipped": "INBOUND_MAIL_DIR is not set"}
    return mail_directory_ingest(Path(directory), remove_processed=True).as_dict()


@shared_task(name="requests_desk.build_access_package")
def build_access_package(package_id: int) -> dict:
    """PP-29: build an approved access package, mark it ready and send the requester's letter."""
    return package_build.access_package_run(package_id).as_dict()
