"""Scheduled jobs as plain functions: chunked, idempotent, returning counts (design decision 6).

A Celery task (``retention/tasks.py``) and a management command call each one. Every real run
records a ``JobRun`` row with its counts (shown read-only in the admin); a dry run reports what
would happen and writes nothing at all, not even its ``JobRun``.

Erasing jobs hand their members to the engine (``retention.erasure.runner.erase_members``), which works in
chunks, each in its own transaction under a lock, re-selects inside the lock who still qualifies
(``eligible``), skips members under legal hold and writes the erasure records.
"""

from __future__ import annotations

import datetime
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from accounts.choices import MemberStatus
from accounts.models import DeviceRecord, Member, ProductLine, StaffUser
from retention import deidentify, reminders, selectors, services
from retention.choices import ErasureTrigger
from retention.erasure import expiry, runner
from retention.erasure.tombstones import is_tombstone_number
from retention.models import ImpactAssessment, JobRun, ProcessingReview

logger = logging.getLogger(__name__)

#: Device records deleted per statement by ``expire_security_data``.
SECURITY_DATA_CHUNK = 5000


@dataclass(frozen=True)
class JobResult:
    selected: int
    changed: int
    dry_run: bool
    #: Further counts (held, failed, rows per model, a written file's path …).
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"selected": self.selected, "changed": self.changed, "dry_run": self.dry_run, **self.details}


def _record(job: str, started: datetime.datetime, result: JobResult) -> JobResult:
    """One ``JobRun`` row per real run (dry runs change nothing, so they record nothing)."""
    if not result.dry_run:
        JobRun.objects.create(job=job, started_at=started, finished_at=timezone.now(), counts=result.as_dict())
    return result


def _record_failure(job: str, started: datetime.datetime, exc: BaseException) -> None:
    # Exception messages of this project carry no personal data (style rule 6).
    JobRun.objects.create(
        job=job, started_at=started, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:2000]
    )


def _recorded(job: str):
    """Decorator: record a JobRun for a real run, and one with the error when it raises."""

    def wrap(function):
        @functools.wraps(function)
        def run(*args, dry_run: bool = False, **kwargs) -> JobResult:
            started = timezone.now()
            try:
                result = function(*args, dry_run=dry_run, **kwargs)
            except Exception as exc:
                if not dry_run:
                    _record_failure(job, started, exc)
                raise
            return _record(job, started, result)

        run.job_name = job
        return run

    return wrap


def _engine_details(result) -> dict:
    return {
        "erased": len(result.erased),
        "held": len(result.held),
        "skipped": len(result.skipped),
        "failed": len(result.failed),
        "rows": dict(result.counts),
    }


@_recorded("clear_expired_sessions")
def clear_expired_sessions(*, dry_run: bool = False) -> JobResult:
    """Delete expired staff login sessions (short-lived security data).

    One DELETE whatever the number of rows; running it twice deletes nothing more.
    """
    expired = Session.objects.filter(expire_date__lt=timezone.now())
    selected = expired.count()
    if dry_run:
        return JobResult(selected=selected, changed=0, dry_run=True)
    deleted, _ = expired.delete()
    return JobResult(selected=selected, changed=deleted, dry_run=False)


# --- PP-33 -------------------------------------------------------------------------------------------
@_recorded("anonymise_cancelled")
def anonymise_cancelled(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int | None = None,
    bar=None,
) -> JobResult:
    """Erase members whose cancellation is older than ``CANCELLATION_GRACE_DAYS`` (PP-33).

    The engine turns each erased member into a closed tombstone, so the next run does not select
    it again. Held members stay cancelled and are retried every run until their hold ends. Data
    under legal retention is pseudonymised by the engine as the data map says.
    """
    now = now or timezone.now()
    cutoff = selectors.cancellation_cutoff(now=now)
    candidates = dict(selectors.members_cancelled_past_grace(now=now).order_by("pk").values_list("pk",
                                                                                                "member_number"))

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Inside the engine's lock: a member reinstated (or whose cancellation date moved) since
        # the selection above is no longer erased.
        return chunk.filter(status=MemberStatus.CANCELLED, cancelled_at__lt=cutoff)

    return _erase(
        candidates, trigger=ErasureTrigger.CANCELLATION, eligible=eligible, dry_run=dry_run, chunk_size=chunk_size,
        bar=bar,
    )


