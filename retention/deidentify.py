"""The de-identified research dataset (PP-18): no direct identifiers, generalised dates, k-anonymous.

- No member number, name, contact, document or device identifier leaves: each row gets a random
  key drawn fresh for every export (``secrets``), not derived from anything, so two exports cannot
  be joined with each other or with the member table.
- Dates are generalised: an age band computed from the plain birth year (no date of birth is
  decrypted), and the registration month.
- Quasi-identifiers (age band, nationality, region) must be shared by at least
  ``DEIDENTIFIED_EXPORT_K`` rows. A row in a smaller group first has its region, then also its
  age band, generalised to ``*`` (local recoding), and is published only if its generalised group
  reaches k; otherwise it is suppressed. Both are counted.
- Only members who are adults for certain by birth year are included: children's data (PP-01,
  PP-37) never enters a research set.
- One SQL query whatever the number of members: region and transaction aggregates are
  correlated subqueries of the member query.
"""

from __future__ import annotations

import csv
import datetime
import os
import secrets
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from django.conf import settings
from django.db.models import DecimalField, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from accounts.members.choices import MemberKind, MemberStatus
from accounts.members.spreadsheets.cells import escape_formula
from accounts.members.spreadsheets.encodings import DEFAULT_EXPORT_ENCODING
from accounts.models import DeviceRecord, Member, MemberDailyVolume

COLUMNS = (
    "record_key", "age_band", "nationality", "region", "registered_month", "verification_level",
    "transactions", "volume_usd",
)
QUASI_IDENTIFIERS = ("age_band", "nationality", "region")
#: Lower bounds of the age bands; the last one is open-ended.
AGE_BANDS = (18, 25, 35, 45, 55, 65)
#: Someone born in ``year - ADULT_BY_YEAR`` or earlier is at least 18 today whatever their birthday.
ADULT_BY_YEAR = 19
EXPORT_DIR = "exports"


def age_band(*, birth_year: int, today: datetime.date) -> str:
    """The band of the age reached in ``today``'s calendar year (a generalisation, never a date)."""
    age = today.year - birth_year
    for low, high in zip(AGE_BANDS, (*AGE_BANDS[1:], None), strict=True):
        if high is None or age < high:
            return f"{low}+" if high is None else f"{low}-{high - 1}"
    raise AssertionError("unreachable")


@dataclass
class DeidentifiedDataset:
    rows: list[dict] = field(default_factory=list)
    selected: int = 0
    suppressed: int = 0
    generalised: int = 0
    k: int = 5


def export_queryset(*, today: datetime.date):
    """The one query: individuals in service, certainly adult, with region and transaction aggregates."""
    # The region is encrypted (PP-01): an empty one is stored empty, so a non-empty column is a
    # known region; the value is decrypted when the row is read, and grouped in Python below.
    latest_region = (
        DeviceRecord.objects.filter(member_id=OuterRef("pk")).annotate(region_length=Length("region"))
        .filter(region_length__gt=0).order_by("-seen_at", "-pk").values("region")[:1]
    )
    # Amounts are encrypted (PP-01): the member's plain daily volumes carry the counts and sums.
    per_member = MemberDailyVolume.objects.filter(member_id=OuterRef("pk")).order_by().values("member_id")
    trades = per_member.annotate(n=Sum("orders")).values("n")
    volume = per_member.annotate(total=Sum("amount")).values("total")
    money = DecimalField(max_digits=24, decimal_places=2)
    return (
        Member.objects.filter(
            kind=MemberKind.INDIVIDUAL,
            status__in=(MemberStatus.ACTIVE, MemberStatus.SUSPENDED),
            birth_year__isnull=False,
            birth_year__lte=today.year - ADULT_BY_YEAR,
        )
        .order_by()
        .annotate(
            region=Subquery(latest_region),  # None without one: read as "" below
            trades=Coalesce(Subquery(trades, output_field=IntegerField()), Value(0)),
            volume=Coalesce(Subquery(volume, output_field=money), Value(Decimal("0")), output_field=money),
        )
        .values_list("birth_year", "nationality", "region", "registered_at", "verification_level", "trades",
                     "volume")
    )


