"""Demo data for ``manage.py seed_demo``: consent histories, a re-consent campaign, the register.

Runs after accounts' steps (``INSTALLED_APPS`` order), on whatever members exist:

- **Consent histories** (PP-04/05/32/38): every active member aged 14 or more gets the basic
  purposes at sign-up and some additional ones, some withdrawn later (by app, web, SMS reply or a
  ticket entered by staff); a few grants carry a third-party source (PP-16). Members aged 14-17
  get a verified guardian and the guardian's grants; children under 14 get nothing (PP-03).
  Recorded through ``consents.ledger.consent_record_many`` (validated, bulk, chunked).
- **A major policy version** published ten days ago with its campaign part-way through: about
  60% notified, 40% seen, 20% accepted (PP-39). Nothing is e-mailed by the demo.
- **Recipients and disclosures** (PP-21): a partner with a valid agreement, one whose agreement
  expired, an authority; one disclosure approved, one awaiting approval, one rejected.
- **Processing on legal grounds** (PP-17, PP-24): one member's transactions profiled under a law
  enforcement notice (approved, and cited by a disclosure to the authority awaiting approval), and
  the futures line's members profiled under their agreement (awaiting a supervisor's approval).

Idempotent: members who already have consent events, an existing version, recipients and
disclosures (found by their description) are left as they are. Deterministic for a given
``--seed``: each member's history comes from its own ``random.Random``.
"""

from __future__ import annotations

import datetime
import random
from collections import Counter

from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Mod
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from accounts.members.choices import InstrumentKind, MemberStatus, VerificationLevel
from accounts.models import ADULT_AGE, CHILD_AGE_LIMIT, Member, ProductLine, StaffUser, age_on
from consents import campaigns, disclosures
from consents.choices import (
    ActorKind,
    ChangeKind,
    Channel,
    ConsentAction,
    DisclosureBasis,
    DisclosureKind,
    DisclosureStatus,
    PurposeKind,
    RecipientKind,
)
from consents.grounds import services as ground_services
from consents.ledger import consent_record_many
from consents.legal_grounds import BIOMETRIC_PURPOSE, INITIAL_POLICY_VERSION
from consents.models import (
    ConsentEvent,
    Disclosure,
    Guardian,
    LegalGround,
    PolicyVersion,
    ProcessingOnGround,
    Purpose,
    Recipient,
    ReconsentNotice,
)

DEFAULT_SEED = 2026
CHUNK_SIZE = 500
OFFICER_EMAIL = "compliance@demo.example"
SUPERVISOR_EMAIL = "supervisor@demo.example"
#: The launch version's date in the demo: demo members registered up to six years back, while the
#: data migration publishes 2024.1 when ``migrate`` runs. A demo database dates the launch back.
LAUNCH_AT = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
DEMO_MAJOR_VERSION = "2025.2"
CAMPAIGN_AGE = datetime.timedelta(days=10)
#: Share of additional purposes granted at sign-up, and of grants withdrawn later.
GRANT_RATES = {
    "profiling-push": 0.55, "marketing-sms": 0.45, "cookies-analytics": 0.7, "research-deidentified": 0.3,
    BIOMETRIC_PURPOSE: 0.0,  # granted by members with advanced (face) verification, see below
}
WITHDRAW_RATE = 0.15
GUARDIAN_NAMES = ("Wang Fang", "Li Wei", "Chen Jing", "Maria Silva", "Kim Min-jun", "Anna Schmidt")
GUARDIAN_RELATIONS = ("mother", "father", "legal guardian")


def _staff(email: str) -> StaffUser:
    user = StaffUser.objects.filter(email=email).first()
    if user is None:
        raise RuntimeError(f"Demo login {email} is missing: run the staff-users step (seed_demo) first.")
    return user


def launch_version_date_back() -> PolicyVersion:
    """The launch version, dated back to ``LAUNCH_AT`` if the migration published it later (demo only)."""
    launch = PolicyVersion.objects.get(version=INITIAL_POLICY_VERSION)
    if launch.published_at is None or launch.published_at > LAUNCH_AT:
        # A plain UPDATE (no history row): this is the demo's fiction, not a publication.
        PolicyVersion.objects.filter(pk=launch.pk).update(published_at=LAUNCH_AT, effective_at=LAUNCH_AT)
        launch.refresh_from_db()
    return launch


