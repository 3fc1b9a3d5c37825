"""Draws demo member ``index``: an individual (about nine in ten) or an institution, with all its rows."""

from __future__ import annotations

import random

from accounts.members.seeding.draws import SeedClock
from accounts.members.seeding.individuals import draw_individual
from accounts.members.seeding.institutions import draw_institution
from accounts.members.seeding.plan import MINOR_AGES, MemberPlan

INSTITUTION_SHARE = 0.10


class MemberGenerator(SeedClock):
    """Draws member ``index`` from ``random.Random(f"demo-member:{seed}:{index}")`` alone."""

    def plan(self, index: int, *, lean: bool = False) -> MemberPlan:
        """Member ``index`` with all its rows; ``lean`` stops after the member and one document."""
        rng = random.Random(f"demo-member:{self.seed}:{index}")  # noqa: S311 - demo data, not secrets
        minor_age = MINOR_AGES.get(index % 100)
        institution = minor_age is None and rng.random() < INSTITUTION_SHARE
        if institution:
            return draw_institution(self, rng, index, lean)
        return draw_individual(self, rng, index, minor_age, lean)
