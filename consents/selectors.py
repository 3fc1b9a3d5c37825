"""Reads of the consents app: the ledger's derived state, "may we process?" and audiences.

How the ledger is read (design decision 3, PP-05, PP-32, PP-38). Events of one member and one
purpose are taken in ``(occurred_at, pk)`` order:

- a **withdrawal**, by anyone, ends every grant before it: it takes effect from its time, and the
  earlier grants stay in the ledger as history (PP-32);
- a **grant** by the member (or by a staff user on the member's behalf) is the member's *own* grant;
- a **grant** by a guardian is the *guardian's* grant; members aged 14-17 need both (PP-38).

``derive_state`` is the one implementation of these rules; the service that records an event, the
bulk path, ``verify_consents`` and ``may_process`` all fold the ledger through it. ``audience`` says
the same thing in SQL (``ConsentState`` for now, the ledger itself for a past moment), and the tests
check that both give the same answers.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from accounts.members.choices import DocumentKind, MemberStatus
from accounts.models import ADULT_AGE, CHILD_AGE_LIMIT, Member, age_on
from consents.campaigns import narrowing_versions_unaccepted
from consents.choices import ActorKind, ConsentAction
from consents.grounds.selectors import decision_reason, ground_record_in_force, grounded_members_q
from consents.legal_grounds import BIOMETRIC_PURPOSE
from consents.models import ConsentEvent, ConsentState, PolicyVersion, Purpose

#: Statuses in which the service runs. A member who asked to cancel is still served during the
#: grace period (PP-33); suspended, cancelled and closed accounts are not.
ACTIVE_STATUSES = (MemberStatus.ACTIVE, MemberStatus.CANCELLATION_REQUESTED)
#: Actors whose grant is the member's own consent (a staff user records it on the member's behalf).
OWN_ACTORS = (ActorKind.MEMBER, ActorKind.STAFF)

#: The columns of an event that the fold needs (the version's publication time rides along).
LEDGER_FIELDS = (
    "id", "member_id", "purpose_id", "action", "actor_kind", "policy_version_id",
    "policy_version__published_at", "occurred_at",
)


@dataclass(frozen=True)
class Decision:
    """The answer to "may we process?": yes or no, with the reason a person can read."""

    allowed: bool
    reason: str
    code: str = ""

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class DerivedState:
    """What the ledger says about one member and purpose (the values ``ConsentState`` keeps)."""

    granted: bool  # the member's own grant stands
    by_guardian: bool  # a guardian's grant stands
    policy_version_id: int  # version of the standing own grant (else guardian's, else last event's)
    last_event_id: int
    changed_at: datetime.datetime
    # Not stored: the newest policy version among the standing grants, for the PP-05 check.
    own_version_published_at: datetime.datetime | None = None
    guardian_version_published_at: datetime.datetime | None = None
    withdrawn_at: datetime.datetime | None = None  # the last withdrawal, if any

    def state_values(self) -> dict[str, object]:
        """The ``ConsentState`` columns."""
        return {
            "granted": self.granted,
            "by_guardian": self.by_guardian,
            "policy_version_id": self.policy_version_id,
            "last_event_id": self.last_event_id,
            "changed_at": self.changed_at,
        }


_WITHDRAW = ConsentAction.WITHDRAW.value
_GUARDIAN = ActorKind.GUARDIAN.value


def _fold(rows: list[tuple]) -> DerivedState:
    """The rules of the module docstring over ``(occurred_at, id, action, actor_kind, version id,
    version published_at)`` tuples of one member and purpose (at least one)."""
    rows.sort()  # (occurred_at, id): the ledger's order
    own = guardian = withdrawn_at = None
    for occurred_at, pk, action, actor_kind, version_id, published_at in rows:
        if action == _WITHDRAW:
            own = guardian = None
            withdrawn_at = occurred_at
            continue
        # Among standing grants, the one under the newest version counts (then the latest).
        key = (published_at, occurred_at, pk, version_id)
        if actor_kind == _GUARDIAN:
            if guardian is None or key[:3] > guardian[:3]:
                guardian = key
        elif own is None or key[:3] > own[:3]:
            own = key
    last = rows[-1]
    return DerivedState(
        granted=own is not None,
        by_guardian=guardian is not None,
        policy_version_id=(own or guardian or (None, None, None, last[4]))[3],
        last_event_id=last[1],
        changed_at=last[0],
        own_version_published_at=own[0] if own else None,
        guardian_version_published_at=guardian[0] if guardian else None,
        withdrawn_at=withdrawn_at,
    )


def derive_state(rows: Iterable[dict]) -> DerivedState | None:
    """Fold one member's events for one purpose (dicts with ``LEDGER_FIELDS``) into its state."""
    tuples = [
        (r["occurred_at"], r["id"], r["action"], r["actor_kind"], r["policy_version_id"],
         r["policy_version__published_at"])
        for r in rows
    ]
    return _fold(tuples) if tuples else None


