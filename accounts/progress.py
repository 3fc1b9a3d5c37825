"""Progress bars for long command-line work (seeding, erasure, key rotation, imports).

Every app's management commands use this one helper so bars look and behave the same: drawn on
stderr, hidden when ``--no-progress`` is given or stderr is not a terminal unless forced.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    stream=None,
) -> tqdm:
    """A tqdm bar; use as an iterator wrapper or call ``.update(n)`` on it."""
    return tqdm(
        iterable,
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        file=stream or sys.stderr,
        dynamic_ncols=True,
        mininterval=0.2,
    )


def chunked(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
