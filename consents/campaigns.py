"""Policy versions and re-consent campaigns (PP-39, PP-40): services and selectors.

Publishing a version is one locked transaction. A *major* version (any of section VII's six kinds,
or one that narrows a right) starts a re-consent campaign: one ``ReconsentNotice`` per active
member, inserted by a single ``INSERT … SELECT`` whatever the number of members, and the sending
queued after commit as Celery tasks of ``RECONSENT_CHUNK_SIZE`` notices each. A chunk task sends
its notices over one mail connection and marks them with a compare-and-set update, so a duplicated
or re-delivered task never e-mails a member twice. Minor versions start no campaign: continued use
after they take effect is acceptance (PP-39). A version that narrows a right binds a member only
once they accept it (PP-40): until then ``consents.selectors.may_process`` refuses their additional
purposes (``narrowing_versions_unaccepted``). Members' answers arrive through ``consents.api``.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import EmptyResultSet, PermissionDenied, ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import connection, models, transaction
from django.db.models import Count, Q
from django.template.loader import select_template
from django.utils import timezone, translation
from django.utils.translation import gettext

from accounts.dispatch.outbox import enqueue_many_on_commit, enqueue_on_commit
from accounts.languages import CHINESE, ENGLISH, localized_templates, member_language, supported
from accounts.members.choices import MemberStatus
from accounts.models import Member
from consents.choices import ChangeKind
from consents.models import PolicyVersion, ReconsentNotice

logger = logging.getLogger(__name__)

PUBLISH_PERMISSION = "consents.publish_policyversion"
#: The sweep re-queues notices still unsent this long after they were queued (a lost enqueue).
RESUME_AFTER = datetime.timedelta(hours=1)


def chunk_size() -> int:
    """Notices per sending task: ``settings.RECONSENT_CHUNK_SIZE`` (environment, default 500)."""
    return settings.RECONSENT_CHUNK_SIZE


# --- Set-based inserts ----------------------------------------------------------------------------
def insert_member_rows(
    *, model: type[models.Model], member_ids: models.QuerySet, constants: dict[str, object]
) -> int:
    """``INSERT INTO <model> (<constants>, member_id) SELECT <constants>, id FROM (<member_ids>)``.

    One statement for any number of members (100k disclosed members, 1M notices): nothing is
    loaded into Python. ``member_ids`` selects exactly one column, member primary keys (``values("pk")``).
    Constant values are adapted by their model field, so dates and times are stored as the ORM
    would store them on either database. Returns the number of rows inserted.
    """
    qn = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in constants]
    columns = [qn(field.column) for field in fields] + [qn(model._meta.get_field("member").column)]
    values = [field.get_db_prep_value(constants[field.name], connection=connection) for field in fields]
    try:
        select_sql, select_params = member_ids.order_by().query.sql_with_params()
    except EmptyResultSet:  # e.g. ``Member.objects.none()``: nothing to insert
        return 0
    placeholders = ", ".join(["%s"] * len(values))
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - identifiers from _meta
        # ``picked.*`` is the one selected column, whatever name each database gives it.
        f"SELECT {placeholders}, picked.* FROM ({select_sql}) picked"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *select_params])
        return cursor.rowcount


# --- Publishing -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishResult:
    version: PolicyVersion
    notices_queued: int  # re-consent notices created (0 for a minor version)


def policy_version_publish(
    *, version: PolicyVersion, user, now: datetime.datetime | None = None, notify: bool = True
) -> PublishResult:
    """Publish ``version`` (PP-39). A major version starts a re-consent campaign.

    Refuses a version that is already published, one without change kinds or with an effective
    date in the past. ``notify=False`` creates the campaign's notices without queueing the sending
    (demo data; the hourly sweep picks them up later).
    """
    if not user.has_perm(PUBLISH_PERMISSION):
        raise PermissionDenied(gettext("Publishing a policy version needs the publish permission."))
    now = now or timezone.now()
    with transaction.atomic():
        # Two officers pressing "publish" at the same moment both read an unpublished row. The row
        # lock makes the second wait for the first to commit; it then re-reads a published row and
        # is refused below, so the version is published and its campaign started exactly once.
        locked = PolicyVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise ValidationError(
                gettext(
                    "%(locked)s was already published on %(published_at)s. A published version is never changed: "
                    "prepare a new version instead."
                ) % {"locked": locked, "published_at": f"{locked.published_at:%Y-%m-%d %H:%M}"}
            )
        locked.full_clean()
        if locked.effective_at is not None and locked.effective_at < now:
            raise ValidationError(
                {"effective_at": gettext(
                    "The effective date is in the past: members could not have been told in time."
                )}
            )
        locked.published_at = now
        locked.effective_at = locked.effective_at or now
        locked.published_by = user
        locked._history_user = user
        locked.save()
        queued = 0
        if locked.is_major:
            queued = reconsent_notices_create(version=locked, now=now)
            if notify:
                # After commit: a worker must never look for notices that a rollback removed. A
                # worker, not this request, splits a million notices into chunk tasks.
                enqueue_on_commit("consents.start_reconsent_campaign", locked.pk)
    # The caller's instance reads as published too (admin actions, tests, the demo step).
    version.published_at, version.effective_at = locked.published_at, locked.effective_at
    version.published_by = locked.published_by
    logger.info("policy version %s published (major=%s, notices=%s)", locked.pk, locked.is_major, queued)
    return PublishResult(version=locked, notices_queued=queued)


def reconsent_notices_create(*, version: PolicyVersion, now: datetime.datetime | None = None) -> int:
    """One notice per active member of a major version, in one ``INSERT … SELECT``.

    Idempotent: members who already have a notice of this version are left out.
    """
    already = ReconsentNotice.objects.filter(policy_version=version).values("member_id")
    members = Member.objects.filter(status=MemberStatus.ACTIVE).exclude(pk__in=already).values("pk")
    return insert_member_rows(
        model=ReconsentNotice,
        member_ids=members,
        constants={"policy_version": version.pk, "queued_at": now or timezone.now()},
    )


# --- Sending --------------------------------------------------------------------------------------
def _unsent(version_id: int) -> models.QuerySet[ReconsentNotice]:
    # A member who has already accepted (in the app, say) needs no e-mail about it.
    return ReconsentNotice.objects.filter(
        policy_version_id=version_id, notified_at__isnull=True, accepted_at__isnull=True
    )


def notice_chunks(queryset: models.QuerySet[ReconsentNotice], size: int) -> Iterator[tuple[int, int]]:
    """``(first_id, last_id)`` of consecutive runs of ``size`` notices, streamed by id."""
    first = last = None
    count = 0
    for pk in queryset.order_by("pk").values_list("pk", flat=True).iterator(chunk_size=max(size, 2000)):
        if first is None:
            first = pk
        last = pk
        count += 1
        if count == size:
            yield first, last
            first, count = None, 0
    if first is not None:
        yield first, last


def campaign_enqueue(*, version_id: int, size: int | None = None, queued_before=None) -> int:
    """Queue one sending task per chunk of unsent notices of a version. Returns the chunks queued."""
    size = size or chunk_size()
    pending = _unsent(version_id)
    if queued_before is not None:
        pending = pending.filter(queued_at__lt=queued_before)
    with transaction.atomic():  # the chunk tasks reach the outbox together, and go out after commit
        chunks = enqueue_many_on_commit(
            "consents.send_reconsent_chunk",
            ((version_id, first_id, last_id) for first_id, last_id in notice_chunks(pending, size)),
        )
    logger.info("policy version %s: %s re-consent chunk(s) queued", version_id, chunks)
    return chunks


@dataclass(frozen=True)
class ChunkResult:
    selected: int
    sent: int
    without_email: int

    def as_dict(self) -> dict[str, int]:
        return {"selected": self.selected, "sent": self.sent, "without_email": self.without_email}


#: Issue 16: the notice's subject per language; its body is ``consents/email/[<language>/]reconsent_notice.txt``.
NOTICE_SUBJECT = {ENGLISH: "Our privacy policy is changing (version {version})",
                  CHINESE: "我们的隐私政策即将变更（版本 {version}）"}


def notice_message(*, version: PolicyVersion, member_number: str, email: str, connection,
                   language: str = ENGLISH) -> EmailMessage:
    """The prominent notice of a major change (PP-39), addressed by member number only, in ``language``
    (the member's preference, issue 16).

    PP-40: when the version narrows a right, the notice says what non-acceptance means, which is what
    ``consents.selectors.may_process`` applies.
    """
    language = supported(language) or ENGLISH
    with translation.override(language):
        body = select_template(localized_templates("consents/email/reconsent_notice.txt", language)).render({
            "version": version, "member_number": member_number, "narrows": narrows_a_right(version),
        })
    return EmailMessage(
        subject=NOTICE_SUBJECT[language].format(version=version.version),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[email],
        connection=connection,
    )


def reconsent_chunk_send(*, version_id: int, first_id: int, last_id: int) -> ChunkResult:
    """Send the unsent notices of one chunk over one mail connection; mark them notified.

    Exactly once per notice, also when the task is delivered twice:
    - the chunk's unsent rows are locked (``SKIP LOCKED`` on PostgreSQL), so a concurrent
      duplicate skips what this run is sending;
    - ``notified_at`` is set with a compare-and-set update (``notified_at IS NULL``), so a rerun
      after this one committed finds nothing left to send.
    A failure mid-chunk still marks what went out before it, then re-raises for Celery's retry.
    The member's e-mail is decrypted here only to address the message and is never logged.
    """
    version = PolicyVersion.objects.get(pk=version_id)
    error: Exception | None = None
    sent_ids: list[int] = []
    without_email = 0
    with transaction.atomic():
        notices = list(
            _unsent(version_id)
            .filter(pk__gte=first_id, pk__lte=last_id)
            .select_related("member")
            .only("pk", "member", "member__member_number", "member__email", "member__preferred_language")
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
        )
        try:
            with get_connection() as mail:
                for notice in notices:
                    if not notice.member.email:
                        without_email += 1
                        continue
                    message = notice_message(
                        version=version,
                        member_number=notice.member.member_number,
                        email=notice.member.email,
                        connection=mail,
                        language=member_language(notice.member),
                    )
                    message.send()
                    sent_ids.append(notice.pk)
        except Exception as exc:  # keep what was sent; re-raised after commit
            error = exc
        marked = 0
        if sent_ids:
            marked = ReconsentNotice.objects.filter(pk__in=sent_ids, notified_at__isnull=True).update(
                notified_at=timezone.now()
            )
    logger.info(
        "policy version %s chunk %s-%s: %s selected, %s sent, %s without e-mail",
        version_id, first_id, last_id, len(notices), marked, without_email,
    )
    if error is not None:
        raise error
    return ChunkResult(selected=len(notices), sent=marked, without_email=without_email)


@dataclass(frozen=True)
class ResumeResult:
    versions: int
    pending: int
    chunks: int
    dry_run: bool

    def as_dict(self) -> dict[str, int | bool]:
        return {"versions": self.versions, "pending": self.pending, "chunks": self.chunks, "dry_run": self.dry_run}


def campaigns_resume(*, dry_run: bool = False, now: datetime.datetime | None = None, bar=None) -> ResumeResult:
    """Re-queue notices still unsent an hour after they were queued (the scheduled sweep).

    Covers a lost enqueue (broker down at commit) and campaigns created with ``notify=False``.
    Safe to overlap with the original tasks: sending is exactly-once per notice.
    """
    cutoff = (now or timezone.now()) - RESUME_AFTER
    per_version = (
        ReconsentNotice.objects.filter(notified_at__isnull=True, accepted_at__isnull=True, queued_at__lt=cutoff)
        .order_by()
        .values("policy_version_id")
        .annotate(pending=Count("pk"))
    )
    versions = pending = chunks = 0
    for row in per_version:
        versions += 1
        pending += row["pending"]
        if not dry_run:
            chunks += campaign_enqueue(version_id=row["policy_version_id"], queued_before=cutoff)
        if bar is not None:
            bar.update(1)
    return ResumeResult(versions=versions, pending=pending, chunks=chunks, dry_run=dry_run)


# --- Members' answers -----------------------------------------------------------------------------
def reconsent_notice_seen(*, version: PolicyVersion, member: Member, at: datetime.datetime | None = None) -> bool:
    """The member opened the notice (app banner, e-mail link). True if this call recorded it."""
    at = at or timezone.now()
    return bool(
        ReconsentNotice.objects.filter(policy_version=version, member=member, seen_at__isnull=True).update(seen_at=at)
    )


def reconsent_notice_accept(
    *, version: PolicyVersion, member: Member, at: datetime.datetime | None = None
) -> bool:
    """The member accepted a published version explicitly (PP-40). True if this call recorded it.

    Accepting implies having seen it. A member without a notice (inactive when the version was
    published) gets one, so the acceptance is kept in the same place as everyone else's.
    """
    if not version.is_published:
        raise ValidationError(gettext(
            "%(version)s is not published: there is nothing to accept yet."
        ) % {"version": version})
    at = at or timezone.now()
    with transaction.atomic():
        ReconsentNotice.objects.get_or_create(policy_version=version, member=member, defaults={"queued_at": at})
        ReconsentNotice.objects.filter(policy_version=version, member=member, seen_at__isnull=True).update(seen_at=at)
        return bool(
            ReconsentNotice.objects.filter(policy_version=version, member=member, accepted_at__isnull=True).update(
                accepted_at=at
            )
        )


def narrows_a_right(version: PolicyVersion) -> bool:
    """Does ``version`` narrow a member's right (PP-40)? Then it needs each member's express acceptance."""
    return ChangeKind.NARROWS_RIGHT in version.change_kinds


def narrowing_versions_unaccepted(*, member, registered_at, at: datetime.datetime) -> models.QuerySet[PolicyVersion]:
    """Versions in effect at ``at`` that narrow a right and that the member had not accepted by then (PP-40).

    ``member`` (a member's primary key) and ``registered_at`` are values for one member
    (``may_process``) or ``OuterRef`` expressions for a set-based read (``audience``): it is one
    subquery either way. The rule is ``member_has_accepted``'s for a major version: an explicit
    acceptance at or before ``at``, or registering at or after the version's publication.

    ``change_kinds`` is a JSON list. JSON containment (``__contains``) exists on PostgreSQL only,
    so the kind is matched as its quoted token in the JSON text, which both databases support; no
    other kind's value contains ``"narrows_right"`` with its quotes. The table holds a few dozen rows.
    """
    # One level deeper than the caller's expression: an outer reference must reach out twice.
    notice_member = models.OuterRef(member) if isinstance(member, models.OuterRef) else member
    accepted = ReconsentNotice.objects.filter(
        policy_version_id=models.OuterRef("pk"), member_id=notice_member, accepted_at__isnull=False,
        accepted_at__lte=at,
    )
    return (
        PolicyVersion.objects.filter(
            change_kinds__icontains=f'"{ChangeKind.NARROWS_RIGHT.value}"',
            published_at__isnull=False,
            published_at__lte=at,
            effective_at__lte=at,
            published_at__gt=registered_at,
        )
        .filter(~models.Exists(accepted))
        .order_by("effective_at", "pk")
    )


def member_has_accepted(member: Member, version: PolicyVersion, *, at: datetime.datetime | None = None) -> bool:
    """Has ``member`` accepted ``version`` at ``at``? (PP-39, PP-40)

    - Minor versions: continued use after the version takes effect is acceptance.
    - Major versions (including any that narrows a right): only an explicit acceptance counts,
      or registering after the version was published (the member signed up under it).
    """
    at = at or timezone.now()
    if not version.is_published or version.published_at > at:
        return False
    if not version.is_major:
        return version.effective_at <= at
    if member.registered_at >= version.published_at:
        return True
    return ReconsentNotice.objects.filter(
        policy_version=version, member=member, accepted_at__isnull=False, accepted_at__lte=at
    ).exists()


# --- Campaign progress ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CampaignProgress:
    queued: int
    notified: int
    seen: int
    accepted: int

    @staticmethod
    def _percent(part: int, whole: int) -> float:
        return round(100.0 * part / whole, 1) if whole else 0.0

    @property
    def notified_percent(self) -> float:
        return self._percent(self.notified, self.queued)

    @property
    def seen_percent(self) -> float:
        return self._percent(self.seen, self.queued)

    @property
    def accepted_percent(self) -> float:
        return self._percent(self.accepted, self.queued)

    @classmethod
    def of_annotated(cls, version: PolicyVersion) -> CampaignProgress:
        """From a version read through ``with_campaign_counts`` (no further query)."""
        return cls(
            queued=version.notices_queued,
            notified=version.notices_notified,
            seen=version.notices_seen,
            accepted=version.notices_accepted,
        )


def _counts(prefix: str) -> dict[str, Count]:
    return {
        "notices_queued": Count(f"{prefix}pk"),
        "notices_notified": Count(f"{prefix}pk", filter=Q(**{f"{prefix}notified_at__isnull": False})),
        "notices_seen": Count(f"{prefix}pk", filter=Q(**{f"{prefix}seen_at__isnull": False})),
        "notices_accepted": Count(f"{prefix}pk", filter=Q(**{f"{prefix}accepted_at__isnull": False})),
    }


def with_campaign_counts(queryset: models.QuerySet[PolicyVersion]) -> models.QuerySet[PolicyVersion]:
    """Annotate each version with its campaign's counts: conditional aggregation, one query per page."""
    return queryset.annotate(**_counts("notices__"))


def campaign_progress(version: PolicyVersion) -> CampaignProgress:
    """One version's campaign counts in one aggregate query."""
    row = ReconsentNotice.objects.filter(policy_version=version).aggregate(**_counts(""))
    return CampaignProgress(
        queued=row["notices_queued"],
        notified=row["notices_notified"],
        seen=row["notices_seen"],
        accepted=row["notices_accepted"],
    )
