"""The consent ledger: validate and record grants and withdrawals, keep the state table derived.

The ledger is append-only (design decision 3): every grant or withdrawal is a new
``ConsentEvent``, and ``ConsentState`` is re-derived from the ledger in the same transaction
(``consents.selectors.derive_state`` holds the rules). Nothing here edits or deletes an event;
only the erasure engine passes the append-only trigger (``ledger_erasure_allowed``).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connections, transaction
from django.utils import timezone
from django.utils.translation import gettext

from accounts.models import CHILD_AGE_LIMIT, Member, StaffUser, age_on
from accounts.progress import chunked
from consents.choices import ActorKind, Channel, ConsentAction, PurposeKind
from consents.models import ConsentEvent, ConsentState, Guardian, PolicyVersion, Purpose
from consents.selectors import (
    ACTIVE_STATUSES,
    DerivedState,
    expected_states,
    policy_version_current,
    purpose_get,
)

logger = logging.getLogger(__name__)

#: Clock skew tolerated between the caller and us before an event counts as "in the future"; an
#: event less than this ahead is recorded as happening now (the ledger never holds future events,
#: so the state table and a "may we process now?" read of the ledger always agree).
FUTURE_SKEW = datetime.timedelta(minutes=1)


def _not_ahead(occurred_at: datetime.datetime | None, now: datetime.datetime) -> datetime.datetime:
    if occurred_at is None:
        return now
    return now if now < occurred_at <= now + FUTURE_SKEW else occurred_at
# Computed once: ``TextChoices.values`` builds a new list on every call (the bulk path checks 1M events).
_ACTIONS = frozenset(ConsentAction.values)
_CHANNELS = frozenset(Channel.values)
_ACTORS = frozenset(ActorKind.values)
_SOURCE_MAX_LENGTH = ConsentEvent._meta.get_field("source").max_length


# --- Validation shared by the single and the bulk path --------------------------------------------------
@dataclass(frozen=True)
class _Facts:
    """What the checks need to know about one event, gathered one event or one chunk at a time."""

    member_status: str | None  # None: no such member
    is_child: bool
    version_published_at: datetime.datetime | None
    version_label: str
    purpose_kind: str
    introduced_label: str  # "" when the purpose names no introducing version
    introduced_at: datetime.datetime | None
    guardian_member_id: int | None = None
    guardian_verified_at: datetime.datetime | None = None


def _event_errors(event: ConsentEvent, facts: _Facts, *, now: datetime.datetime) -> dict[str, list[str]]:
    """Field-keyed problems with ``event``; empty when it may be recorded. No personal data in them."""
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    if event.action not in _ACTIONS:
        add("action", gettext("Choose grant or withdraw."))
    if event.channel not in _CHANNELS:
        add("channel", gettext("Unknown channel; choose one of %(value)s.") % {"value": ', '.join(Channel.values)})
    if event.actor_kind not in _ACTORS:
        add("actor_kind", gettext("Say who gave it: the member, a guardian or a staff user."))
    if len(event.source or "") > _SOURCE_MAX_LENGTH:
        add("source", gettext("Name the third-party source in at most 200 characters."))
    if facts.member_status is None:
        add("member", gettext("There is no such member."))
    if event.occurred_at > now + FUTURE_SKEW:
        add("occurred_at", gettext("A consent event cannot be dated in the future."))

    # Who acts (PP-38: a guardian acts only for their own ward, once verified).
    if event.actor_kind == ActorKind.GUARDIAN:
        if event.guardian_id is None:
            add("guardian", gettext("A guardian's grant or withdrawal names the guardian."))
        elif facts.guardian_member_id != event.member_id:
            add("guardian", gettext("This guardian is not recorded for this member."))
        elif facts.guardian_verified_at is None or facts.guardian_verified_at > event.occurred_at:
            add("guardian", gettext(
                "This guardian was not verified at the time: verify the guardian first (PP-38)."
            ))
    elif event.guardian_id is not None:
        add("guardian", gettext("Only a guardian's own grant or withdrawal names a guardian."))
    if event.actor_kind == ActorKind.STAFF and event.staff_user_id is None:
        add("staff_user", gettext("A grant or withdrawal entered on the member's behalf names the staff user."))

    # Under which policy version (PP-05).
    if facts.version_published_at is None:
        add("policy_version", gettext("Only a published policy version can be consented to."))
    elif facts.version_published_at > event.occurred_at:
        add("policy_version", gettext(
            "Policy version %(version_label)s was not yet published at that time."
        ) % {"version_label": facts.version_label})

    if event.action == ConsentAction.GRANT:
        if facts.member_status is not None and facts.member_status not in ACTIVE_STATUSES:
            add("member", gettext("The account is not active: it cannot grant new purposes."))
        if facts.is_child:
            add("member", gettext("The member is under 14 on that day: a child can grant nothing (PP-03, PP-37)."))
        if facts.introduced_label and facts.version_published_at is not None:
            if facts.introduced_at is None:
                add("purpose", gettext(
                    "This purpose comes with policy version %(introduced_label)s, which is not published yet: "
                    "nobody can grant it."
                ) % {"introduced_label": facts.introduced_label})
            elif facts.version_published_at < facts.introduced_at:
                add("policy_version", gettext(
                    "This purpose was introduced in policy version %(introduced_label)s: a grant under the older "
                    "version %(version_label)s does not cover it (PP-05)."
                ) % {"introduced_label": facts.introduced_label, "version_label": facts.version_label})
    elif event.action == ConsentAction.WITHDRAW and facts.purpose_kind == PurposeKind.BASIC:
        add("purpose", gettext(
            "A basic purpose is needed for the service and is not consented to one by one; the member may cancel "
            "the account instead (PP-04, PP-33)."
        ))
    return errors


def _is_child(born: datetime.date | None, occurred_at: datetime.datetime) -> bool:
    return born is not None and age_on(born, timezone.localdate(occurred_at)) < CHILD_AGE_LIMIT


# --- The ledger --------------------------------------------------------------------------------------
def states_upsert(expected: dict[tuple[int, int], DerivedState]) -> int:
    """Write derived states: ``INSERT … ON CONFLICT (member, purpose) DO UPDATE``, many rows a statement.

    What ``bulk_create(update_conflicts=True)`` does, without a model instance and seven
    placeholders per row (the bulk path writes a state per event). PostgreSQL: one statement over
    seven arrays (``unnest``), whatever the number of rows. SQLite: VALUES lists of 140 rows (its
    999-parameter limit).
    """
    if not expected:
        return 0
    connection = connections[ConsentState.objects.db]
    qn = connection.ops.quote_name
    columns = ("member_id", "purpose_id", "granted", "by_guardian", "policy_version_id", "last_event_id",
               "changed_at")
    changed_at = ConsentState._meta.get_field("changed_at")
    updates = ", ".join(f"{qn(c)} = EXCLUDED.{qn(c)}" for c in columns[2:])
    head = (
        f"INSERT INTO {qn(ConsentState._meta.db_table)} ({', '.join(qn(c) for c in columns)}) VALUES "  # noqa: S608
    )
    tail = f" ON CONFLICT ({qn('member_id')}, {qn('purpose_id')}) DO UPDATE SET {updates}"
    rows = [
        (member_id, purpose_id, state.granted, state.by_guardian, state.policy_version_id, state.last_event_id,
         changed_at.get_db_prep_save(state.changed_at, connection))
        for (member_id, purpose_id), state in expected.items()
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            types = ("bigint", "bigint", "boolean", "boolean", "bigint", "bigint", "timestamptz")
            arrays = ", ".join(f"%s::{t}[]" for t in types)
            statement = f"{head.removesuffix(' VALUES ')} SELECT * FROM unnest({arrays}){tail}"  # noqa: S608
            cursor.execute(statement, [list(column) for column in zip(*rows, strict=True)])
            return len(rows)
        for batch in chunked(rows, 140):
            values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s)"] * len(batch))
            cursor.execute(head + values + tail, [value for row in batch for value in row])
    return len(rows)


def _states_rebuild(*, member_ids: Iterable[int], purpose_ids: Iterable[int]) -> int:
    """Re-derive ``ConsentState`` for these members and purposes from the ledger, set-based:
    one read of their events (``expected_states``) and one upsert, whatever the number of rows.

    The caller holds the lock on the members' rows (see ``_lock_members``).
    """
    return states_upsert(expected_states(member_ids=member_ids, purpose_ids=purpose_ids))


def members_lock(member_ids: Iterable[int]) -> dict[int, str]:
    """Lock the members' rows in primary-key order and return their statuses.

    FOR NO KEY UPDATE: it serialises consent writers for a member (two events recorded at once
    would otherwise each derive the state from a ledger missing the other's event, and the last
    writer would store a stale state) without blocking inserts elsewhere that reference the member
    (those take KEY SHARE locks). A fixed lock order prevents deadlocks between bulk chunks.
    SQLite has no row locks; it serialises writers on the whole database.
    """
    rows = (
        Member.objects.select_for_update(no_key=True)
        .filter(pk__in=sorted(set(member_ids)))
        .order_by("pk")
        .values_list("pk", "status")
    )
    return dict(rows)


def consent_record(
    *,
    member: Member,
    purpose: Purpose | str,
    action: str,
    policy_version: PolicyVersion | None,
    channel: str,
    actor_kind: str,
    evidence: str = "",
    guardian: Guardian | None = None,
    staff_user: StaffUser | None = None,
    occurred_at: datetime.datetime | None = None,
    source: str = "",
) -> ConsentEvent:
    """Record one grant or withdrawal (PP-05, PP-32) and update the member's state in one transaction.

    ``policy_version=None`` means the version in force at ``occurred_at``. Raises a field-keyed
    ``ValidationError`` (nothing written) when: a grant's version is unpublished or older than the
    version that introduced the purpose; the member is under 14 on that day or the account is not
    active (grants); a guardian actor is not this member's verified guardian; a basic purpose is
    withdrawn. A withdrawal takes effect from its time; earlier grants stay in the ledger.
    """
    purpose = purpose_get(purpose)
    occurred_at = _not_ahead(occurred_at, timezone.now())
    if policy_version is None:
        policy_version = policy_version_current(at=occurred_at)
    event = ConsentEvent(
        member=member, purpose=purpose, action=action, policy_version=policy_version, channel=channel,
        evidence=evidence or "", actor_kind=actor_kind, guardian=guardian, staff_user=staff_user,
        source=source or "", occurred_at=occurred_at, recorded_at=timezone.now(),
    )
    introduced = purpose.introduced_in if purpose.introduced_in_id else None
    with transaction.atomic():
        statuses = members_lock([member.pk])  # lock first, then read and write (see _lock_members)
        # The guardian as stored now (the caller's instance may predate its verification).
        guardian_member_id = guardian_verified_at = None
        if guardian is not None:
            stored = Guardian.objects.filter(pk=guardian.pk).values_list("member_id", "verified_at").first()
            guardian_member_id, guardian_verified_at = stored or (None, None)
        facts = _Facts(
            member_status=statuses.get(member.pk),
            is_child=_is_child(member.date_of_birth, occurred_at),
            version_published_at=policy_version.published_at,
            version_label=policy_version.version,
            purpose_kind=purpose.kind,
            introduced_label=introduced.version if introduced else "",
            introduced_at=introduced.published_at if introduced else None,
            guardian_member_id=guardian_member_id,
            guardian_verified_at=guardian_verified_at,
        )
        errors = _event_errors(event, facts, now=timezone.now())
        if errors:
            raise ValidationError(errors)
        event.save(force_insert=True)
        _states_rebuild(member_ids=[member.pk], purpose_ids=[purpose.pk])
    return event


def _chunk_facts(chunk: list[ConsentEvent], versions: dict, purposes: dict) -> list[_Facts]:
    """``_Facts`` for a chunk of events in a constant number of queries (three at most)."""
    member_ids = {event.member_id for event in chunk}
    members = {
        pk: (status, birth_year)
        for pk, status, birth_year in Member.objects.filter(pk__in=member_ids).values_list("pk", "status", "birth_year")
    }
    # Age from the plain birth year; only grants whose year difference is exactly 14 (13 or 14 years
    # old) need the date of birth, so only those are decrypted.
    years = [timezone.localdate(event.occurred_at).year for event in chunk]  # the day as _is_child sees it
    ambiguous = {
        event.member_id
        for event, year in zip(chunk, years, strict=True)
        if event.action == ConsentAction.GRANT
        and members.get(event.member_id, (None, None))[1] is not None
        and year - members[event.member_id][1] == CHILD_AGE_LIMIT
    }
    born = dict(Member.objects.filter(pk__in=ambiguous).values_list("pk", "date_of_birth")) if ambiguous else {}
    guardian_ids = {event.guardian_id for event in chunk if event.guardian_id}
    guardians = (
        {pk: (member_id, verified_at) for pk, member_id, verified_at in
         Guardian.objects.filter(pk__in=guardian_ids).values_list("pk", "member_id", "verified_at")}
        if guardian_ids else {}
    )
    facts = []
    for event, year in zip(chunk, years, strict=True):
        status, birth_year = members.get(event.member_id, (None, None))
        if birth_year is None:
            child = False
        elif event.member_id in born:
            child = _is_child(born[event.member_id], event.occurred_at)
        else:
            child = year - birth_year < CHILD_AGE_LIMIT
        version_published_at, version_label = versions.get(event.policy_version_id, (None, "?"))
        kind, introduced_id = purposes.get(event.purpose_id, (PurposeKind.ADDITIONAL, None))
        introduced_at, introduced_label = versions.get(introduced_id, (None, "")) if introduced_id else (None, "")
        guardian_member_id, guardian_verified_at = guardians.get(event.guardian_id, (None, None))
        facts.append(_Facts(
            member_status=status, is_child=child, version_published_at=version_published_at,
            version_label=version_label, purpose_kind=kind, introduced_label=introduced_label,
            introduced_at=introduced_at, guardian_member_id=guardian_member_id,
            guardian_verified_at=guardian_verified_at,
        ))
    return facts


def consent_record_many(
    events: Iterable[ConsentEvent], *, chunk_size: int = 5000, validate: bool = True, bar=None
) -> dict[str, int]:
    """Record many events at once (imports, benchmarks): all or nothing, constant queries per chunk.

    ``events`` are unsaved ``ConsentEvent`` instances with ids set (``member_id``, ``purpose_id``,
    ``policy_version_id``, ``guardian_id``…); they are held in memory together (the bench passes
    100k at a time). ``validate=False`` is for events this code base generated and checked itself.
    Every event is validated with the same rules as
    ``consent_record`` before anything is written; the error lists each bad event by its position
    (1-based) and field. Then, per chunk: lock the chunk's members, ``bulk_create`` the events,
    and re-derive the affected states set-based (one read of their ledger, one upsert).
    """
    events = list(events)
    now = timezone.now()
    for event in events:
        if event.pk is not None:
            raise ValueError("consent_record_many records new events only.")
        event.occurred_at = _not_ahead(event.occurred_at, now)
        event.recorded_at = now
        event.evidence = event.evidence or ""
        event.source = event.source or ""
    versions = {pk: (published_at, label) for pk, published_at, label in
                PolicyVersion.objects.values_list("pk", "published_at", "version")}
    purposes = {pk: (kind, introduced_id) for pk, kind, introduced_id in
                Purpose.objects.values_list("pk", "kind", "introduced_in_id")}
    counts = {"events": 0, "states": 0}
    with transaction.atomic():
        if validate:
            problems: list[str] = []
            for offset, chunk in enumerate(chunked(events, chunk_size)):
                for index, (event, facts) in enumerate(zip(chunk, _chunk_facts(chunk, versions, purposes),
                                                           strict=True)):
                    for name, messages in _event_errors(event, facts, now=now).items():
                        problems.extend(f"event {offset * chunk_size + index + 1}, {name}: {m}" for m in messages)
            if problems:
                raise ValidationError({"events": problems})
        for chunk in chunked(events, chunk_size):
            member_ids = {event.member_id for event in chunk}
            members_lock(member_ids)
            ConsentEvent.objects.bulk_create(chunk, batch_size=chunk_size)
            counts["events"] += len(chunk)
            counts["states"] += _states_rebuild(
                member_ids=member_ids, purpose_ids={event.purpose_id for event in chunk}
            )
            if bar is not None:
                bar.update(len(chunk))
    return counts




# --- Erasure's way through the append-only trigger ----------------------------------------------------
@contextlib.contextmanager
def ledger_erasure_allowed(using: str = "default") -> Iterator[None]:
    """Let raw SQL delete or update consent events inside this block (PostgreSQL trigger bypass).

    ONLY the retention (erasure) engine may use this: PP-02 erasure of a member outranks the
    ledger's permanence, nothing else does. It opens a transaction (or a savepoint) and sets
    ``privacy.erasure = 'on'`` with ``SET LOCAL``; the setting is switched off again when the
    block ends, and rolled back with the savepoint if it fails, so it never leaks to the rest of
    an outer transaction. On SQLite (no trigger) it is just a transaction. The ORM's own refusal
    (``AppendOnlyQuerySet``) still applies: the erasure engine deletes with raw SQL or through
    ``ConsentEvent._base_manager``.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('privacy.erasure', 'on', true)")
        yield
        # A block marked for rollback (a dry run) takes the setting with it; no query may run then.
        if connection.vendor == "postgresql" and not transaction.get_rollback(using=using):
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('privacy.erasure', 'off', true)")