def _erase(
    candidates: dict[int, str],
    *,
    trigger: str,
    eligible,
    dry_run: bool,
    chunk_size: int | None,
    bar,
    product_line: str = "",
    extra: dict | None = None,
) -> JobResult:
    if not candidates:
        return JobResult(selected=0, changed=0, dry_run=dry_run, details={**(extra or {}), "erased": 0, "held": 0,
                                                                          "skipped": 0, "failed": 0, "rows": {}})
    if bar is not None:
        bar.total = len(candidates)
        bar.refresh()
    run = None if dry_run else services.erasure_run_create_approved(trigger=trigger, product_line=product_line)
    result = runner.erase_members(
        member_ids=list(candidates), trigger=trigger, run=run, chunk_size=chunk_size, dry_run=dry_run,
        eligible=eligible, progress=bar.update if bar is not None else None,
    )
    details = {**(extra or {}), **_engine_details(result)}
    if run is not None:
        details["run"] = run.pk
    if result.failed:
        # Member numbers and the engine's reason only: no personal data in logs.
        logger.warning("%s: %d member(s) failed to erase; see erasure run #%s", trigger, len(result.failed),
                       details.get("run"))
    return JobResult(
        selected=len(candidates), changed=0 if dry_run else len(result.erased), dry_run=dry_run, details=details
    )


@_recorded("expire_legal_retention")
def expire_legal_retention(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int | None = None, bar=None,
) -> JobResult:
    """Anonymise what erased members kept for legal retention once the longest period has passed (PP-13).

    An erased member is a closed tombstone that may still hold pseudonymised transaction records
    and disclosure links for the periods of ``LEGAL_RETENTION_DAYS``; when the last of those
    periods has run out, the engine erases what remains. A tombstone already emptied is not
    selected again, so the job is idempotent.
    """
    candidates = list(expiry.tombstones_due_for_retention(now).order_by("pk").values_list("pk", flat=True))
    if bar is not None:
        bar.total = len(candidates)
        bar.refresh()
    result = expiry.expire_retention(dry_run=dry_run, chunk_size=chunk_size, now=now,
                                     progress=bar.update if bar is not None else None)
    rows = dict(result.counts)
    return JobResult(selected=len(candidates), changed=0 if dry_run else sum(rows.values()), dry_run=dry_run,
                     details={"rows": rows})


# --- PP-37 -------------------------------------------------------------------------------------------
#: The request desk's model (issue 6) and what marks a confirmed underage report on it. Read through
#: the app registry so that retention never imports requests_desk.
UNDERAGE_REPORT_MODEL = ("requests_desk", "Request")
UNDERAGE_REPORT_TYPE = "underage_report"
#: Compliance confirms a report by fulfilling it (a refused report names no child).
UNDERAGE_CONFIRMED_STATUS = "fulfilled"
UNDERAGE_REPORT_FIELDS = frozenset({"member", "type", "status"})


def underage_confirmed_member_ids() -> set[int]:
    """Members named by a confirmed underage report (PP-37); nothing if the request desk has no such model.

    Contract with the request desk: ``requests_desk.Request`` with a ``member`` foreign key, a
    ``type`` of ``"underage_report"`` and the status ``"fulfilled"`` once compliance confirmed the
    report. A missing model or field gives no members (and a warning for the field), never a
    crash of the nightly purge.
    """
    try:
        model = apps.get_model(*UNDERAGE_REPORT_MODEL)
    except LookupError:
        return set()
    names = {f.name for f in model._meta.get_fields()}
    if not UNDERAGE_REPORT_FIELDS.issubset(names):
        logger.warning("purge_under_14: %s has no confirmed-underage fields; reports are not read",
                       model._meta.label)
        return set()
    return set(
        model._default_manager.filter(
            type=UNDERAGE_REPORT_TYPE, status=UNDERAGE_CONFIRMED_STATUS, member__isnull=False
        ).values_list("member_id", flat=True)
    )


