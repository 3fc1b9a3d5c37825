"""Fulfilling a deletion request (PP-02, PP-29): prepared by compliance, approved by a supervisor,
erased by the retention engine honouring legal holds and legal retention; the reply lists what was kept."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Member
from accounts.privacy.datamap import Category, Erasure
from requests_desk import workflow
from requests_desk.choices import RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.lifecycle import request_refuse
from requests_desk.models import Request
from requests_desk.permissions import DECIDE, require
from retention.choices import ErasureTrigger, RunStatus
from retention.erasure import runner
from retention.erasure.plan import plan
from retention.models import ErasureRun, LegalHold


@dataclass(frozen=True)
class KeptData:
    """What erasure keeps for a member, and why: a model's retained fields and their retention.

    The labels are kept as declared (lazy translations where they are marked), so the deletion letter
    shows them in its own language (issue 16); ``str()`` them for a record.
    """

    record_type: str
    categories: tuple[str, ...]
    fields: tuple[str, ...]
    days: int
    until: datetime.date


def active_hold(member: Member, today: datetime.date | None = None) -> LegalHold | None:
    today = today or timezone.localdate()
    return (
        LegalHold.objects.filter(member=member, released_at__isnull=True, starts_on__lte=today)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=today))
        .order_by("starts_on", "pk")
        .first()
    )


def kept_after_erasure(*, counts: dict[str, int], closure: datetime.datetime) -> list[KeptData]:
    """From the data map: the member's records that erasure keeps under legal retention.

    ``counts`` are the engine's rows per model for this member (only models the member had rows in
    are listed); a model keeps rows when it declares fields ``RETAIN_THEN_PSEUDONYMISE`` in a
    category with a legal retention period (``settings.LEGAL_RETENTION_DAYS``) that still runs.
    """
    kept = []
    now = timezone.now()
    for p in plan():
        if p.is_history or not p.retention_days or not counts.get(p.label):
            continue
        until = closure + datetime.timedelta(days=p.retention_days)
        if until <= now:
            continue
        retained = [
            fp for fp in p.fields
            if fp.action == Erasure.RETAIN_THEN_PSEUDONYMISE and fp.personal.exported
            and not (p.is_subject and fp.is_identifier)  # the member number is replaced, not kept
        ]
        if not retained:
            continue
        categories = tuple(dict.fromkeys(Category(fp.personal.category).label for fp in retained))
        kept.append(KeptData(
            record_type=p.model._meta.verbose_name_plural, categories=categories,
            fields=tuple(fp.personal.label for fp in retained), days=p.retention_days,
            until=timezone.localtime(until).date(),
        ))
    return kept


def _held_error(request: Request) -> ValidationError:
    return ValidationError({
        "member": _("The member of request %(reference)s is under a legal hold: their data cannot be erased "
                    "now (PP-29). Refuse the request naming the grounds (deletion_refuse_held), or wait until the "
                    "hold ends.") % {"reference": request.reference}
    })


def deletion_prepare(*, request: Request | int, user, note: str = "") -> Request:
    """Compliance prepares the deletion (``submit_for_approval``); a supervisor approves it (four eyes)."""
    require(user, DECIDE, gettext_lazy("prepare deletions"))
    request = load_request(request)
    expect_type(request, RequestType.DELETION)
    member = expect_member(request)
    if active_hold(member) is not None:
        raise _held_error(request)
    return workflow.transition(request=request, name="submit_for_approval", user=user, note=note)


def deletion_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """A supervisor approves a prepared deletion; the retention engine erases the member (PP-02, PP-29).

    One transaction: the ``fulfil`` transition (supervisor, not the preparer, identity verified), an
    approved ``ErasureRun`` naming preparer and approver, the engine run (``DELETION_REQUEST``,
    the request's reference on the erasure record), and the reply listing what was kept and why. A
    member under a legal hold is not erased: the transaction rolls back and the error says so.
    """
    request = load_request(request)
    expect_type(request, RequestType.DELETION)
    member = expect_member(request)
    if active_hold(member) is not None:
        raise _held_error(request)
    closure = member.cancelled_at or timezone.now()
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
        run = ErasureRun.objects.create(
            trigger=ErasureTrigger.DELETION_REQUEST, status=RunStatus.APPROVED, prepared_by_id=updated.prepared_by_id,
            approved_by=user, request_reference=updated.reference,
        )
        result = runner.erase_members(member_ids=[member.pk], trigger=ErasureTrigger.DELETION_REQUEST, run=run,
                                      request_reference=updated.reference)
        if result.held:  # a hold placed since the check above: the engine honoured it
            raise _held_error(updated)
        if result.failed:
            raise ValidationError(_("The erasure failed: %(errors)s") % {"errors": "; ".join(result.failed.values())})
        kept = kept_after_erasure(counts=result.counts, closure=closure)
        summary = {
            "erasure_run": run.pk,
            "rows": dict(sorted(result.counts.items())),
            "kept": [{"records": str(k.record_type).capitalize(), "fields": [str(f) for f in k.fields], "days": k.days,
                      "until": k.until.isoformat()} for k in kept],
        }
        # QuerySet.update on purpose: saving the in-memory request would write its pre-erasure values
        # (name, e-mail, subject) back into a new history row. The summary holds no personal data.
        Request.objects.filter(pk=updated.pk).update(details={"erasure": summary})
        # The reply names nobody: the request row no longer points at a member, so the letter kept
        # on it must hold no personal data. The address is used to send it and is not stored.
        updated.requester_name = ""
        reply(updated, user, note=note, notify=notify, template="deletion", extra={"kept": kept})
    updated.details = {"erasure": summary}
    return updated


def deletion_refuse_held(*, request: Request | int, user, grounds: Iterable, note: str = "",
                         notify: bool = True) -> Request:
    """Refuse a deletion because the member is under a legal hold; the reply says the data is preserved.

    The hold's own reason stays internal (it may concern an investigation); the reply names its kind
    and the legal grounds chosen (PP-29, PP-36).
    """
    request = load_request(request)
    expect_type(request, RequestType.DELETION)
    member = expect_member(request)
    if active_hold(member) is None:
        raise ValidationError({"member": _("The member is under no legal hold: decide the deletion on its merits.")})
    # The refusal letter says the data is preserved under a hold (its wording, per language, is in
    # the letter template); the transition's note keeps the same sentence for the record.
    reason = ("Your personal data is under a legal hold: we are required to preserve it for legal proceedings "
              "or an authority's inquiry, and cannot delete it while the hold lasts.")
    text = "\n\n".join(part for part in (reason, (note or "").strip()) if part)
    return request_refuse(request=request, user=user, grounds=grounds, note=text, notify=notify,
                          letter_note=note, letter_extra={"held": True})
