"""What every step of the demo seeding draws with: random digits and letters, and the seeding day's clock.

Every value of member ``i`` comes from its own ``random.Random`` (``accounts.members.seeding.members``),
passed to each step; the clock holds what the steps share: the seed, ``today`` (minors must be 13
*today*), the start of that day in UTC that timestamps are drawn back from, and the demo reviewer.
"""

from __future__ import annotations

import datetime
import random


def draw_digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def draw_letters(rng: random.Random, n: int, alphabet: str = "ABCDEFGHIJKLMNPQRSTUVWXYZ") -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


class SeedClock:
    """The seed, the seeding day and the demo reviewer, shared by every step that draws a member."""

    def __init__(self, *, seed: int, today: datetime.date, reviewer_id: int | None = None):
        self.seed = seed
        self.today = today
        self.reviewer_id = reviewer_id
        # Timestamps are drawn back from the start of ``today`` (UTC): fixed for a given day.
        self.anchor = datetime.datetime(today.year, today.month, today.day, tzinfo=datetime.UTC)

    def before(self, rng: random.Random, max_days: float, min_days: float = 0) -> datetime.datetime:
        """A moment between ``min_days`` and ``max_days`` before the start of the seeding day."""
        return self.anchor - datetime.timedelta(seconds=rng.randint(int(min_days * 86400), int(max_days * 86400)))
