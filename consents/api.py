"""The member-facing web site's and app's intake of consent events (PP-05, PP-20, PP-38, PP-39, PP-40).

``POST /consents/api/events/`` is a server-to-server call: no session, no CSRF token, no login.
The site's back end signs each request as the SMS gateway does (``consents.views``):
``X-Signature`` is the hex HMAC-SHA256 under ``settings.MEMBER_SITE_SECRET`` of
``"<X-Timestamp>.<raw body>"``, and ``X-Timestamp`` (Unix seconds) must be within five minutes of
our clock, so a captured request cannot be replayed later. A refused request writes nothing.

The body is ``{"events": [event, ...]}``: 1 to 100 events, recorded in order, all or nothing.

==================  =================================================================================
``id``              the site's idempotency key for the event (1-100 of ``A-Z a-z 0-9 . _ : -``, e.g. a
                    UUID): an event delivered again under its key records nothing again
``type``            ``grant`` or ``withdraw`` (a purpose), ``seen`` or ``accepted`` (a policy version)
``member``          the member number, the one reference to a person the payload may carry
``occurred_at``     when the member (or the guardian) acted: ISO 8601 with an offset, or Unix seconds
``purpose``         grant and withdraw: the purpose code
``channel``         grant and withdraw: ``web`` or ``app``
``guardian``        grant and withdraw, optional: the id of the guardian who acted (PP-38); the
                    ledger's rules apply (the member's own guardian, verified before the event)
``policy_version``  grant and withdraw, optional: the version label (default: the one in force at
                    ``occurred_at``); seen and accepted: required
==================  =================================================================================

Any other field is refused: the site sends no personal data beyond the member number.

Answers (JSON):

- 200 ``{"results": [{"index", "id", "result"}, ...]}``; ``result`` is ``recorded``,
  ``duplicate`` (this id was recorded before: nothing written), ``unchanged`` (seen or accepted
  already on file) or ``not_needed`` (a minor version: continued use is acceptance, PP-39);
- 400 ``{"errors": [{"index", "id", "fields": {field: [message, ...]}}, ...]}`` when any event is
  refused (``index`` counts from 0): nothing of the batch is written;
- 400 ``{"error": ...}`` for a body that is not a batch of events, 403 for a missing, wrong or
  stale signature, 413 for a body over 256 KiB.

Log lines carry counts and fixed reasons only, never the body or a value from it.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts.models import Member
from consents import signing
from consents.campaigns import reconsent_notice_accept, reconsent_notice_seen
from consents.choices import ActorKind, Channel, SiteEventKind, SiteEventOutcome
from consents.ledger import FUTURE_SKEW, consent_record
from consents.models import Guardian, PolicyVersion, Purpose, SiteEvent

logger = logging.getLogger(__name__)

#: The signature the site sends (see ``consents.signing``).
site_signature = signing.signature

MAX_BODY_BYTES = 256 * 1024
MAX_EVENTS = 100
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")
SITE_CHANNELS = (Channel.WEB.value, Channel.APP.value)
CONSENT_KINDS = (SiteEventKind.GRANT.value, SiteEventKind.WITHDRAW.value)
NOTICE_KINDS = (SiteEventKind.SEEN.value, SiteEventKind.ACCEPTED.value)
_COMMON_FIELDS = frozenset({"id", "type", "member", "occurred_at"})
_FIELDS = {
    **dict.fromkeys(CONSENT_KINDS, _COMMON_FIELDS | {"purpose", "channel", "guardian", "policy_version"}),
    **dict.fromkeys(NOTICE_KINDS, _COMMON_FIELDS | {"policy_version"}),
}
_MEMBER_NUMBER_MAX = Member._meta.get_field("member_number").max_length
_PURPOSE_CODE_MAX = Purpose._meta.get_field("code").max_length
_VERSION_LABEL_MAX = PolicyVersion._meta.get_field("version").max_length


# --- Authentication ---------------------------------------------------------------------------------
# --- Parsing ------------------------------------------------------------------------------------------
class BatchRefused(Exception):
    """The batch is refused as a whole: ``errors`` lists each refused event by index and field."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} event(s) refused")
        self.errors = errors