def expected_states(
    *, member_ids: Iterable[int], purpose_ids: Iterable[int] | None = None
) -> dict[tuple[int, int], DerivedState]:
    """The state of every (member, purpose) pair of these members that has events.

    Two queries (the small version table, then the events), whatever the number of members: used
    per chunk by the bulk path and ``verify_consents``; served by the index on (member, purpose,
    occurred_at).
    """
    published = dict(PolicyVersion.objects.values_list("pk", "published_at"))
    events = ConsentEvent.objects.filter(member_id__in=list(member_ids))
    if purpose_ids is not None:
        events = events.filter(purpose_id__in=list(purpose_ids))
    rows = events.order_by().values_list(
        "member_id", "purpose_id", "occurred_at", "id", "action", "actor_kind", "policy_version_id"
    )
    grouped: dict[tuple[int, int], list[tuple]] = {}
    for member_id, purpose_id, occurred_at, pk, action, actor_kind, version_id in rows.iterator(chunk_size=5000):
        row = (occurred_at, pk, action, actor_kind, version_id, published[version_id])
        group = grouped.get((member_id, purpose_id))
        if group is None:
            grouped[(member_id, purpose_id)] = [row]
        else:
            group.append(row)
    return {pair: _fold(group) for pair, group in grouped.items()}


# --- Catalogue look-ups -----------------------------------------------------------------------------
def purpose_get(purpose: Purpose | str) -> Purpose:
    """A purpose by instance or code, with the version that introduced it (one query for a code)."""
    if isinstance(purpose, Purpose):
        return purpose
    try:
        return Purpose.objects.select_related("introduced_in").get(code=purpose)
    except Purpose.DoesNotExist:
        raise ValidationError({"purpose": gettext(
            "There is no purpose with the code %(purpose)s."
        ) % {"purpose": f"{purpose!r}"}}) from None


def policy_version_current(*, at: datetime.datetime | None = None) -> PolicyVersion:
    """The policy version in force at ``at``: the newest one published by then."""
    at = at or timezone.now()
    version = (
        PolicyVersion.objects.filter(published_at__isnull=False, published_at__lte=at)
        .order_by("-published_at", "-pk")
        .first()
    )
    if version is None:
        raise ValidationError({"policy_version": gettext("No policy version was published at that time.")})
    return version


def _introduced_at(purpose: Purpose) -> tuple[datetime.datetime | None, str]:
    """When the version that introduced ``purpose`` was published, and its label (PP-05)."""
    if purpose.introduced_in_id is None:
        return None, ""
    version = purpose.introduced_in
    # An unpublished introducing version: nobody can hold a valid grant yet.
    return version.published_at or datetime.datetime.max.replace(tzinfo=datetime.UTC), version.version


def _older(published_at: datetime.datetime | None, introduced_at: datetime.datetime) -> bool:
    return published_at is None or published_at < introduced_at


# --- May we process? ---------------------------------------------------------------------------------
def _status_on(member: Member, at: datetime.datetime | None) -> str | None:
    """The account's status at ``at`` from the member's history; None before registration."""
    if at is None:
        return member.status
    if member.registered_at and member.registered_at > at:
        return None
    history = Member.history.model
    then = (
        history.objects.filter(id=member.pk, history_date__lte=at)
        .order_by("-history_date", "-history_id")
        .values_list("status", flat=True)
        .first()
    )
    # Rows created in bulk (imports, benchmarks) have no history: their current status stands.
    return then or member.status


