"""The working state of one chunk: whom it erases, what it counted, which files it queued.

A ``ChunkState`` is made per chunk inside its transaction (``retention.erasure.chunk``) and passed
to every statement of the chunk. It holds the chunk's members by group - *fresh* (erased now,
with their original numbers and closure dates) and *catch-up* (tombstones whose retention has
passed) - the tombstone numbers drawn for them, the rows changed per member and per model (for the
erasure records and the run's counts), the file names for the outbox, and the label of the model
being changed (``current``), which names the model in an error.

``merged`` holds assignments that another step of the chunk would otherwise make in a statement of
its own, to rows a statement of the chunk rewrites anyway: the run's item statuses ride on the
rewrite of the items' member numbers (``references.rewrite_member_numbers``), one UPDATE per chunk
instead of two over the same rows.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from retention.choices import ErasureTrigger


@dataclass
class ChunkState:
    trigger: str
    now: datetime.datetime
    fresh: dict[int, str]  # pk -> original member number, to erase now
    closure: dict[int, datetime.datetime]  # pk -> closure date (cancelled_at or now)
    catchup: list[int]  # tombstones whose retention has passed
    tombstones: dict[int, str] = field(default_factory=dict)  # pk -> new member number
    per_member: dict[int, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    totals: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    current: str = ""
    merged: dict[type, dict[str, object]] = field(default_factory=dict)  # model -> extra assignments

    def split(self, days: int | None) -> tuple[list[int], list[int]]:
        """Fresh members whose retention of ``days`` still runs, and those for whom it has passed."""
        if not days or self.trigger == ErasureTrigger.UNDER_14:
            return [], sorted(self.fresh)
        limit = self.now - datetime.timedelta(days=days)
        running = sorted(pk for pk in self.fresh if self.closure[pk] > limit)
        expired = sorted(pk for pk in self.fresh if self.closure[pk] <= limit)
        return running, expired

    def add(self, label: str, by_member: dict[int, int]) -> int:
        total = 0
        for pk, n in by_member.items():
            if pk is None or not n:
                continue
            counts = self.per_member[pk]
            counts[label] = counts.get(label, 0) + n
            total += n
        if total:
            self.totals[label] = self.totals.get(label, 0) + total
        return total
