"""Frozen clocks for date-sensitive tests (no test depends on the wall clock; not a test module).

A test that reads "now" or "today" and then calls code that reads the clock again must see the same
instant both times, or it fails when the suite runs across midnight, the end of a week, a month or a
year. ``frozen()`` stops the clock (time-machine, ``tick=False``) at a given instant or at the current
one, which is the session's fake clock under ``FAKE_NOW`` (see ``tests/conftest.py`` and
``.ci/clock-check``).
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterator

import time_machine
from django.utils import timezone
from time_machine import Traveller


def noon(day: datetime.date) -> datetime.datetime:
    """Noon of ``day`` in the site's time zone: that day for ``timezone.localdate()``."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))


@contextlib.contextmanager
def frozen(instant: datetime.datetime | datetime.date | str | None = None) -> Iterator[Traveller]:
    """Stop the clock at ``instant`` (a date means its local noon; None means now).

    Yields time-machine's traveller: ``.shift(seconds)`` moves the stopped clock on where a test
    needs time to pass.
    """
    if instant is None:
        instant = timezone.now()
    elif isinstance(instant, str):
        instant = datetime.datetime.fromisoformat(instant)
    elif not isinstance(instant, datetime.datetime):
        instant = noon(instant)
    if timezone.is_naive(instant):
        instant = timezone.make_aware(instant)
    with time_machine.travel(instant, tick=False) as traveller:
        yield traveller
