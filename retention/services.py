"""Writes of the retention app: legal holds, erasure runs (four eyes), reviews and assessments.

Admin classes, tasks and commands call these; none of them sets a status field directly.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.dispatch.outbox import enqueue_on_commit
from accounts.members.choices import MemberStatus
from accounts.models import Member
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.models import ErasureRun, ErasureRunItem, ImpactAssessment, LegalHold, ProcessingReview

PREPARE_PERMISSION = "retention.prepare_erasure"
APPROVE_PERMISSION = "retention.approve_erasure"
MIN_REASON_LENGTH = 10
#: The engine's task (``retention.erasure.tasks``), enqueued by name: tasks import services, not the reverse.
ERASE_RUN_TASK = "retention.erase_run"
#: Runs in these states still hold their members: a member is in at most one of them.
OPEN_RUN_STATES = (RunStatus.PREPARED, RunStatus.APPROVED, RunStatus.RUNNING)


def _reason(value: str, field: str) -> str:
    value = (value or "").strip()
    if len(value) < MIN_REASON_LENGTH:
        raise ValidationError({field: gettext(
            "Give a reason of at least %(MIN_REASON_LENGTH)s characters."
        ) % {"MIN_REASON_LENGTH": MIN_REASON_LENGTH}})
    return value


# --- Legal holds (PP-29, PP-33) ------------------------------------------------------------------------
def legal_hold_place(
    *,
    member: Member,
    reason: str,
    owner,
    starts_on: datetime.date | None = None,
    ends_on: datetime.date | None = None,
) -> LegalHold:
    """Block erasure of ``member`` from ``starts_on`` (today by default) until released or ``ends_on``."""
    hold = LegalHold(
        member=member,
        reason=_reason(reason, "reason"),
        owner=owner,
        starts_on=starts_on or timezone.localdate(),
        ends_on=ends_on,
    )
    hold.full_clean()
    hold.save()
    return hold


def legal_hold_release(*, hold: LegalHold, released_by, reason: str) -> LegalHold:
    """End a hold now, with the reason; erasure of the member resumes at the next run."""
    reason = _reason(reason, "release_reason")
    with transaction.atomic():
        # Re-read under a row lock: two officers releasing the same hold record one release.
        locked = LegalHold.objects.select_for_update().get(pk=hold.pk)
        if locked.released_at is not None:
            raise ValidationError(gettext("Legal hold #%(pk)s was already released.") % {"pk": locked.pk})
        locked.released_at = timezone.now()
        locked.released_by = released_by
        locked.release_reason = reason
        locked.save(update_fields=["released_at", "released_by", "release_reason"])
    return locked


# --- Erasure runs prepared in the admin (four eyes) ----------------------------------------------------
def erasure_run_prepare(
    *,
    member_ids: Iterable[int],
    prepared_by,
    trigger: str = ErasureTrigger.CANCELLATION,
    request_reference: str = "",
) -> ErasureRun:
    """Prepare a run over the given members; a supervisor other than ``prepared_by`` approves it.

    From the admin only cancelled members can be prepared for a cancellation erasure (PP-33). A
    member already in an open run is refused, so two runs never race for the same member.
    """
    if not prepared_by.has_perm(PREPARE_PERMISSION):
        raise PermissionDenied(gettext("Preparing an erasure needs the prepare-erasure permission."))
    ids = sorted(set(member_ids))
    if not ids:
        raise ValidationError(gettext("Select at least one member."))
    members = list(Member.objects.filter(pk__in=ids).only("pk", "member_number", "status").order_by("pk"))
    if trigger == ErasureTrigger.CANCELLATION:
        not_cancelled = [m.member_number for m in members if m.status != MemberStatus.CANCELLED]
        if not_cancelled:
            raise ValidationError(
                gettext(
                    "Only cancelled members can be erased after cancellation; %(count)s selected are not "
                    "cancelled: %(value)s."
                ) % {"count": len(not_cancelled), "value": ', '.join(not_cancelled[:10])}
            )
    busy = list(
        ErasureRunItem.objects.filter(member_id__in=ids, run__status__in=OPEN_RUN_STATES)
        .values_list("member_number", flat=True)
        .distinct()
    )
    if busy:
        raise ValidationError(
            gettext(
                "%(count)s selected member(s) are already in an erasure run awaiting approval or running: "
                "%(value)s."
            ) % {"count": len(busy), "value": ', '.join(sorted(busy)[:10])}
        )
    with transaction.atomic():
        run = ErasureRun.objects.create(
            trigger=trigger, status=RunStatus.PREPARED, prepared_by=prepared_by, request_reference=request_reference
        )
        ErasureRunItem.objects.bulk_create(
            ErasureRunItem(run=run, member_id=m.pk, member_number=m.member_number) for m in members
        )
    return run


def _locked_run(run: ErasureRun) -> ErasureRun:
    return ErasureRun.objects.select_for_update().get(pk=run.pk)


def erasure_run_approve(*, run: ErasureRun, approved_by) -> ErasureRun:
    """Approve a prepared run and queue it after commit (four eyes: never the preparer)."""
    if not approved_by.has_perm(APPROVE_PERMISSION):
        raise PermissionDenied(gettext("Approving an erasure needs the approve-erasure permission (supervisor)."))
    with transaction.atomic():
        # Row lock: two supervisors approving at once must not queue the run twice.
        locked = _locked_run(run)
        if locked.status != RunStatus.PREPARED:
            raise ValidationError(gettext(
                "Erasure run #%(pk)s is %(value)s, not awaiting approval."
            ) % {"pk": locked.pk, "value": locked.get_status_display().lower()})
        if locked.prepared_by_id == approved_by.pk:
            raise ValidationError(gettext(
                "Erasure run #%(pk)s was prepared by you; another supervisor must approve it."
            ) % {"pk": locked.pk})
        locked.status = RunStatus.APPROVED
        locked.approved_by = approved_by
        locked.save(update_fields=["status", "approved_by"])
        enqueue_on_commit(ERASE_RUN_TASK, locked.pk)
    return locked


def erasure_run_reject(*, run: ErasureRun, rejected_by) -> ErasureRun:
    """Refuse a prepared run; nothing is erased and its members may be prepared again."""
    if not (rejected_by.has_perm(APPROVE_PERMISSION) or rejected_by.pk == run.prepared_by_id):
        raise PermissionDenied(gettext("Only a supervisor or the preparer can reject a prepared erasure."))
    with transaction.atomic():
        locked = _locked_run(run)
        if locked.status != RunStatus.PREPARED:
            raise ValidationError(gettext("Erasure run #%(pk)s is not awaiting approval.") % {"pk": locked.pk})
        locked.status = RunStatus.REJECTED
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "finished_at"])
    return locked


def erasure_run_retry_failed(*, run: ErasureRun, user) -> int:
    """Queue an already approved run again; the engine retries exactly its failed items.

    Returns the number of failed items queued. Erased, held and skipped items are not touched.
    """
    if not user.has_perm(PREPARE_PERMISSION):
        raise PermissionDenied(gettext("Retrying an erasure needs the prepare-erasure permission."))
    with transaction.atomic():
        locked = _locked_run(run)
        if locked.status != RunStatus.FINISHED_WITH_FAILURES:
            raise ValidationError(gettext("Erasure run #%(pk)s has no failures to retry.") % {"pk": locked.pk})
        failed = ErasureRunItem.objects.filter(run=locked, status=ItemStatus.FAILED).count()
        locked.status = RunStatus.APPROVED
        locked.save(update_fields=["status"])
        enqueue_on_commit(ERASE_RUN_TASK, locked.pk)
    return failed


def erasure_run_create_approved(*, trigger: str, product_line: str = "", request_reference: str = "") -> ErasureRun:
    """A run started by a scheduled job or an operator's command: approved by the schedule itself."""
    return ErasureRun.objects.create(
        trigger=trigger, status=RunStatus.APPROVED, product_line=product_line, request_reference=request_reference
    )


