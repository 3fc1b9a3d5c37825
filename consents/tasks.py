"""Thin Celery shells around ``consents.campaigns`` (style rule 4): load by id, call one function."""

from celery import shared_task

from accounts.dispatch.slots import OncePerSlot
from consents import campaigns


@shared_task(name="consents.start_reconsent_campaign")
def start_reconsent_campaign(version_id: int) -> dict:
    """Split a newly published major version's notices into chunk tasks (PP-39)."""
    return {"chunks": campaigns.campaign_enqueue(version_id=version_id)}


@shared_task(name="consents.send_reconsent_chunk")
def send_reconsent_chunk(version_id: int, first_id: int, last_id: int) -> dict:
    """Send one chunk of a re-consent campaign (PP-39); safe to run twice."""
    return campaigns.reconsent_chunk_send(version_id=version_id, first_id=first_id, last_id=last_id).as_dict()


@shared_task(name="consents.resume_reconsent_campaigns", base=OncePerSlot)
def resume_reconsent_campaigns() -> dict:
    """Scheduled sweep: re-queue notices still unsent an hour after they were queued."""
    return campaigns.campaigns_resume().as_dict()