def under_14_member_ids(*, today: datetime.date, extra_member_ids: Iterable[int] = ()) -> dict[int, str]:
    """Members under 14 on ``today`` by date of birth, plus those named (e.g. by a confirmed report).

    Only the birth-year candidates are decrypted (one query for them); no job decrypts the table.
    """
    found: dict[int, str] = {}
    for member in selectors.under_14_candidates(today=today).only("pk", "member_number", "date_of_birth").iterator(
        chunk_size=2000
    ):
        if member.is_child_on(today):
            found[member.pk] = member.member_number
    named = set(extra_member_ids) - set(found)
    if named:
        # A report stays confirmed after the erasure: the tombstone it now names has nothing left.
        found.update(
            (pk, number)
            for pk, number in Member.objects.filter(pk__in=named).values_list("pk", "member_number")
            if not is_tombstone_number(number)
        )
    return dict(sorted(found.items()))


def _close(member_ids: list[int]) -> int:
    """Close the accounts (stop the service) with a history row each, in a constant number of queries."""
    from simple_history.utils import bulk_update_with_history

    members = list(Member.objects.filter(pk__in=member_ids).exclude(status=MemberStatus.CLOSED))
    for member in members:
        member.status = MemberStatus.CLOSED
    if members:
        bulk_update_with_history(members, Member, ["status"], batch_size=500,
                                 default_change_reason="PP-37: member under 14")
    return len(members)


@_recorded("purge_under_14")
def purge_under_14(
    *, dry_run: bool = False, today: datetime.date | None = None, extra_member_ids: Iterable[int] = (),
    chunk_size: int | None = None, bar=None,
) -> JobResult:
    """Close and fully erase members under 14 (PP-37), with no legal-retention exception.

    A legal hold still applies: a held child's account is closed, its erasure waits for the hold.
    """
    today = today or timezone.localdate()
    named = set(extra_member_ids) | underage_confirmed_member_ids()
    candidates = under_14_member_ids(today=today, extra_member_ids=named)
    if dry_run:
        closed = Member.objects.filter(pk__in=list(candidates)).exclude(status=MemberStatus.CLOSED).count()
    elif candidates:
        with transaction.atomic():
            closed = _close(list(candidates))
    else:
        closed = 0

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Inside the engine's lock, re-check the only thing that can change: a date of birth
        # corrected since the selection (the chunk's candidates only are decrypted again).
        still = [m.pk for m in chunk.only("pk", "date_of_birth") if m.pk in named or m.is_child_on(today)]
        return chunk.filter(pk__in=still)

    return _erase(
        candidates, trigger=ErasureTrigger.UNDER_14, eligible=eligible, dry_run=dry_run, chunk_size=chunk_size,
        bar=bar, extra={"closed": closed},
    )