def demo_campaign_publish(*, officer: StaffUser, now: datetime.datetime) -> PolicyVersion:
    """The demo's major version, published ``CAMPAIGN_AGE`` ago through the service (no e-mails)."""
    version, _created = PolicyVersion.objects.get_or_create(
        version=DEMO_MAJOR_VERSION,
        defaults={
            "text": "The privacy policy, revised: a card-issuing partner receives card applicants' data; "
                    "complaints go to the in-app help centre.",
            "summary": "New main recipient of sharing (card-issuing partner). New complaint channel.",
            "change_kinds": [ChangeKind.RECIPIENTS, ChangeKind.CONTACT],
        },
    )
    if not version.is_published:
        campaigns.policy_version_publish(version=version, user=officer, now=now - CAMPAIGN_AGE, notify=False)
        version.refresh_from_db()
    return version


def campaign_progress_simulate(version: PolicyVersion) -> dict[str, int]:
    """Part-way through: notified 60%, seen 40%, accepted 20% of members, picked by member id.

    Set-based updates of this version's notices only where the step is not recorded yet, so a
    rerun changes nothing. Demo data: real answers come through ``reconsent_notice_*``.
    """
    published = version.published_at
    notices = ReconsentNotice.objects.filter(policy_version=version).alias(bucket=Mod("member_id", 10))
    steps = (
        ("notified", "notified_at", 6, datetime.timedelta(hours=1)),
        ("seen", "seen_at", 4, datetime.timedelta(days=2)),
        ("accepted", "accepted_at", 2, datetime.timedelta(days=3)),
    )
    changed = {}
    for label, column, buckets, after in steps:
        pending = notices.filter(bucket__lt=buckets, **{f"{column}__isnull": True})
        changed[f"notices {label}"] = pending.update(**{column: published + after})
    return changed


def _event_time(rng: random.Random, start: datetime.datetime, end: datetime.datetime) -> datetime.datetime:
    seconds = max((end - start).total_seconds(), 60)
    return start + datetime.timedelta(seconds=rng.uniform(0, seconds))


