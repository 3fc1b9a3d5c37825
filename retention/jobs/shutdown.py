"""Job (PP-19): anonymise all data of a closed product line, after telling its members.

Members who used only the closed line are erased (trigger service shutdown). Members who also use
another line keep their account and their other lines' records, but lose the closed line's
records - every model the data map declares data of a service (``DataMap.product_line_field``:
device records deleted, transaction records detached to a tombstone for their legal retention,
``retention.erasure.lines``) - and their link to the line. Before anything is erased the line is
marked closed and every member of it is e-mailed once (``notify_product_line_closure``).
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import select_template
from django.utils import timezone, translation

from accounts.languages import CHINESE, ENGLISH, default_letter_language, localized_templates, supported
from accounts.models import Member, ProductLine
from retention import selectors
from retention.choices import ErasureTrigger
from retention.erasure.lines import LineErasure, erase_line_rows
from retention.jobs.erasing import erase_candidates
from retention.jobs.results import JobResult, recorded

logger = logging.getLogger(__name__)


@recorded("shutdown_service")
def shutdown_service(
    *, product_line: str, dry_run: bool = False, today: datetime.date | None = None, chunk_size: int | None = None,
    bar=None,
) -> JobResult:
    """Anonymise all data of a closed product line (PP-19).

    Members who used only this line are erased (trigger service shutdown); members who also use
    another line lose this line's records (``retention.erasure.lines``) and their link to it. The
    line is marked closed. The dry run reports the members affected, the rows per model the engine
    would change, and the rows of the members concerned per model and per line (``rows_by_line``).
    """
    today = today or timezone.localdate()
    chunk_size = chunk_size or settings.ERASURE_CHUNK_SIZE
    try:
        line = ProductLine.objects.get(code=product_line)
    except ProductLine.DoesNotExist:
        raise ValueError(f"No product line with code {product_line!r}.") from None
    only, shared = selectors.product_line_members(product_line=line)
    candidates = dict(only.order_by("pk").values_list("pk", "member_number"))
    through = Member.product_lines.through
    links = through.objects.filter(productline_id=line.pk, member_id__in=shared.values("pk"))
    by_line = selectors.product_line_rows_by_line(product_line=line)
    if dry_run:
        unlinked = links.count()
        notified = 0 if line.members_notified_at else (only | shared).count()
        kept_rows = selectors.product_line_rows_of_kept_members(product_line=line, today=today)
        staying = selectors.product_line_kept_members(product_line=line)
        held = staying.filter(selectors.is_held_subquery(today=today)).count()
        kept = LineErasure(rows=kept_rows, members=staying.count() - held, held=held)
    else:
        # Stop collecting (the line is closed) and tell its members, before anything is erased.
        if line.closed_on is None:
            ProductLine.objects.filter(pk=line.pk, closed_on__isnull=True).update(closed_on=today)
            line.closed_on = today
        notified = notify_product_line_closure(line=line)
        # Their records of this line, chunk by chunk, before the link that selects them goes.
        if bar is not None:
            bar.reset(total=selectors.product_line_kept_members(product_line=line).count())
        kept = erase_kept_members_line_rows(line=line, today=today, chunk_size=chunk_size,
                                            progress=bar.update if bar is not None else None)
        if bar is not None:
            bar.reset()  # the engine's members next (erase_candidates sets the total)
        with transaction.atomic():
            # The link is the only data of these members that belongs to the line.
            unlinked, _ = links.delete()

    def eligible(chunk: QuerySet[Member]) -> QuerySet[Member]:
        # Re-checked in the lock: a member who took up another line meanwhile keeps their data.
        still_only, _ = selectors.product_line_members(product_line=line)
        return chunk.filter(pk__in=still_only.values("pk"))

    return erase_candidates(
        candidates, trigger=ErasureTrigger.SERVICE_SHUTDOWN, eligible=eligible, dry_run=dry_run,
        chunk_size=chunk_size, bar=bar, product_line=line.code,
        extra={
            "product_line": line.code, "members_unlinked": unlinked, "members_notified": notified,
            "rows_by_line": by_line, "members_keeping_another_line": kept.members,
            "members_keeping_another_line_held": kept.held, "line_rows_of_members_kept": kept.rows,
        },
    )


def erase_kept_members_line_rows(
    *, line: ProductLine, today: datetime.date, chunk_size: int, progress=None,
) -> LineErasure:
    """Erase ``line``'s records of every member who keeps another line, ``chunk_size`` members a transaction.

    A fixed number of queries per chunk (the next ids, the holds in force, the engine's statements).
    A member under a hold keeps the rows and is counted as held. ``progress(n)`` is called per chunk.
    """
    total = LineErasure()
    now = timezone.now()
    last = 0
    while True:
        ids = list(selectors.product_line_kept_members(product_line=line).filter(pk__gt=last)
                   .order_by("pk").values_list("pk", flat=True)[:chunk_size])
        if not ids:
            return total
        last = ids[-1]
        held = selectors.held_member_ids(member_ids=ids, today=today)
        total.merge(erase_line_rows(line=line, member_ids=ids, held=held, now=now))
        if progress is not None:
            progress(len(ids))


#: Closure notices per SMTP connection batch.
NOTICE_BATCH = 500
CLOSURE_TEMPLATE = "retention/email/service_closed.txt"
#: Issue 16: per language; the body is ``retention/email/[<language>/]service_closed.txt``.
CLOSURE_SUBJECT = {ENGLISH: "{line} is closed: what happens to your data",
                   CHINESE: "{line}已停止服务：您的数据将如何处理"}


def closure_notice(*, line: ProductLine, member_number: str, email: str, erased: bool, language: str,
                   connection) -> EmailMessage:
    """One member's closure notice (PP-19) in the member's language (issue 16)."""
    with translation.override(language):
        body = select_template(localized_templates(CLOSURE_TEMPLATE, language)).render({
            "line": line, "member_number": member_number, "erased": erased,
            "contact": settings.OFFICIAL_REQUESTS_EMAIL,
        })
    return EmailMessage(subject=CLOSURE_SUBJECT.get(language, CLOSURE_SUBJECT[ENGLISH]).format(line=line.name),
                        body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[email], connection=connection)


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
            rows = list(members.filter(pk__gt=last)
                        .values_list("pk", "member_number", "email", "preferred_language")[:chunk_size])
            if not rows:
                break
            last = rows[-1][0]
            messages = [
                closure_notice(line=line, member_number=number, email=email, erased=pk in erased_ids,
                               language=supported(preferred) or default_letter_language(), connection=connection)
                for pk, number, email, preferred in rows if email
            ]
            for start in range(0, len(messages), NOTICE_BATCH):
                sent += connection.send_messages(messages[start:start + NOTICE_BATCH]) or 0
    ProductLine.objects.filter(pk=line.pk).update(members_notified_at=timezone.now())
    line.members_notified_at = timezone.now()
    logger.info("product line %s: closure notice sent to %d member(s)", line.code, sent)
    return sent