class BodyRefused(Exception):
    """The body is not a batch of events (the message names the rule, never a value)."""


@dataclass(frozen=True)
class SiteEventIn:
    """One event of a batch, checked for shape (not yet against the database)."""

    index: int
    key: str
    kind: str
    member_number: str
    occurred_at: datetime.datetime
    purpose: str = ""
    channel: str = ""
    guardian_id: int | None = None
    version_label: str = ""

    def fingerprint(self) -> str:
        """SHA-256 of the event as received, normalised: tells a re-delivery from a reused key."""
        facts = asdict(self)
        facts.pop("index")
        facts["occurred_at"] = self.occurred_at.astimezone(datetime.UTC).isoformat()
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


def _parse_time(value) -> datetime.datetime | None:
    """Unix seconds or ISO 8601 with an offset; None when it is neither (a naive time is ambiguous)."""
    if isinstance(value, bool):
        return None
    # Fuzz finding (tests/consents/test_fuzz_signed_endpoints.py): "²" is a digit to isdigit() but
    # not to int(), which raised ValueError (a 500 for the site).
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float):
        try:
            return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            return None
        if parsed is not None and timezone.is_aware(parsed):
            return parsed
    return None


def _text(raw: dict, name: str, max_length: int) -> str | None:
    value = raw.get(name)
    if isinstance(value, str) and 0 < len(value.strip()) <= max_length:
        return value.strip()
    return None


def _event_parse(index: int, raw) -> tuple[SiteEventIn | None, dict[str, list[str]]]:
    """One event's shape: the event, or its field-keyed problems (messages never repeat a value)."""
    if not isinstance(raw, dict):
        return None, {"__all__": ["An event is a JSON object."]}
    errors: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    key = raw.get("id")
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        add("id", "Give the event's idempotency key: 1 to 100 of A-Z a-z 0-9 . _ : - (e.g. a UUID).")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        add("type", f"Choose one of {', '.join(SiteEventKind.values)}.")
        kind, allowed = None, _FIELDS[CONSENT_KINDS[0]]
    else:
        allowed = _FIELDS[kind]
    for name in sorted(set(raw) - allowed):
        # Names only: an unexpected field may hold personal data the site should not send.
        add(name if len(name) <= 40 else "__all__", "Unknown field for this type of event: leave it out.")
    member_number = _text(raw, "member", _MEMBER_NUMBER_MAX)
    if member_number is None:
        add("member", "Give the member number.")
    occurred_at = _parse_time(raw.get("occurred_at"))
    if occurred_at is None:
        add("occurred_at", "Give the time as ISO 8601 with its offset (e.g. 2025-06-10T12:00:00Z) or Unix seconds.")

    purpose = channel = version_label = ""
    guardian_id = None
    if kind in CONSENT_KINDS:
        purpose = _text(raw, "purpose", _PURPOSE_CODE_MAX) or ""
        if not purpose:
            add("purpose", "Give the purpose code.")
        channel = raw.get("channel")
        if channel not in SITE_CHANNELS:
            add("channel", f"Choose {' or '.join(SITE_CHANNELS)}.")
            channel = ""
        guardian_id = raw.get("guardian")
        if guardian_id is not None and (isinstance(guardian_id, bool) or not isinstance(guardian_id, int)
                                        or guardian_id < 1):
            add("guardian", "Give the guardian's id (a positive whole number), or leave it out.")
        if raw.get("policy_version") is not None:
            version_label = _text(raw, "policy_version", _VERSION_LABEL_MAX) or ""
            if not version_label:
                add("policy_version", "Give the policy version's label, or leave it out.")
    elif kind in NOTICE_KINDS:
        version_label = _text(raw, "policy_version", _VERSION_LABEL_MAX) or ""
        if not version_label:
            add("policy_version", "Give the label of the policy version seen or accepted.")
    if errors:
        return None, errors
    return SiteEventIn(
        index=index, key=key, kind=kind, member_number=member_number, occurred_at=occurred_at, purpose=purpose,
        channel=channel, guardian_id=guardian_id, version_label=version_label,
    ), {}