class HistoryPlanner:
    """Builds one member's consent history, deterministically from the seed and member number."""

    def __init__(self, *, seed: int, now: datetime.datetime, officer: StaffUser):
        self.seed = seed
        self.now = now
        self.officer = officer
        self.purposes = list(Purpose.objects.order_by("kind", "code").values_list("pk", "code", "kind"))
        # Versions by publication time: each event is recorded under the version in force then.
        self.versions = list(
            PolicyVersion.objects.filter(published_at__isnull=False).order_by("published_at").values_list(
                "published_at", "pk"
            )
        )

    def version_at(self, at: datetime.datetime) -> int:
        current = None
        for published_at, pk in self.versions:
            if published_at <= at:
                current = pk
        if current is None:
            raise RuntimeError("No policy version was published before the demo's first event.")
        return current

    def start(self, *, registered_at: datetime.datetime, born: datetime.date | None) -> datetime.datetime:
        """Sign-up consents: at registration, not before the launch version, not before age 14."""
        start = max(registered_at, self.versions[0][0])
        if born is not None:
            try:
                fourteenth = born.replace(year=born.year + CHILD_AGE_LIMIT)
            except ValueError:  # born on 29 February
                fourteenth = born.replace(year=born.year + CHILD_AGE_LIMIT, month=3, day=1)
            start = max(start, datetime.datetime.combine(fourteenth, datetime.time(12), tzinfo=datetime.UTC)
                        + datetime.timedelta(days=1))
        return start + datetime.timedelta(minutes=5)

    def events(self, *, member_id: int, member_number: str, start: datetime.datetime, advanced: bool,
               guardian: Guardian | None) -> list[ConsentEvent]:
        rng = random.Random(f"consents:{self.seed}:{member_number}")  # noqa: S311 - demo data, not secrets
        channel = rng.choice((Channel.WEB, Channel.APP))
        latest = self.now - datetime.timedelta(hours=1)
        out: list[ConsentEvent] = []

        def event(purpose_id, action, at, *, actor=ActorKind.MEMBER, via=channel, evidence, source=""):
            out.append(ConsentEvent(
                member_id=member_id, purpose_id=purpose_id, action=action, policy_version_id=self.version_at(at),
                channel=via, actor_kind=actor, evidence=evidence, source=source, occurred_at=at,
                guardian_id=guardian.pk if actor == ActorKind.GUARDIAN else None,
                staff_user_id=self.officer.pk if actor == ActorKind.STAFF else None,
            ))

        for pk, code, kind in self.purposes:
            if kind == PurposeKind.BASIC:
                event(pk, ConsentAction.GRANT, start, evidence="Sign-up consent screen")
                continue
            rate = 0.9 if (code == BIOMETRIC_PURPOSE and advanced) else GRANT_RATES.get(code, 0.3)
            if rng.random() >= rate:
                continue
            granted_at = start + datetime.timedelta(minutes=rng.randint(1, 30))
            source = "Referral partner: Card Issuing Partner Ltd" if code == "profiling-push" and rng.random() < 0.05 \
                else ""
            event(pk, ConsentAction.GRANT, granted_at, evidence="Optional purposes screen", source=source)
            if guardian is not None:
                event(pk, ConsentAction.GRANT, granted_at + datetime.timedelta(minutes=30), actor=ActorKind.GUARDIAN,
                      evidence="Guardian's confirmation link")
            if rng.random() < WITHDRAW_RATE and latest > granted_at + datetime.timedelta(days=1):
                withdrawn_at = _event_time(rng, granted_at + datetime.timedelta(days=1), latest)
                how = rng.choice(("app", "web", "sms", "ticket"))
                if how == "sms" and code in ("marketing-sms", "profiling-push"):
                    event(pk, ConsentAction.WITHDRAW, withdrawn_at, via=Channel.SMS, evidence="SMS reply TD")
                elif how == "ticket":
                    event(pk, ConsentAction.WITHDRAW, withdrawn_at, actor=ActorKind.STAFF, via=Channel.TICKET,
                          evidence="Consent-withdrawal ticket")
                else:
                    event(pk, ConsentAction.WITHDRAW, withdrawn_at, via=Channel.APP if how == "app" else Channel.WEB,
                          evidence="Privacy settings")
        return out


def _guardian_for(rng: random.Random, member_number: str, start: datetime.datetime, officer: StaffUser,
                  member_id: int) -> Guardian:
    return Guardian(
        member_id=member_id,
        name=rng.choice(GUARDIAN_NAMES),
        relation=rng.choice(GUARDIAN_RELATIONS),
        contact=f"guardian.{member_number.lower()}@mail.example",
        verification_evidence="Birth certificate and the guardian's ID seen at the branch",
        verified_at=start - datetime.timedelta(minutes=4),
        verified_by=officer,
    )


