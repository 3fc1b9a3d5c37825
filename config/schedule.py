"""The beat schedule's starting point. ``manage.py setup_schedule`` writes it to the database.

The database (django-celery-beat) is the schedule that runs: compliance sees and changes it in the
admin. ``setup_schedule`` creates missing entries and keeps each entry's task name in step with
the code, but never overwrites a time, an interval or an on/off switch someone set in the admin.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    task: str
    description: str
    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"


SCHEDULE: tuple[ScheduledJob, ...] = (
    ScheduledJob(
        name="Clear expired staff sessions",
        task="retention.clear_expired_sessions",
        description="Deletes expired back-office login sessions (short-lived security data).",
        minute="15",
        hour="3",
    ),
    ScheduledJob(
        name="Resume re-consent campaigns",
        task="consents.resume_reconsent_campaigns",
        description="Queues re-consent notices of major policy versions still unsent an hour after publishing "
        "(PP-39); sending is exactly-once per notice, so overlapping runs are safe.",
        minute="40",
        hour="*",
    ),
    ScheduledJob(
        name="Anonymise cancelled accounts",
        task="retention.anonymise_cancelled",
        description="Erases members whose cancellation is older than the grace period (PP-33), except members "
        "under legal hold; data under legal retention is pseudonymised.",
        minute="0",
        hour="2",
    ),
    ScheduledJob(
        name="Purge members under 14",
        task="retention.purge_under_14",
        description="Closes and fully erases members under 14 by date of birth or a confirmed underage report "
        "(PP-37); legal holds still apply.",
        minute="30",
        hour="2",
    ),
    ScheduledJob(
        name="Copy erasure records off the database",
        task="retention.copy_erasure_records",
        description="Writes the day's copy of the erasure records (no personal data) to ERASURE_RECORDS_COPY_DIR, "
        "so a restore from backup never resurrects a member erased since (PP-02).",
        minute="30",
        hour="4",
    ),
    ScheduledJob(
        name="Expire legal retention",
        task="retention.expire_legal_retention",
        description="Anonymises what erased members kept for legal retention (e.g. transaction records five "
        "years after closure) once the retention period has passed (PP-13).",
        minute="0",
        hour="4",
    ),
    ScheduledJob(
        name="Expire security data",
        task="retention.expire_security_data",
        description="Deletes device and security records older than their retention period (PP-11).",
        minute="45",
        hour="3",
    ),
    ScheduledJob(
        name="Review and assessment reminders",
        task="retention.send_review_reminders",
        description="E-mails compliance one digest of processing reviews and impact assessments falling due "
        "(PP-27).",
        minute="0",
        hour="7",
    ),
    ScheduledJob(
        name="Request deadline reminders",
        task="requests_desk.send_request_reminders",
        description="E-mails assignees before their requests fall due and escalates overdue requests to "
        "supervisors (PP-34): one digest per staff user per run, each reminder exactly once.",
        minute="0",
        hour="8",
    ),
    ScheduledJob(
        name="Ingest inbound e-mail",
        task="requests_desk.ingest_mail",
        description="Reads the e-mails delivered to INBOUND_MAIL_DIR onto their requests or into new enquiries "
        "(PP-14) and removes each file once its message is kept encrypted; does nothing while the setting is "
        "empty.",
        minute="*/5",
    ),
    ScheduledJob(
        name="Send tasks that waited for the broker",
        task="accounts.relay_outbox",
        description="Sends the tasks recorded while the broker (Redis) was down or restarting - an approved "
        "erasure, a re-consent campaign, a manual run - as soon as it takes them again; nothing decided is lost.",
        minute="*",
    ),
)