def _refused(index: int, raw_or_event, fields: dict[str, list[str]]) -> dict:
    key = raw_or_event.key if isinstance(raw_or_event, SiteEventIn) else (
        raw_or_event.get("id") if isinstance(raw_or_event, dict) else None
    )
    # The key is echoed only when it has the key's shape (it is the site's own reference).
    return {"index": index, "id": key if isinstance(key, str) and KEY_PATTERN.fullmatch(key) else None,
            "fields": fields}


def events_parse(payload) -> list[SiteEventIn]:
    """The batch's events, checked for shape. Raises ``BodyRefused`` or ``BatchRefused``."""
    if not isinstance(payload, dict) or set(payload) != {"events"}:
        raise BodyRefused('the body must be {"events": [...]}')
    raw_events = payload["events"]
    if not isinstance(raw_events, list) or not 1 <= len(raw_events) <= MAX_EVENTS:
        raise BodyRefused(f"events must be a list of 1 to {MAX_EVENTS} events")
    events, errors = [], []
    for index, raw in enumerate(raw_events):
        event, problems = _event_parse(index, raw)
        if problems:
            errors.append(_refused(index, raw, problems))
        else:
            events.append(event)
    if errors:
        raise BatchRefused(errors)
    return events


# --- Recording ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _References:
    """The batch's members, purposes, versions and guardians, read in one query each."""

    members: dict[str, Member]
    purposes: dict[str, Purpose]
    versions: dict[str, PolicyVersion]
    guardians: dict[int, Guardian]

    @classmethod
    def of(cls, events: list[SiteEventIn]) -> _References:
        numbers = {e.member_number for e in events}
        codes = {e.purpose for e in events if e.purpose}
        labels = {e.version_label for e in events if e.version_label}
        guardian_ids = {e.guardian_id for e in events if e.guardian_id}
        return cls(
            members={m.member_number: m for m in Member.objects.filter(member_number__in=numbers)},
            purposes={p.code: p for p in Purpose.objects.select_related("introduced_in").filter(code__in=codes)}
            if codes else {},
            versions={v.version: v for v in PolicyVersion.objects.filter(version__in=labels)} if labels else {},
            # consent_record re-reads the guardian's member and verification under the member's lock.
            guardians={g.pk: g for g in Guardian.objects.filter(pk__in=guardian_ids).only("pk", "member_id")}
            if guardian_ids else {},
        )

    def problems(self, event: SiteEventIn) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if event.member_number not in self.members:
            errors["member"] = ["There is no member with this number."]
        if event.purpose and event.purpose not in self.purposes:
            errors["purpose"] = ["There is no purpose with this code."]
        if event.version_label and event.version_label not in self.versions:
            errors["policy_version"] = ["There is no policy version with this label."]
        if event.guardian_id and event.guardian_id not in self.guardians:
            errors["guardian"] = ["There is no guardian with this id."]
        return errors


def _notice_answer(event: SiteEventIn, refs: _References, now: datetime.datetime) -> str:
    """Record a policy version seen or accepted (PP-39, PP-40); the campaign's own services write it."""
    version = refs.versions[event.version_label]
    member = refs.members[event.member_number]
    if event.occurred_at > now + FUTURE_SKEW:
        raise ValidationError({"occurred_at": "An answer to a notice cannot be dated in the future."})
    at = min(event.occurred_at, now)
    if not version.is_published or version.published_at > at:
        raise ValidationError({"policy_version": "This policy version was not published at that time."})
    if not version.is_major:
        return SiteEventOutcome.NOT_NEEDED
    if event.kind == SiteEventKind.SEEN:
        changed = reconsent_notice_seen(version=version, member=member, at=at)
    else:
        changed = reconsent_notice_accept(version=version, member=member, at=at)
    return SiteEventOutcome.RECORDED if changed else SiteEventOutcome.UNCHANGED