#: Local recoding, coarsest last: the quasi-identifiers replaced by ``*`` at each level.
GENERALISATION_LEVELS: tuple[tuple[str, ...], ...] = ((), ("region",), ("region", "age_band"))
GENERALISED = "*"


def k_anonymise(
    rows: list[dict], *, k: int, keys: Iterable[str] = QUASI_IDENTIFIERS,
    levels: tuple[tuple[str, ...], ...] = GENERALISATION_LEVELS,
) -> tuple[list[dict], int, int]:
    """Publish only rows whose quasi-identifier combination occurs at least ``k`` times.

    Rows of groups smaller than ``k`` are generalised level by level (``levels``: their values
    become ``*``) and regrouped among themselves; each level publishes only groups of ``k`` or
    more, so every combination in the result occurs at least ``k`` times. Returns (published rows,
    number suppressed, number published generalised).
    """
    keys = tuple(keys)
    published: list[dict] = []
    remaining = list(rows)
    generalised = 0
    for depth, hidden in enumerate(levels):
        if not remaining:
            break
        recoded = [{**row, **dict.fromkeys(hidden, GENERALISED)} for row in remaining]
        sizes = Counter(tuple(row[key] for key in keys) for row in recoded)
        kept = [row for row in recoded if sizes[tuple(row[key] for key in keys)] >= k]
        remaining = [row for row in recoded if sizes[tuple(row[key] for key in keys)] < k]
        published.extend(kept)
        if depth:
            generalised += len(kept)
    return published, len(remaining), generalised


def _random_keys(count: int) -> list[str]:
    keys: set[str] = set()
    while len(keys) < count:
        keys.add(secrets.token_hex(8))
    return list(keys)


def build_dataset(*, today: datetime.date | None = None, k: int | None = None) -> DeidentifiedDataset:
    today = today or timezone.localdate()
    k = settings.DEIDENTIFIED_EXPORT_K if k is None else k
    rows = []
    for birth_year, nationality, region, registered_at, level, trades, volume in export_queryset(today=today):
        rows.append({
            "age_band": age_band(birth_year=birth_year, today=today),
            "nationality": nationality or "",
            "region": region or "",
            "registered_month": timezone.localtime(registered_at).strftime("%Y-%m"),
            "verification_level": level,
            "transactions": int(trades or 0),
            "volume_usd": Decimal(volume or 0).quantize(Decimal("1"), rounding=ROUND_HALF_UP),
        })
    kept, suppressed, generalised = k_anonymise(rows, k=k)
    # Row order would otherwise follow the member table (registration order): shuffle it away.
    secrets.SystemRandom().shuffle(kept)
    for row, key in zip(kept, _random_keys(len(kept)), strict=True):
        row["record_key"] = key
    return DeidentifiedDataset(rows=kept, selected=len(rows), suppressed=suppressed, generalised=generalised, k=k)


def default_export_path(*, now: datetime.datetime | None = None) -> Path:
    now = now or timezone.now()
    name = f"deidentified-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(4)}.csv"
    return Path(settings.MEDIA_ROOT) / EXPORT_DIR / name


def write_csv(dataset: DeidentifiedDataset, path: Path) -> Path:
    """Write atomically (temporary file, then rename); every text cell formula-escaped.

    UTF-8 with a BOM, like every other CSV export (issue 16): Excel then reads a Chinese region or
    nationality as UTF-8 instead of the office's ANSI code page.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with open(tmp, "w", newline="", encoding=DEFAULT_EXPORT_ENCODING) as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in dataset.rows:
            writer.writerow([escape_formula(row[column]) for column in COLUMNS])
    os.replace(tmp, path)
    return path
