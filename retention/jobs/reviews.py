"""Job (PP-27): e-mail compliance one digest of processing reviews and impact assessments falling due.

Each item is claimed once per day with a compare-and-set on ``reminded_on`` inside the transaction
that sends the mail, so a rerun the same day sends nothing and a failed send is retried next run.
"""

from __future__ import annotations

import datetime
import logging

from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import StaffUser
from accounts.staff import roles
from retention import reminders, selectors
from retention.jobs.results import JobResult, recorded
from retention.models import ImpactAssessment, ProcessingReview

logger = logging.getLogger(__name__)


REVIEW_DIGEST_TEMPLATE = "retention/email/review_reminder.txt"
#: Per language (issue 16): each recipient's digest is in their language.
REVIEW_DIGEST_SUBJECT = {"en": "Processing reviews and impact assessments falling due",
                         "zh-hans": "即将到期的处理活动审查和安全影响评估"}


def review_reminder_recipients():
    """Active staff users in the compliance roles (supervisors inherit the work)."""
    return list(
        StaffUser.objects.filter(is_active=True, groups__name__in=(roles.COMPLIANCE_OFFICER, roles.SUPERVISOR))
        .exclude(email="")
        .distinct()
        .order_by("pk")
    )


def _digest_item(item: ProcessingReview | ImpactAssessment, today: datetime.date) -> reminders.DigestItem:
    path = reverse(f"admin:{item._meta.app_label}_{item._meta.model_name}_change", args=[item.pk])
    return reminders.DigestItem(label=str(item), due=item.next_due, path=path, overdue=item.next_due < today)


@recorded("send_review_reminders")
def send_review_reminders(*, dry_run: bool = False, today: datetime.date | None = None,
                          days: int | None = None) -> JobResult:
    """E-mail each compliance officer one digest of reviews and assessments due within ``days`` (PP-27).

    Items are claimed with a compare-and-set on ``reminded_on`` inside one transaction (rows
    locked, already-claimed ones skipped), and the mail is sent before it commits: a rerun the same
    day finds nothing to claim, and a failed send rolls the claim back so the next run sends.
    """
    today = today or timezone.localdate()
    recipients = review_reminder_recipients()
    if not recipients:
        # Claiming items nobody is told about would silence them for the day.
        logger.warning("send_review_reminders: no active compliance officer or supervisor to remind")
        return JobResult(selected=0, changed=0, dry_run=dry_run, details={"recipients": 0})
    if dry_run:
        due = list(selectors.reviews_due(today=today, days=days)) + list(selectors.assessments_due(today=today,
                                                                                                     days=days))
        return JobResult(selected=len(due), changed=0, dry_run=True, details={"recipients": len(recipients)})
    with transaction.atomic():
        reviews = list(selectors.reviews_due(today=today, days=days).select_for_update(skip_locked=True))
        assessments = list(selectors.assessments_due(today=today, days=days).select_for_update(skip_locked=True))
        claimed = 0
        if reviews:
            claimed += ProcessingReview.objects.filter(pk__in=[r.pk for r in reviews]).filter(
                selectors.not_reminded_on(today)).update(reminded_on=today)
        if assessments:
            claimed += ImpactAssessment.objects.filter(pk__in=[a.pk for a in assessments]).filter(
                selectors.not_reminded_on(today)).update(reminded_on=today)
        items = sorted((_digest_item(item, today) for item in [*reviews, *assessments]),
                       key=lambda item: (item.due, item.label))
        sent = 0
        if claimed and items:
            sent = reminders.send_digests(
                {user: items for user in recipients}, subject=REVIEW_DIGEST_SUBJECT,
                template=REVIEW_DIGEST_TEMPLATE,
                context={"today": today, "days": selectors.reminder_window_days() if days is None else days},
            )
    return JobResult(selected=len(items), changed=sent, dry_run=False,
                     details={"reviews": len(reviews), "assessments": len(assessments), "e-mails": sent})