def may_process(*, member: Member, purpose: Purpose | str, at: datetime.datetime | None = None) -> Decision:
    """May we process ``member``'s data for ``purpose`` at ``at`` (default now)? PP-04/05/10/38.

    Basic purposes: yes while the account is active. Additional purposes: the member's own grant
    under the version that introduced the purpose (or a later one), not withdrawn since; for a
    member aged 14-17 on that day also a guardian's grant; a child (under 14) never; and, once a
    policy version that narrows a right is in effect, the member's express acceptance of it (PP-40,
    see ``_unaccepted_narrowing``). Historical answers read the ledger up to ``at`` (and the account
    status from the member's history), not today's state table.

    PP-17: an additional purpose processed on an I(V)3 ground (an approved ``ProcessingOnGround``
    in force at ``at`` for the member or one of their product lines) is allowed on that ground,
    whatever the member's consent, age or acceptance of a new version says: the ground does not rest
    on consent (docs/decisions.md). Once it ends, the consent rules below apply again. At most five
    queries (the ground is one).
    """
    purpose = purpose_get(purpose)
    status = _status_on(member, at)
    if status is None:
        return Decision(False, gettext("The member had not registered yet at that time."), "not_registered")
    if status not in ACTIVE_STATUSES:
        label = MemberStatus(status).label
        return Decision(False, gettext(
            "The account is %(value)s: its data is not processed for the service any more."
        ) % {"value": str(label).lower()}, f"account_{status}")
    if purpose.is_basic:
        return Decision(True, gettext(
            "A basic purpose: needed for the service while the account is active (PP-04)."
        ),
                        "basic")

    when = at or timezone.now()
    grounded = ground_record_in_force(member=member, purpose=purpose, at=when)
    if grounded is not None:
        return Decision(True, decision_reason(grounded), f"ground:{grounded.ground.code}")
    day = timezone.localdate(when)
    age = member.age_on(day)
    if age is not None and age < CHILD_AGE_LIMIT:
        return Decision(False, gettext(
            "The member is under 14 on that day: a child can grant nothing (PP-03, PP-37)."
        ),
                        "child")

    rows = ConsentEvent.objects.filter(member=member, purpose=purpose, occurred_at__lte=when).values(*LEDGER_FIELDS)
    state = derive_state(rows)
    introduced_at, introduced_label = _introduced_at(purpose)
    if state is None or not state.granted:
        if state is not None and state.withdrawn_at is not None:
            return Decision(False, gettext(
                "Withdrawn on %(value)s; no grant since (PP-32)."
            ) % {"value": f"{timezone.localdate(state.withdrawn_at):%Y-%m-%d}"}, "withdrawn")
        if state is not None and state.by_guardian:
            return Decision(False, gettext(
                "Only a guardian has granted it: the member's own grant is missing (PP-38)."
            ),
                            "no_own_grant")
        return Decision(False, gettext("No grant of this additional purpose is recorded (PP-05)."), "no_grant")
    if introduced_at is not None and _older(state.own_version_published_at, introduced_at):
        return Decision(False, gettext(
            "The grant predates policy version %(introduced_label)s, which introduced this purpose: the member "
            "must consent again (PP-05)."
        ) % {"introduced_label": introduced_label}, "outdated_version")
    if age is not None and age < ADULT_AGE:
        if not state.by_guardian:
            return Decision(False, gettext(
                "The member is aged 14-17 on that day: a guardian's grant is needed as well (PP-38)."
            ), "needs_guardian")
        if introduced_at is not None and _older(state.guardian_version_published_at, introduced_at):
            return Decision(False, gettext(
                "The guardian's grant predates policy version %(introduced_label)s, which introduced this purpose "
                "(PP-05, PP-38)."
            ) % {"introduced_label": introduced_label}, "guardian_outdated_version")
    unaccepted = _unaccepted_narrowing(member, when)
    if unaccepted is not None:
        return unaccepted
    if age is not None and age < ADULT_AGE:
        return Decision(True, gettext("Granted by the member and a guardian, not withdrawn since (PP-38)."), "granted")
    return Decision(True, gettext("Granted by the member and not withdrawn since."), "granted")


