"""A demo individual member: identity, documents, verifications, instruments, devices and orders."""

from __future__ import annotations

import random

from accounts.members.choices import DocumentKind, InstrumentKind, MemberKind, ReviewStatus, VerificationLevel
from accounts.members.seeding.countries import COUNTRIES, COUNTRY_CODES, COUNTRY_WEIGHTS
from accounts.members.seeding.devices import draw_devices
from accounts.members.seeding.documents import draw_identity_document, review_document
from accounts.members.seeding.draws import SeedClock
from accounts.members.seeding.instruments import draw_instrument
from accounts.members.seeding.people import draw_person
from accounts.members.seeding.plan import (
    FILE_MEMBER_INDEXES,
    MemberPlan,
    draw_product_lines,
    draw_status,
    member_number,
)
from accounts.members.seeding.transactions import draw_transactions
from accounts.members.seeding.verifications import draw_verifications
from accounts.models import IdentityDocument, Member

#: Countries whose demo members prefer Chinese letters (issue 16).
CHINESE_SPEAKING = frozenset({"CN", "HK", "TW"})


def draw_individual(clock: SeedClock, rng: random.Random, index: int, minor_age: int | None, lean: bool) -> MemberPlan:
    """Individual ``index`` (a minor of ``minor_age`` if given); ``lean`` stops after the member and one document."""
    country = COUNTRIES[rng.choices(COUNTRY_CODES, COUNTRY_WEIGHTS)[0]]
    age = minor_age if minor_age is not None else rng.randint(18, 75)
    person = draw_person(clock, rng, index, country, age, "m")
    registered = clock.before(rng, 360 if minor_age else 2200, 20)
    member = Member(
        member_number=member_number(index),
        kind=MemberKind.INDIVIDUAL,
        registered_at=registered,
        nationality=country.code,
        legal_name=person.legal_name,
        local_name=person.local_name,
        date_of_birth=person.born,
        birth_year=person.born.year,  # Member.save() derives it; bulk_create does not call save()
        email=person.email,
        phone=person.phone,
        # Issue 16: members from the mainland, Hong Kong and Taiwan read their letters in Chinese;
        # the others leave it blank (their language is detected from what they write).
        preferred_language="zh-hans" if country.code in CHINESE_SPEAKING else "",
    )
    draw_status(clock, rng, member)
    primary = draw_identity_document(
        clock, rng, person, related=None, passport=country.code in ("CN", "JP") and rng.random() < 0.2
    )
    plan = MemberPlan(member=member, product_lines=draw_product_lines(rng, False), documents=[primary])
    if lean:
        return plan
    if rng.random() < 0.3 and primary.kind != DocumentKind.PASSPORT:
        plan.documents.append(draw_identity_document(clock, rng, person, related=None, passport=True))

    roll = rng.random()
    level = (
        VerificationLevel.NONE if roll < 0.18
        else VerificationLevel.ADVANCED if roll > 0.85 and minor_age is None
        else VerificationLevel.REAL_NAME
    )
    draw_verifications(clock, rng, plan, level, primary)
    if index in FILE_MEMBER_INDEXES:
        plan.with_file.append(primary)
    if level == VerificationLevel.ADVANCED:
        face = IdentityDocument(
            kind=DocumentKind.FACE_CAPTURE, issuing_country="",
            uploaded_at=clock.before(rng, 300, 1),
        )
        review_document(clock, rng, face, ReviewStatus.ACCEPTED)
        plan.documents.append(face)
        if index in FILE_MEMBER_INDEXES:
            plan.with_file.append(face)

    for _ in range(rng.randint(1, 2)):
        draw_instrument(clock, rng, plan, country, InstrumentKind.BANK_CARD if rng.random() < 0.6 else None)
    draw_devices(clock, rng, plan, country)
    draw_transactions(clock, rng, plan, heavy=minor_age is None and rng.random() < 0.05)
    return plan