def consent_histories_seed(*, seed: int, now: datetime.datetime, officer: StaffUser, bar=None,
                           chunk_size: int = CHUNK_SIZE) -> Counter:
    """Histories for active members without any consent event yet; a chunk of members per transaction."""
    planner = HistoryPlanner(seed=seed, now=now, officer=officer)
    today = timezone.localdate(now)
    todo = (
        Member.objects.filter(status__in=(MemberStatus.ACTIVE, MemberStatus.CANCELLATION_REQUESTED))
        .filter(~Exists(ConsentEvent.objects.filter(member_id=OuterRef("pk"))))
        .order_by("pk")
    )
    ids = list(todo.values_list("pk", flat=True))
    totals: Counter = Counter()
    if bar is not None:
        bar.reset(total=len(ids))
    young_year = planner.versions[0][0].year - ADULT_AGE  # born after this: age matters for the dates
    for offset in range(0, len(ids), chunk_size):
        chunk = ids[offset : offset + chunk_size]
        rows = list(
            Member.objects.filter(pk__in=chunk).order_by("pk").values_list(
                "pk", "member_number", "registered_at", "birth_year", "verification_level"
            )
        )
        # Dates of birth are decrypted only for the young (an exact age decides their dates).
        young = [pk for pk, _n, _r, year, _v in rows if year is not None and year >= young_year]
        born = dict(Member.objects.filter(pk__in=young).values_list("pk", "date_of_birth")) if young else {}
        guarded = set(Guardian.objects.filter(member_id__in=chunk).values_list("member_id", flat=True))
        plans, new_guardians = [], []
        for pk, number, registered_at, _year, level in rows:
            birth = born.get(pk)
            age = age_on(birth, today) if birth else None
            if age is not None and age < CHILD_AGE_LIMIT:
                totals["children left without grants"] += 1
                continue
            start = planner.start(registered_at=registered_at, born=birth)
            guardian = None
            if age is not None and age < ADULT_AGE:
                guardian = Guardian.objects.filter(member_id=pk).first() if pk in guarded else None
                if guardian is None:
                    rng = random.Random(f"guardian:{seed}:{number}")  # noqa: S311 - demo data, not secrets
                    guardian = _guardian_for(rng, number, start, officer, pk)
                    new_guardians.append(guardian)
            plans.append((pk, number, start, level == VerificationLevel.ADVANCED, guardian))
        with transaction.atomic():
            if new_guardians:
                bulk_create_with_history(new_guardians, Guardian, default_user=officer)
                totals["guardians"] += len(new_guardians)
            events = []
            for pk, number, start, advanced, guardian in plans:
                events.extend(planner.events(member_id=pk, member_number=number, start=start, advanced=advanced,
                                             guardian=guardian))
            if events:
                counts = consent_record_many(events, chunk_size=5000)
                totals["consent events"] += counts["events"]
            totals["members with a history"] += len(plans)
        if bar is not None:
            bar.update(len(chunk))
    return totals


def recipients_ensure(*, today: datetime.date) -> dict[str, Recipient]:
    specs = {
        "partner": ("Card Issuing Partner Ltd", RecipientKind.PARTNER, "HK",
                    today - datetime.timedelta(days=400), today + datetime.timedelta(days=330)),
        "expired": ("Legacy Analytics Co", RecipientKind.PARTNER, "SG",
                    today - datetime.timedelta(days=1100), today - datetime.timedelta(days=60)),
        "authority": ("Financial Supervisory Authority", RecipientKind.AUTHORITY, "CN", None, None),
    }
    out = {}
    for key, (name, kind, country, signed, expires) in specs.items():
        out[key], _ = Recipient.objects.get_or_create(
            name=name,
            defaults={"kind": kind, "country": country, "agreement_signed_on": signed,
                      "agreement_expires_on": expires},
        )
    return out


def disclosures_seed(*, officer: StaffUser, supervisor: StaffUser, today: datetime.date) -> Counter:
    """One approved, one awaiting approval, one rejected; skipped when already there or no members."""
    recipients = recipients_ensure(today=today)
    active = Member.objects.filter(status=MemberStatus.ACTIVE).order_by("pk")
    card_holders = list(
        active.filter(payment_instruments__kind=InstrumentKind.BANK_CARD).values_list("pk", flat=True).distinct()[:25]
    )
    traders = list(active.values_list("pk", flat=True)[:40])
    specs = (
        ("Card issuance for members who applied for the exchange's debit card (batch 1).", recipients["partner"],
         DisclosureBasis.PARTNER_AGREEMENT, ["identity", "contact", "financial"], card_holders, "approve"),
        ("Information request FSA-031: identity and orders of the members listed by the authority.",
         recipients["authority"], DisclosureBasis.LAW, ["identity", "transaction"], traders, None),
        ("Usage analytics export (renewal of the analytics contract pending).", recipients["expired"],
         DisclosureBasis.PARTNER_AGREEMENT, ["device", "transaction"], traders[:10], "reject"),
    )
    totals: Counter = Counter({"recipients": len(recipients)})
    for description, recipient, basis, categories, member_ids, outcome in specs:
        if not member_ids or Disclosure.objects.filter(description=description).exists():
            continue
        disclosure = disclosures.disclosure_prepare(
            kind=DisclosureKind.SHARE, recipient=recipient, basis=basis, data_categories=categories,
            description=description, members_queryset=Member.objects.filter(pk__in=member_ids), user=officer,
            disclosed_on=today - datetime.timedelta(days=20) if outcome == "approve" else None,
        )
        if outcome == "approve":
            disclosures.disclosure_approve(disclosure=disclosure, user=supervisor, note="List and agreement checked.")
        elif outcome == "reject":
            disclosures.disclosure_reject(disclosure=disclosure, user=supervisor,
                                          note="The confidentiality agreement has expired (PP-21).")
        totals["disclosures"] += 1
    totals["awaiting approval"] = Disclosure.objects.filter(status=DisclosureStatus.AWAITING_APPROVAL).count()
    return totals