def _unaccepted_narrowing(member: Member, when: datetime.datetime) -> Decision | None:
    """PP-40: "we will not restrict your rights without your express consent" (policy section VII).

    A version that narrows a right binds a member only once they accept it expressly; continued use
    is not acceptance. Until then their additional (consent-based) purposes are refused from the
    version's effective date: the optional processing they agreed to under the earlier terms is
    paused rather than carried on under the narrower ones. Basic purposes go on (PP-04: the service
    and its legal duties run while the account is active; a member who does not agree may stop using
    the platform and close the account, as section VII says, and that is their choice, not ours).
    One query; asked only when everything else says yes.
    """
    pending = (
        narrowing_versions_unaccepted(member=member.pk, registered_at=member.registered_at, at=when)
        .values_list("version", "effective_at")
        .first()
    )
    if pending is None:
        return None
    label, effective_at = pending
    return Decision(False, gettext(
        "Policy version %(label)s, in effect since %(value)s, narrows a right and the member has not accepted it: "
        "optional processing waits for their express acceptance (PP-40)."
    ) % {"label": label, "value": f"{timezone.localdate(effective_at):%Y-%m-%d}"}, "not_accepted")


# --- Audiences ---------------------------------------------------------------------------------------
def _standing_grants(
    *, purpose: Purpose, actor_kinds: tuple[str, ...], at: datetime.datetime | None,
    introduced_at: datetime.datetime | None,
) -> Exists:
    """EXISTS a grant by ``actor_kinds`` for the outer member, under a recent enough version, with
    no withdrawal after it (in ``(occurred_at, pk)`` order) up to ``at``."""
    later_withdrawal = ConsentEvent.objects.filter(
        member_id=OuterRef("member_id"), purpose_id=OuterRef("purpose_id"), action=ConsentAction.WITHDRAW
    ).filter(Q(occurred_at__gt=OuterRef("occurred_at")) | Q(occurred_at=OuterRef("occurred_at"), pk__gt=OuterRef("pk")))
    grants = ConsentEvent.objects.filter(
        member_id=OuterRef("pk"), purpose=purpose, action=ConsentAction.GRANT, actor_kind__in=actor_kinds
    )
    if at is not None:
        later_withdrawal = later_withdrawal.filter(occurred_at__lte=at)
        grants = grants.filter(occurred_at__lte=at)
    if introduced_at is not None:
        grants = grants.filter(policy_version__published_at__gte=introduced_at)
    return Exists(grants.filter(~Exists(later_withdrawal)).order_by())


def _split_ambiguous_cohorts(candidates: QuerySet[Member], day: datetime.date) -> tuple[list[int], list[int]]:
    """Exact ages for the two birth-year cohorts whose age the year alone cannot tell.

    Born in ``day.year - 14`` a member is 13 or 14 on ``day``; born in ``day.year - 18``, 17 or 18.
    Only those candidates' dates of birth are decrypted (two cohorts out of ~80, and only members
    already holding a grant), streamed in one query. Returns (adults, minors aged 14-17); the
    children are left out.
    """
    adults: list[int] = []
    minors: list[int] = []
    cohorts = (day.year - CHILD_AGE_LIMIT, day.year - ADULT_AGE)
    rows = candidates.filter(birth_year__in=cohorts).order_by().values_list("pk", "date_of_birth")
    for pk, born in rows.iterator(chunk_size=2000):
        age = ADULT_AGE if born is None else age_on(born, day)
        if age >= ADULT_AGE:
            adults.append(pk)
        elif age >= CHILD_AGE_LIMIT:
            minors.append(pk)
    return adults, minors


