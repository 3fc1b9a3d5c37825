"""Helpers shared by the ledger, may-process, guardian, SMS and biometric tests (not a test module)."""

from __future__ import annotations

import datetime

from django.utils import timezone

from accounts.models import Member
from consents.choices import ActorKind, Channel, ConsentAction
from consents.ledger import consent_record
from consents.legal_grounds import INITIAL_POLICY_VERSION
from consents.models import ConsentEvent, Guardian, PolicyVersion

EPOCH = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


def aware(*args) -> datetime.datetime:
    """A UTC datetime, e.g. ``aware(2025, 6, 10, 12)``."""
    return datetime.datetime(*args, tzinfo=datetime.UTC)


def initial_version(published_at: datetime.datetime = EPOCH) -> PolicyVersion:
    """The seeded policy version, dated back so tests can record events in the past.

    The data migration publishes it "now" (when the test database is built); ``update`` leaves no
    history row, which is fine for a fixture.
    """
    PolicyVersion.objects.filter(version=INITIAL_POLICY_VERSION).update(published_at=published_at)
    return PolicyVersion.objects.get(version=INITIAL_POLICY_VERSION)


def version_publish(label: str, published_at: datetime.datetime | None) -> PolicyVersion:
    return PolicyVersion.objects.create(
        version=label, text=f"Policy {label}", change_kinds=["service_model"], published_at=published_at,
        effective_at=published_at,
    )


def born(years: int, day: datetime.date, *, days_later: int = 0) -> datetime.date:
    """The date of birth of someone whose ``years``-th birthday is ``day`` (then shifted).

    On 29 February a common-year birth date does not exist: 28 February is used (already had the
    birthday), which keeps "days_later=1" meaning "birthday tomorrow".
    """
    try:
        birthday = day.replace(year=day.year - years)
    except ValueError:
        birthday = day.replace(year=day.year - years, day=28)
    return birthday + datetime.timedelta(days=days_later)


def verified_guardian(member: Member, *, verified_at: datetime.datetime = EPOCH) -> Guardian:
    return Guardian.objects.create(
        member=member, name="Parent", relation="mother", contact="parent@mail.example",
        verification_evidence="ID card seen at the branch", verified_at=verified_at,
    )


def record(member: Member, code: str, action: str = ConsentAction.GRANT, *, at=None, version=None,
           guardian: Guardian | None = None, channel: str = Channel.WEB, **extra) -> ConsentEvent:
    """A grant (default) or withdrawal by the member, or by ``guardian`` when given."""
    return consent_record(
        member=member, purpose=code, action=action,
        policy_version=version or PolicyVersion.objects.get(version=INITIAL_POLICY_VERSION),
        channel=channel, actor_kind=ActorKind.GUARDIAN if guardian else ActorKind.MEMBER, guardian=guardian,
        evidence=extra.pop("evidence", "test"), occurred_at=at or timezone.now(), **extra,
    )
