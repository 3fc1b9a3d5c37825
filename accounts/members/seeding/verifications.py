"""A demo member's verifications: real-name checks (some failed first, some pending) and advanced face checks."""

from __future__ import annotations

import datetime
import random

from accounts.members.choices import (
    DocumentKind,
    ReviewStatus,
    VerificationLevel,
    VerificationMethod,
    VerificationOutcome,
)
from accounts.members.seeding.documents import review_document
from accounts.members.seeding.draws import SeedClock
from accounts.members.seeding.plan import MemberPlan
from accounts.models import IdentityDocument, Verification


def draw_verifications(
    clock: SeedClock, rng: random.Random, plan: MemberPlan, level: str, document: IdentityDocument,
    method: str | None = None,
) -> None:
    """The verifications that reach ``level``, reviewing ``document`` on the way."""
    member = plan.member
    method = method or (
        VerificationMethod.PASSPORT_CHECK if document.kind == DocumentKind.PASSPORT
        else VerificationMethod.ID_NUMBER_CHECK
    )
    when = member.registered_at + datetime.timedelta(hours=rng.randint(1, 240))

    def record(lvl: str, how: str, outcome: str, at: datetime.datetime) -> None:
        plan.verifications.append(
            Verification(
                level=lvl, method=how, outcome=outcome, verified_at=at,
                reviewer_id=clock.reviewer_id if outcome != VerificationOutcome.PENDING else None,
            )
        )

    member.verification_level = level
    if level == VerificationLevel.NONE:
        if rng.random() < 0.4:
            record(VerificationLevel.REAL_NAME, method, VerificationOutcome.PENDING, when)
        elif rng.random() < 0.3:
            record(VerificationLevel.REAL_NAME, method, VerificationOutcome.FAILED, when)
            review_document(clock, rng, document, ReviewStatus.REJECTED)
        return
    if rng.random() < 0.1:  # a first attempt that failed (blurred scan, name mismatch)
        record(VerificationLevel.REAL_NAME, method, VerificationOutcome.FAILED, when)
        when += datetime.timedelta(days=rng.randint(1, 5))
    record(VerificationLevel.REAL_NAME, method, VerificationOutcome.PASSED, when)
    review_document(clock, rng, document, ReviewStatus.ACCEPTED)
    if level == VerificationLevel.ADVANCED:
        record(
            VerificationLevel.ADVANCED, VerificationMethod.FACE_RECOGNITION, VerificationOutcome.PASSED,
            when + datetime.timedelta(days=rng.randint(10, 300)),
        )