def audience(*, purpose: Purpose | str, at: datetime.datetime | None = None) -> QuerySet[Member]:
    """Every member we may process for ``purpose`` at ``at`` (default now): ``may_process`` set-based.

    A constant number of queries whatever the number of members: one to resolve a purpose code, one
    streaming the two ambiguous birth-year cohorts (see ``_split_ambiguous_cohorts``), and the
    returned queryset itself. Now: the member's own grant comes from ``ConsentState`` (index
    ``consents_state_audience``); for a past moment, from the ledger. Members who have not accepted
    a version in effect that narrows a right are left out (PP-40: one NOT EXISTS subquery). Ages
    come from the plain birth year, exact for all but those two cohorts. Minors' guardian grants are checked in the
    ledger with an EXISTS subquery (only reached for minors). Members without a date of birth
    (institutions) have no age limit, as in ``may_process``.

    The ambiguous cohorts are embedded in the queryset as primary-key lists, so the queryset is
    for the day it was built. On SQLite a list above ~32k members (one cohort of a few million
    members) would exceed the parameter limit; production runs on PostgreSQL.
    """
    purpose = purpose_get(purpose)
    members = Member.objects.all()
    if at is None:
        members = members.filter(status__in=ACTIVE_STATUSES)
    else:
        history = Member.history.model
        status_then = history.objects.filter(id=OuterRef("pk"), history_date__lte=at).order_by(
            "-history_date", "-history_id"
        )
        members = members.filter(registered_at__lte=at).alias(
            status_then=Coalesce(Subquery(status_then.values("status")[:1]), "status")
        ).filter(status_then__in=ACTIVE_STATUSES)
    if purpose.is_basic:
        return members.order_by("pk")

    introduced_at, _label = _introduced_at(purpose)
    when = at or timezone.now()
    day = timezone.localdate(when)
    # PP-17: a record on an I(V)3 ground in force covers an active member whatever consent, age or
    # acceptance say (as in may_process): kept aside before those filters narrow the set.
    active = members
    # PP-40: no member who has yet to accept a version in effect that narrows a right (one subquery).
    members = members.filter(
        ~Exists(narrowing_versions_unaccepted(member=OuterRef("pk"), registered_at=OuterRef("registered_at"), at=when))
    )
    if at is None:
        own = ConsentState.objects.filter(purpose=purpose, granted=True)
        if introduced_at is not None:
            own = own.filter(policy_version__published_at__gte=introduced_at)
        candidates = members.filter(pk__in=own.values("member_id"))
        guardian = Q(pk__in=ConsentState.objects.filter(purpose=purpose, by_guardian=True).values("member_id"))
        guardian &= Q(_standing_grants(purpose=purpose, actor_kinds=(ActorKind.GUARDIAN,), at=None,
                                       introduced_at=introduced_at))
    else:
        candidates = members.filter(
            _standing_grants(purpose=purpose, actor_kinds=OWN_ACTORS, at=at, introduced_at=introduced_at)
        )
        guardian = Q(_standing_grants(purpose=purpose, actor_kinds=(ActorKind.GUARDIAN,), at=at,
                                      introduced_at=introduced_at))

    adult_ids, minor_ids = _split_ambiguous_cohorts(candidates, day)
    adult = Q(birth_year__isnull=True) | Q(birth_year__lt=day.year - ADULT_AGE)
    if adult_ids:
        adult |= Q(pk__in=adult_ids)
    minor = Q(birth_year__gt=day.year - ADULT_AGE, birth_year__lt=day.year - CHILD_AGE_LIMIT)
    if minor_ids:
        minor |= Q(pk__in=minor_ids)
    consented = candidates.filter(adult | (minor & guardian))
    return active.filter(
        Q(pk__in=consented.values("pk")) | Q(grounded_members_q(purpose=purpose, when=when))
    ).order_by("pk")


# --- The biometric hook (PP-10) ---------------------------------------------------------------------
def face_capture_consent_check(document) -> None:
    """Registered into ``accounts.members.hooks.document_store_checks`` by ``ConsentsConfig.ready()``.

    A face capture is biometric data (PP-10): storing or changing one needs the member's current
    grant of advanced face verification (and a guardian's for a minor). The message says why.
    """
    if document.kind != DocumentKind.FACE_CAPTURE or not document.member_id:
        return
    decision = may_process(member=document.member, purpose=BIOMETRIC_PURPOSE)
    if not decision.allowed:
        raise ValidationError({
            "kind": gettext(
                "A face capture is biometric data: it needs the member's current consent to advanced face "
                "verification (PP-10). %(reason)s"
            ) % {"reason": decision.reason}
        })


def iter_member_id_chunks(*, size: int) -> Iterator[list[int]]:
    """Member primary keys in ascending chunks (keyset pagination: no OFFSET, no full load)."""
    last = 0
    while True:
        ids = list(Member.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]