def _apply(event: SiteEventIn, refs: _References, now: datetime.datetime) -> str:
    if event.kind in NOTICE_KINDS:
        return _notice_answer(event, refs, now)
    guardian = refs.guardians.get(event.guardian_id) if event.guardian_id else None
    # consent_record holds the ledger's rules (PP-05 versions, PP-38 verified guardians, PP-03 ages…).
    consent_record(
        member=refs.members[event.member_number],
        purpose=refs.purposes[event.purpose],
        action=event.kind,
        policy_version=refs.versions[event.version_label] if event.version_label else None,
        channel=event.channel,
        actor_kind=ActorKind.GUARDIAN if guardian else ActorKind.MEMBER,
        guardian=guardian,
        evidence=f"{Channel(event.channel).label} event {event.key}",
        occurred_at=event.occurred_at,
    )
    return SiteEventOutcome.RECORDED


def _validation_fields(exc: ValidationError) -> dict[str, list[str]]:
    return exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}


def site_events_record(events: list[SiteEventIn]) -> list[dict]:
    """Record a batch in one transaction, all or nothing; returns each event's result.

    Each event runs in a savepoint: its grant, withdrawal or answer and its ``SiteEvent`` row (the
    idempotency key) commit together or not at all. A key already on file is a re-delivery
    (``duplicate``, nothing written) if the event is the same, and refused if it is not. Two
    deliveries of one key at once: the second's insert of the key waits for the first to commit and
    then fails; its savepoint (with the grant it had just written) is rolled back and the event
    counts as a duplicate. Raises ``BatchRefused`` (nothing written) if any event is refused.
    """
    now = timezone.now()
    results: list[dict] = []
    errors: list[dict] = []
    with transaction.atomic():
        known = dict(SiteEvent.objects.filter(key__in={e.key for e in events}).values_list("key", "fingerprint"))
        refs = _References.of([e for e in events if e.key not in known])
        for event in events:
            fingerprint = event.fingerprint()
            outcome = None
            if event.key not in known:
                problems = refs.problems(event)
                if problems:
                    errors.append(_refused(event.index, event, problems))
                    continue
                try:
                    with transaction.atomic():
                        outcome = _apply(event, refs, now)
                        SiteEvent.objects.create(
                            key=event.key, kind=event.kind, member=refs.members[event.member_number],
                            fingerprint=fingerprint, outcome=outcome, received_at=now,
                        )
                except ValidationError as exc:
                    errors.append(_refused(event.index, event, _validation_fields(exc)))
                    continue
                except IntegrityError:
                    stored = SiteEvent.objects.filter(key=event.key).values_list("fingerprint", flat=True).first()
                    if stored is None:
                        raise
                    known[event.key] = stored
                    outcome = None
                else:
                    known[event.key] = fingerprint
            if outcome is None:  # delivered before (or concurrently)
                if known[event.key] != fingerprint:
                    errors.append(_refused(event.index, event, {
                        "id": ["This id was already used for a different event: give each event its own id."]
                    }))
                    continue
                outcome = "duplicate"
            results.append({"index": event.index, "id": event.key, "result": str(outcome)})
        if errors:
            raise BatchRefused(errors)  # leaving the block rolls the whole batch back
    return results


# --- The endpoint -------------------------------------------------------------------------------------
def _refuse(status: int, reason: str) -> JsonResponse:
    # The reason names the rule, never a value from the request.
    logger.warning("member site intake refused (%s): %s", status, reason)
    return JsonResponse({"error": reason}, status=status)


@csrf_exempt  # a server-to-server call authenticated by its HMAC signature, not by a session
@require_POST
def site_events(request: HttpRequest) -> JsonResponse:
    """A signed batch of consent events from the member-facing web site or app (see module doc)."""
    payload, refusal = signing.read_signed_json(request, secret=settings.MEMBER_SITE_SECRET, max_bytes=MAX_BODY_BYTES)
    if refusal:
        return _refuse(*refusal)
    try:
        results = site_events_record(events_parse(payload))
    except BodyRefused as exc:
        return _refuse(400, str(exc))
    except BatchRefused as exc:
        logger.warning("member site intake refused (400): %s, nothing recorded", exc)
        return JsonResponse({"errors": exc.errors}, status=400)
    counts = Counter(result["result"] for result in results)
    logger.info("member site intake: %d event(s) %s", len(results),
                ", ".join(f"{name} {count}" for name, count in sorted(counts.items())))
    return JsonResponse({"results": results})
