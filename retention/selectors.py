"""Reads of the retention app: who is held, who is due for which job, what is due for review."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from accounts.members.choices import MemberStatus
from accounts.models import CHILD_AGE_LIMIT, DeviceRecord, Member, ProductLine
from accounts.privacy.datamap import service_scoped_models
from retention.choices import ItemStatus
from retention.erasure.tombstones import TOMBSTONE_PREFIX
from retention.models import ErasureRun, ErasureRunItem, ImpactAssessment, LegalHold, ProcessingReview


# --- Legal holds ------------------------------------------------------------------------------------
def active_hold_q(*, today: datetime.date, prefix: str = "") -> Q:
    """Q for holds in force on ``today`` (``prefix`` reaches LegalHold through a relation).

    The same rule as ``LegalHold.is_active_on``, in SQL.
    """
    p = prefix
    return (
        Q(**{f"{p}released_at__isnull": True})
        & Q(**{f"{p}starts_on__lte": today})
        & (Q(**{f"{p}ends_on__isnull": True}) | Q(**{f"{p}ends_on__gte": today}))
    )


def active_holds(*, today: datetime.date) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(active_hold_q(today=today))


def held_member_ids(*, member_ids: Iterable[int] | None = None, today: datetime.date) -> set[int]:
    """Members with a hold in force on ``today`` (one query; served by ``retention_hold_open``)."""
    holds = active_holds(today=today)
    if member_ids is not None:
        holds = holds.filter(member_id__in=list(member_ids))
    return set(holds.values_list("member_id", flat=True).distinct())


def is_held_subquery(*, today: datetime.date) -> Exists:
    """``Exists`` to annotate or filter members: held today."""
    return Exists(active_holds(today=today).filter(member_id=OuterRef("pk")))


# --- PP-33: cancellation grace period ----------------------------------------------------------------
def cancellation_cutoff(*, now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=settings.CANCELLATION_GRACE_DAYS)


def members_cancelled_past_grace(*, now: datetime.datetime) -> QuerySet[Member]:
    """Cancelled members whose cancellation is older than the grace period (PP-33).

    Served by the ``accounts_member_status_cancel`` index. The engine re-applies the same filter
    inside its lock (``eligible``) so a member reinstated meanwhile is not erased.
    """
    return Member.objects.filter(status=MemberStatus.CANCELLED, cancelled_at__lt=cancellation_cutoff(now=now))


# --- PP-37: under 14 ---------------------------------------------------------------------------------
def under_14_candidates(*, today: datetime.date) -> QuerySet[Member]:
    """Everyone who *may* be under 14 on ``today``, selected on the plain birth year in SQL.

    Someone born in ``today.year - 14`` may or may not have had their 14th birthday yet; anyone born
    earlier is 14 or older. Only these rows are decrypted for the exact check (PP-03), served by
    the ``accounts_member_birth_year`` index; members whose date of birth was already erased
    (null) can never be children again.
    """
    return Member.objects.filter(birth_year__gte=today.year - CHILD_AGE_LIMIT, date_of_birth__isnull=False)


# --- PP-11: short-lived security data ----------------------------------------------------------------
def security_data_cutoff(*, now: datetime.datetime) -> datetime.datetime:
    return now - datetime.timedelta(days=settings.SECURITY_DATA_RETENTION_DAYS)


def expired_device_records(*, now: datetime.datetime) -> QuerySet[DeviceRecord]:
    """Device records older than their retention (PP-11), except those of members under legal hold.

    A hold blocks erasure of *all* of that member's data, security logs included: they are often
    what the hold is for. Served by the ``accounts_device_seen`` index.
    """
    held = active_holds(today=now.date()).filter(member_id=OuterRef("member_id"))
    return DeviceRecord.objects.filter(seen_at__lt=security_data_cutoff(now=now)).exclude(Exists(held))


# --- PP-19: service shutdown -------------------------------------------------------------------------
def product_line_members(*, product_line: ProductLine) -> tuple[QuerySet[Member], QuerySet[Member]]:
    """(members who used only this product line, members who also use others)."""
    through = Member.product_lines.through
    uses_other = Exists(
        through.objects.filter(member_id=OuterRef("pk")).exclude(productline_id=product_line.pk)
    )
    users = Member.objects.filter(Exists(through.objects.filter(member_id=OuterRef("pk"),
                                                                productline_id=product_line.pk)))
    return users.exclude(uses_other), users.filter(uses_other)


def _not_tombstones(members: QuerySet[Member]) -> QuerySet[Member]:
    # An erased member's kept rows already point at a row that identifies nobody (retention.erasure.expiry).
    return members.exclude(status=MemberStatus.CLOSED, member_number__startswith=TOMBSTONE_PREFIX)


def product_line_row_owners(*, product_line: ProductLine) -> QuerySet[Member]:
    """Members (tombstones aside) holding any row of ``product_line`` in a model of data of a service.

    One ``EXISTS`` per model the data map declares service-scoped, served by each model's
    ``(product_line, member)`` index.
    """
    owns = Q()
    for model, line_field in service_scoped_models():
        owns |= Exists(model._base_manager.filter(**{line_field: product_line.pk}, member_id=OuterRef("pk")))
    return _not_tombstones(Member.objects.filter(owns)) if owns else Member.objects.none()


def product_line_kept_members(*, product_line: ProductLine) -> QuerySet[Member]:
    """Members who keep their account when ``product_line`` closes but lose its rows (PP-19).

    Everyone with rows of the line except those who used only this line (the engine erases them).
    """
    only, _shared = product_line_members(product_line=product_line)
    return product_line_row_owners(product_line=product_line).exclude(pk__in=only.values("pk"))


NO_LINE = "(no line)"


def product_line_rows_by_line(*, product_line: ProductLine) -> dict[str, int]:
    """Rows of the members a shutdown concerns, per service-scoped model and per line (the dry run's report).

    Keys are ``"<model label> [<line code>]"`` (``(no line)`` for rows not yet attributed, see
    ``product_line_attribution_report``); one ``GROUP BY`` per model.
    """
    only, shared = product_line_members(product_line=product_line)
    concerned = _not_tombstones(
        Member.objects.filter(Q(pk__in=only.values("pk")) | Q(pk__in=shared.values("pk"))
                              | Q(pk__in=product_line_row_owners(product_line=product_line).values("pk")))
    )
    counts: dict[str, int] = {}
    for model, line_field in service_scoped_models():
        rows = (model._base_manager.filter(member_id__in=concerned.values("pk")).order_by()
                .values_list(f"{line_field}__code").annotate(n=Count("pk")))
        for code, n in rows:
            counts[f"{model._meta.label} [{code or NO_LINE}]"] = n
    return counts


def product_line_rows_of_kept_members(*, product_line: ProductLine, today: datetime.date) -> dict[str, int]:
    """The rows a shutdown erases of members who keep another line, per model (holds in force aside)."""
    kept = product_line_kept_members(product_line=product_line).exclude(is_held_subquery(today=today))
    counts: dict[str, int] = {}
    for model, line_field in service_scoped_models():
        n = model._base_manager.filter(**{line_field: product_line.pk}, member_id__in=kept.values("pk")).count()
        if n:
            counts[model._meta.label] = n
    return counts


# --- PP-27: reviews and assessments ------------------------------------------------------------------
def reminder_window_days() -> int:
    return int(getattr(settings, "REVIEW_REMINDER_DAYS", 14))


def current_reviews() -> QuerySet[ProcessingReview]:
    """The latest review of each processing activity; older ones are superseded and never fall due."""
    later = ProcessingReview.objects.filter(processing=OuterRef("processing")).filter(
        Q(reviewed_on__gt=OuterRef("reviewed_on")) | Q(reviewed_on=OuterRef("reviewed_on"), pk__gt=OuterRef("pk"))
    )
    return ProcessingReview.objects.exclude(Exists(later))


def current_assessments() -> QuerySet[ImpactAssessment]:
    """The latest assessment of each scope."""
    later = ImpactAssessment.objects.filter(scope=OuterRef("scope")).filter(
        Q(assessed_on__gt=OuterRef("assessed_on")) | Q(assessed_on=OuterRef("assessed_on"), pk__gt=OuterRef("pk"))
    )
    return ImpactAssessment.objects.exclude(Exists(later))


def not_reminded_on(day: datetime.date) -> Q:
    return Q(reminded_on__isnull=True) | Q(reminded_on__lt=day)


def reviews_due(*, today: datetime.date, days: int | None = None) -> QuerySet[ProcessingReview]:
    """Current reviews due within ``days`` (or overdue) not yet reminded about today."""
    horizon = today + datetime.timedelta(days=reminder_window_days() if days is None else days)
    return current_reviews().filter(next_due__lte=horizon).filter(not_reminded_on(today))


def assessments_due(*, today: datetime.date, days: int | None = None) -> QuerySet[ImpactAssessment]:
    horizon = today + datetime.timedelta(days=reminder_window_days() if days is None else days)
    return current_assessments().filter(next_due__isnull=False, next_due__lte=horizon).filter(
        not_reminded_on(today)
    )


# --- Erasure runs ------------------------------------------------------------------------------------
def run_item_counts(*, run: ErasureRun) -> dict[str, int]:
    """Items of a run per status, in one aggregate query."""
    from django.db.models import Count

    rows = ErasureRunItem.objects.filter(run=run).order_by().values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def run_failures(*, run: ErasureRun, limit: int = 100) -> list[ErasureRunItem]:
    return list(ErasureRunItem.objects.filter(run=run, status=ItemStatus.FAILED).order_by("pk")[:limit])
