"""A demo institution: its profile, corporate documents, one to three related persons and its activity."""

from __future__ import annotations

import datetime
import random
from decimal import Decimal

from accounts.members.choices import (
    DocumentKind,
    MemberKind,
    RelatedPersonRole,
    ReviewStatus,
    VerificationLevel,
    VerificationMethod,
)
from accounts.members.seeding.countries import COUNTRIES, COUNTRY_CODES, INSTITUTION_COUNTRIES
from accounts.members.seeding.devices import draw_devices
from accounts.members.seeding.documents import company_registration, draw_identity_document, review_document
from accounts.members.seeding.draws import SeedClock
from accounts.members.seeding.instruments import draw_instrument
from accounts.members.seeding.people import draw_person
from accounts.members.seeding.plan import MemberPlan, draw_product_lines, draw_status, member_number
from accounts.members.seeding.transactions import draw_transactions
from accounts.members.seeding.verifications import draw_verifications
from accounts.models import IdentityDocument, InstitutionProfile, Member, RelatedPerson

COMPANY_WORDS = ("Harbour", "Jade", "Summit", "Lotus", "Pacific", "Granite", "Aurora", "Meridian", "Kestrel", "Orchid")
COMPANY_TRADES = ("Capital", "Digital Assets", "Holdings", "Trading", "Investments", "Technology", "Ventures")
COMPANY_SUFFIX = {"CN": "Co., Ltd.", "HK": "Limited", "SG": "Pte. Ltd.", "GB": "Ltd", "US": "LLC"}
CN_COMPANY_LOCAL = {"Harbour": "港湾", "Jade": "翡翠", "Summit": "峰汇", "Lotus": "莲花", "Pacific": "太平洋",
                    "Granite": "磐石", "Aurora": "极光", "Meridian": "子午", "Kestrel": "隼翼", "Orchid": "兰花"}
FUNDING_SOURCES = (
    "Shareholders' equity and retained earnings",
    "Proprietary trading capital contributed by the parent company",
    "Client assets held under a fund management licence",
    "Venture capital investment (Series A)",
    "Operating revenue from an e-commerce business",
)
COMPANY_STRUCTURES = (
    "Private company limited by shares; {n} shareholders; one director is also the authorised representative.",
    "Wholly owned subsidiary of a holding company; {n} natural persons are ultimate beneficial owners.",
    "Limited partnership; the general partner is a company; {n} persons named as controllers.",
)


def draw_institution(clock: SeedClock, rng: random.Random, index: int, lean: bool) -> MemberPlan:
    """Institution ``index`` with its profile and related persons; ``lean`` stops after the member and one document."""
    code = rng.choice(INSTITUTION_COUNTRIES)
    country = COUNTRIES[code]
    word, trade = rng.choice(COMPANY_WORDS), rng.choice(COMPANY_TRADES)
    city = rng.choice(country.cities)
    member = Member(
        member_number=member_number(index),
        kind=MemberKind.INSTITUTION,
        registered_at=clock.before(rng, 2200, 20),
        email=f"compliance.{index}@{word.lower()}-{trade.split()[0].lower()}.example",
        phone=country.phone(rng),
    )
    draw_status(clock, rng, member)
    reg_number = company_registration(rng, code)
    incorporated = clock.today - datetime.timedelta(days=rng.randint(400, 9000))
    registration = IdentityDocument(
        kind=DocumentKind.COMPANY_REGISTRATION, issuing_country=code, number=reg_number,
        uploaded_at=clock.before(rng, 1500, 1),
    )
    plan = MemberPlan(member=member, product_lines=draw_product_lines(rng, True), documents=[registration])
    if lean:
        return plan
    people = rng.randint(1, 3)
    plan.profile = InstitutionProfile(
        legal_name=f"{word} {trade} {COMPANY_SUFFIX[code]}",
        local_name=f"{CN_COMPANY_LOCAL[word]}数字科技有限公司" if code == "CN" else "",
        registration_number=reg_number,
        registration_info=f"Incorporated in {code} on {incorporated:%Y-%m-%d}; registered office in {city[0]}.",
        business_phone=country.phone(rng),
        main_place_of_business=f"{rng.randint(1, 300)} {rng.choice(COMPANY_WORDS)} Road, {city[0]}",
        company_structure=rng.choice(COMPANY_STRUCTURES).format(n=people),
        funding_sources=rng.choice(FUNDING_SOURCES),
    )
    for kind in (DocumentKind.CORPORATE_DOCUMENT, DocumentKind.BOARD_RESOLUTION):
        plan.documents.append(
            IdentityDocument(kind=kind, issuing_country=code, uploaded_at=clock.before(rng, 1500, 1))
        )
    shares = [Decimal(rng.randint(25, 60))] if people > 1 else []
    if people == 3:
        shares.append(Decimal(rng.randint(10, 100 - int(shares[0]) - 1)))
    for number in range(people):
        person_country = COUNTRIES[code if rng.random() < 0.7 else rng.choice(COUNTRY_CODES)]
        person = draw_person(clock, rng, index, person_country, rng.randint(28, 70), f"rp{number}x")
        role = (
            RelatedPersonRole.AUTHORISED_REPRESENTATIVE if number == 0
            else RelatedPersonRole.BENEFICIAL_OWNER
        )
        related = RelatedPerson(
            role=role,
            ownership_share=shares[number - 1] if number else None,
            legal_name=person.legal_name,
            local_name=person.local_name,
            nationality=person_country.code,
            date_of_birth=person.born,
            email=person.email,
            phone=person.phone,
        )
        plan.related.append(related)
        document = draw_identity_document(clock, rng, person, related=related, passport=rng.random() < 0.4)
        review_document(clock, rng, document, ReviewStatus.ACCEPTED)
        plan.documents.append(document)

    level = VerificationLevel.NONE if rng.random() < 0.15 else VerificationLevel.REAL_NAME
    draw_verifications(clock, rng, plan, level, registration, method=VerificationMethod.MANUAL_REVIEW)
    for document in plan.documents:
        if document.review_status == ReviewStatus.PENDING and level != VerificationLevel.NONE:
            review_document(clock, rng, document, ReviewStatus.ACCEPTED)
    draw_instrument(clock, rng, plan, country, None)
    draw_devices(clock, rng, plan, country)
    draw_transactions(clock, rng, plan, heavy=rng.random() < 0.3)
    return plan