DEMO_NOTICE = "Public Security Bureau notice PSB-2026-0117 (monitoring of one account's orders)"
DEMO_AGREEMENT = "Futures trading agreement, clause 9.2 (position-risk profiling)"


def grounds_seed(*, officer: StaffUser, supervisor: StaffUser, today: datetime.date) -> Counter:
    """Two records of processing on a legal ground and a disclosure citing one; skipped when there."""
    totals: Counter = Counter()
    member = Member.objects.filter(status=MemberStatus.ACTIVE).order_by("pk").first()
    futures = ProductLine.objects.filter(code="futures").first()
    profiling = Purpose.objects.get(code="profiling-push")
    if member is not None and not ProcessingOnGround.objects.filter(reference=DEMO_NOTICE).exists():
        notice = ground_services.processing_ground_record(
            purpose=profiling, ground=LegalGround.objects.get(code="consent-law-enforcement"), reference=DEMO_NOTICE,
            user=officer, member=member, starts_on=today - datetime.timedelta(days=5),
            ends_on=today + datetime.timedelta(days=180),
        )
        ground_services.processing_ground_approve(record=notice, user=supervisor)
        disclosures.disclosure_prepare(
            kind=DisclosureKind.SHARE, recipient=recipients_ensure(today=today)["authority"],
            basis=DisclosureBasis.LEGAL_GROUND, data_categories=["identity", "transaction"],
            description="Answer to notice PSB-2026-0117: the account's orders of the last 90 days.",
            members_queryset=Member.objects.filter(pk=member.pk), ground_records=[notice], user=officer,
        )
        totals["grounds"] += 1
    if futures is not None and not ProcessingOnGround.objects.filter(reference=DEMO_AGREEMENT).exists():
        ground_services.processing_ground_record(
            purpose=profiling, ground=LegalGround.objects.get(code="consent-contract"), reference=DEMO_AGREEMENT,
            user=officer, product_line=futures, starts_on=today,
        )
        totals["grounds"] += 1
    return totals


def seed_consents(*, bar=None, seed: int = DEFAULT_SEED, now: datetime.datetime | None = None,
                  **options) -> dict[str, int]:
    """The consents demo step (see the module docstring)."""
    now = now or timezone.now()
    officer, supervisor = _staff(OFFICER_EMAIL), _staff(SUPERVISOR_EMAIL)
    launch_version_date_back()
    version = demo_campaign_publish(officer=officer, now=now)
    totals = consent_histories_seed(seed=seed, now=now, officer=officer, bar=bar)
    totals.update(campaign_progress_simulate(version))
    totals.update(disclosures_seed(officer=officer, supervisor=supervisor, today=timezone.localdate(now)))
    totals.update(grounds_seed(officer=officer, supervisor=supervisor, today=timezone.localdate(now)))
    progress = campaigns.campaign_progress(version)
    totals.update({"campaign queued": progress.queued, "campaign accepted": progress.accepted})
    return dict(totals)


def register(steps) -> None:
    # Units depend on the members present: the step sets its bar's total itself.
    steps.append(("consents", None, seed_consents))