# --- PP-11 -------------------------------------------------------------------------------------------
@_recorded("expire_security_data")
def expire_security_data(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int = SECURITY_DATA_CHUNK,
    bar=None,
) -> JobResult:
    """Delete device and security records older than ``SECURITY_DATA_RETENTION_DAYS`` (PP-11).

    Set-based: one SELECT of ids and one DELETE per chunk, each chunk its own short transaction so
    a large backlog never holds a long lock. Members under legal hold keep theirs. Staff sign-in
    records of django-axes (e-mail, IP address, browser) older than the same retention go too.
    Staff sessions are cleared by ``clear_expired_sessions``.
    """
    now = now or timezone.now()
    expired = selectors.expired_device_records(now=now)
    if dry_run:
        cutoff = selectors.security_data_cutoff(now=now)
        sign_ins = sum(queryset.count() for _model, queryset in _sign_in_records(cutoff))
        return JobResult(selected=expired.count(), changed=0, dry_run=True, details={"sign_in_records": sign_ins})
    if bar is not None:
        bar.total = expired.count()
        bar.refresh()
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(expired.order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not ids:
                break
            # DeviceRecord has no dependants nor signals: Django issues one fast DELETE.
            count, _ = DeviceRecord.objects.filter(pk__in=ids).delete()
        deleted += count
        if bar is not None:
            bar.update(count)
        if len(ids) < chunk_size:
            break
    sign_ins = _expire_sign_in_records(cutoff=selectors.security_data_cutoff(now=now),
                                       chunk_size=chunk_size)
    return JobResult(selected=deleted, changed=deleted, dry_run=False, details={"sign_in_records": sign_ins})


#: django-axes keeps staff sign-in attempts (e-mail, IP address, browser): security data too (PP-11).
SIGN_IN_RECORD_MODELS = (("axes", "AccessAttempt"), ("axes", "AccessLog"), ("axes", "AccessFailureLog"))


def _sign_in_records(cutoff: datetime.datetime):
    for app_label, name in SIGN_IN_RECORD_MODELS:
        if apps.is_installed(app_label):
            model = apps.get_model(app_label, name)
            yield model, model.objects.filter(attempt_time__lt=cutoff)


def _expire_sign_in_records(*, cutoff: datetime.datetime, chunk_size: int) -> int:
    """Delete staff sign-in records older than the security-data retention, chunk by chunk."""
    deleted = 0
    for model, expired in _sign_in_records(cutoff):
        while True:
            with transaction.atomic():
                ids = list(expired.order_by("pk").values_list("pk", flat=True)[:chunk_size])
                if not ids:
                    break
                count, _ = model.objects.filter(pk__in=ids).delete()
            deleted += count
            if len(ids) < chunk_size:
                break
    return deleted


# --- PP-19 -------------------------------------------------------------------------------------------
@_recorded("shutdown_service")
def shutdown_service(
    *, product_line: str, dry_run: bool = False, today: datetime.date | None = None, chunk_size: int | None = None,
    bar=None,
) -> JobResult:
    """Anonymise all data of a closed product line (PP-19).

    Members who used only this line are erased (trigger service shutdown); members who also use
    another line lose only their link to this one. The line is marked closed. The dry run reports
    the members affected and the rows per model the engine would change.
    """
    today = today or timezone.localdate()
    try:
        line = ProductLine.objects.get(code=product_line)
    except ProductLine.DoesNotExist:
        raise ValueError(f"No product line with code {product_line!r}.") from None
    only, shared = selectors.product_line_members(product_line=line)
    candidates = dict(only.order_by("pk").values_list("pk", "member_number"))
    through = Member.product_lines.through
    links = through.objects.filter(productline_id=line.pk, member_id__in=shared.values("pk"))
    if dry_run:
        unlinked = links.count()
        notified = 0 if line.members_notified_at else (only | shared).count()
    else:
        # Stop collecting (the line is closed) and tell its members, before anything is erased.
        if line.closed_on is None:
            ProductLine.objects.filter(pk=line.pk, closed_on__isnull=True).update(closed_on=today)
            line.closed_on = today
        notified = notify_product_line_closure(line=line)
        with transaction.atomic():
            # The link is the only data of these members that belongs to the line.
            unlinked, _ = links.delete()

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Re-checked in the lock: a member who took up another line meanwhile keeps their data.
        still_only, _ = selectors.product_line_members(product_line=line)
        return chunk.filter(pk__in=still_only.values("pk"))

    return _erase(
        candidates, trigger=ErasureTrigger.SERVICE_SHUTDOWN, eligible=eligible, dry_run=dry_run,
        chunk_size=chunk_size, bar=bar, product_line=line.code,
        extra={"product_line": line.code, "members_unlinked": unlinked, "members_notified": notified},
    )


#: Closure notices per SMTP connection batch.
NOTICE_BATCH = 500


def notify_product_line_closure(*, line: ProductLine, chunk_size: int = 2000) -> int:
    """E-mail every member of ``line`` that the service is closed and what happens to their data (PP-19).

    Done once per line: ``members_notified_at`` is set after the last notice, and a line already
    notified sends nothing. Members are read in key order, ``chunk_size`` at a time (their e-mail
    is decrypted in Python, never filtered in SQL); notices go out over one connection per batch.
    A crash part-way means the next run notifies the whole list again: a repeated notice is the
    lesser harm than a member never told.
    """
    if line.members_notified_at is not None:
        return 0
    only, shared = selectors.product_line_members(product_line=line)
    erased_ids = set(only.values_list("pk", flat=True))
    members = (only | shared).order_by("pk")
    sent = 0
    last = 0
    with get_connection() as connection:
        while True:
            rows = list(members.filter(pk__gt=last).values_list("pk", "member_number", "email")[:chunk_size])
            if not rows:
                break
            last = rows[-1][0]
            messages = [
                EmailMessage(
                    subject=f"{line.name} is closed: what happens to your data",
                    body=render_to_string("retention/email/service_closed.txt", {
                        "line": line, "member_number": number, "erased": pk in erased_ids,
                        "contact": settings.OFFICIAL_REQUESTS_EMAIL,
                    }),
                    from_email=settings.DEFAULT_FROM_EMAIL, to=[email], connection=connection,
                )
                for pk, number, email in rows if email
            ]
            for start in range(0, len(messages), NOTICE_BATCH):
                sent += connection.send_messages(messages[start:start + NOTICE_BATCH]) or 0
    ProductLine.objects.filter(pk=line.pk).update(members_notified_at=timezone.now())
    line.members_notified_at = timezone.now()
    logger.info("product line %s: closure notice sent to %d member(s)", line.code, sent)
    return sent


# --- PP-02: erasure records outside the database ---------------------------------------------------
@_recorded("copy_erasure_records")
def copy_erasure_records(*, dry_run: bool = False, directory: str | Path | None = None,
                         now: datetime.datetime | None = None) -> JobResult:
    """Write today's copy of the erasure records to ``ERASURE_RECORDS_COPY_DIR`` (PP-02).

    The copy lives outside the database (another volume, a bucket mount), so a database restored
    from an older backup, or lost outright, can get back the records of erasures made since
    (``manage.py erasure_records import``) and ``reapply_erasures`` finds the members again.
    """

    from retention import records_io
    from retention.models import ErasureRecord

    target = directory or getattr(settings, "ERASURE_RECORDS_COPY_DIR", "")
    total = ErasureRecord.objects.count()
    if not target:
        logger.warning("copy_erasure_records: ERASURE_RECORDS_COPY_DIR is not set; no copy written")
        return JobResult(selected=total, changed=0, dry_run=dry_run, details={"skipped": "no directory set"})
    if dry_run:
        return JobResult(selected=total, changed=0, dry_run=True)
    path, written = records_io.copy_to_directory(Path(target), now=now,
                                                 keep=getattr(settings, "ERASURE_RECORDS_COPIES_KEPT", 30))
    return JobResult(selected=total, changed=written, dry_run=False, details={"path": str(path)})


# --- PP-18 -------------------------------------------------------------------------------------------
@_recorded("export_deidentified")
def export_deidentified(
    *, dry_run: bool = False, path: str | Path | None = None, today: datetime.date | None = None,
    k: int | None = None,
) -> JobResult:
    """Write the de-identified research dataset (``retention.deidentify``) as CSV.

    The file's path is kept in the job run's counts so an erasure can find every export generated
    (they carry no direct identifiers, and suppressed rows never reach them).
    """
    dataset = deidentify.build_dataset(today=today, k=k)
    details = {"rows": len(dataset.rows), "generalised": dataset.generalised, "suppressed": dataset.suppressed,
               "k": dataset.k}
    if not dry_run:
        target = deidentify.write_csv(dataset, Path(path) if path else deidentify.default_export_path())
        details["path"] = str(target)
    return JobResult(selected=dataset.selected, changed=len(dataset.rows) if not dry_run else 0, dry_run=dry_run,
                     details=details)


def generated_export_paths() -> list[str]:
    """Every de-identified export file this back office wrote (for the erasure's reach)."""
    counts = JobRun.objects.filter(job="export_deidentified", error="").values_list("counts", flat=True)
    return [c["path"] for c in counts if isinstance(c, dict) and c.get("path")]


# --- PP-27 -------------------------------------------------------------------------------------------
REVIEW_DIGEST_TEMPLATE = "retention/email/review_reminder.txt"
REVIEW_DIGEST_SUBJECT = "Processing reviews and impact assessments falling due"


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


@_recorded("send_review_reminders")
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