# --- Reviews and assessments (PP-27) -------------------------------------------------------------------
def processing_review_record(
    *,
    processing: str,
    reviewer,
    reviewed_on: datetime.date,
    outcome: str,
    next_due: datetime.date,
    findings: str = "",
) -> ProcessingReview:
    """Record a periodic review; the latest review of a processing activity sets when the next is due."""
    review = ProcessingReview(
        processing=processing.strip(), reviewer=reviewer, reviewed_on=reviewed_on, outcome=outcome,
        next_due=next_due, findings=findings,
    )
    return processing_review_save(review=review)


def processing_review_save(*, review: ProcessingReview) -> ProcessingReview:
    """Validate and save a review (new or edited); a changed due date is reminded about afresh."""
    if review.pk and ProcessingReview.objects.filter(pk=review.pk).exclude(next_due=review.next_due).exists():
        review.reminded_on = None
    review.full_clean()
    review.save()
    return review


def impact_assessment_record(
    *,
    scope: str,
    risk_level: str,
    assessed_on: datetime.date,
    assessor,
    next_due: datetime.date | None = None,
    report=None,
) -> ImpactAssessment:
    """Register a security impact assessment; the report file is stored encrypted."""
    assessment = ImpactAssessment(
        scope=scope.strip(), risk_level=risk_level, assessed_on=assessed_on, assessor=assessor, next_due=next_due,
    )
    if report is not None:
        assessment.report = report
    return impact_assessment_save(assessment=assessment)


def impact_assessment_save(*, assessment: ImpactAssessment) -> ImpactAssessment:
    if assessment.next_due and assessment.next_due <= assessment.assessed_on:
        raise ValidationError({"next_due": gettext("The next assessment must fall after this one.")})
    if (
        assessment.pk
        and ImpactAssessment.objects.filter(pk=assessment.pk).exclude(next_due=assessment.next_due).exists()
    ):
        assessment.reminded_on = None
    assessment.full_clean()
    assessment.save()
    return assessment
