"""Erasure records outside the database (PP-02): a restore must never resurrect an erased member.

A backup restored in place of the live database lacks the erasure records written after the backup
was taken. These records hold no personal data (a keyed hash of the member number, trigger, counts,
times), so they can be copied anywhere: ``export_records`` writes them as JSON lines,
``import_records`` adds the ones a database lacks. ``reapply_erasures`` then erases again every
member they match. The scheduled job ``copy_erasure_records`` writes a copy to
``ERASURE_RECORDS_COPY_DIR`` every day, so a database lost outright does not take its newest
records with it.
"""

from __future__ import annotations

import datetime
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from retention.choices import ErasureTrigger
from retention.models import ErasureRecord

FIELDS = ("subject_hash", "trigger", "counts", "started_at", "finished_at", "engine_version", "request_reference")
HASH = re.compile(r"^[0-9a-f]{64}$")
BATCH = 2000


def export_records(path: Path, *, progress=None) -> int:
    """Write every erasure record to ``path`` as JSON lines (atomically: a temporary file, then renamed)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".partial")
    written = 0
    with temporary.open("w", encoding="utf-8") as out:
        rows = ErasureRecord.objects.order_by("pk").values_list(*FIELDS)
        for row in rows.iterator(chunk_size=BATCH):
            record = dict(zip(FIELDS, row, strict=True))
            record["started_at"] = record["started_at"].isoformat()
            record["finished_at"] = record["finished_at"].isoformat()
            out.write(json.dumps(record, sort_keys=True) + "\n")
            written += 1
            if progress is not None:
                progress(1)
        out.flush()
        os.fsync(out.fileno())
    temporary.replace(path)
    return written


@dataclass
class ImportResult:
    read: int
    added: int


def _record(line_number: int, text: str) -> ErasureRecord:
    where = f"line {line_number}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(gettext("%(where)s: not JSON (%(msg)s).") % {"where": where, "msg": exc.msg}) from exc
    if not isinstance(data, dict):
        raise ValidationError(gettext(
            "%(where)s: expected an object with %(value)s."
        ) % {"where": where, "value": ', '.join(FIELDS)})
    unknown = set(data) - set(FIELDS)
    missing = {"subject_hash", "trigger", "started_at", "finished_at"} - set(data)
    if unknown or missing:
        parts = [gettext("unknown field(s) %(fields)s") % {"fields": ", ".join(sorted(unknown))} if unknown else "",
                 gettext("missing field(s) %(fields)s") % {"fields": ", ".join(sorted(missing))} if missing else ""]
        raise ValidationError(f"{where}: {'; '.join(p for p in parts if p)}.")
    if not isinstance(data["subject_hash"], str) or not HASH.match(data["subject_hash"]):
        raise ValidationError(gettext(
            "%(where)s, subject_hash: expected 64 lowercase hex characters."
        ) % {"where": where})
    if data["trigger"] not in ErasureTrigger.values:
        allowed = ", ".join(ErasureTrigger.values)
        raise ValidationError(gettext(
            "%(where)s, trigger: %(data)s is not one of %(allowed)s."
        ) % {"where": where, "data": f"{data['trigger']!r}", "allowed": allowed})
    times = {}
    for name in ("started_at", "finished_at"):
        value = parse_datetime(data[name]) if isinstance(data[name], str) else None
        if value is None or timezone.is_naive(value):
            raise ValidationError(gettext(
                "%(where)s, %(name)s: expected an ISO date-time with a UTC offset."
            ) % {"where": where, "name": name})
        times[name] = value
    counts = data.get("counts", {})
    if not isinstance(counts, dict):
        raise ValidationError(gettext("%(where)s, counts: expected an object of rows per model.") % {"where": where})
    return ErasureRecord(
        subject_hash=data["subject_hash"], trigger=data["trigger"], counts=counts, **times,
        engine_version=str(data.get("engine_version", ""))[:20],
        request_reference=str(data.get("request_reference", ""))[:40],
    )


def parse_lines(lines: Iterable[str]) -> list[ErasureRecord]:
    """Every record of the file, or a ``ValidationError`` naming the first bad line (nothing is read half)."""
    records = []
    for number, text in enumerate(lines, start=1):
        if text.strip():
            records.append(_record(number, text))
    return records


def import_records(path: Path, *, dry_run: bool = False, progress=None) -> ImportResult:
    """Add the records of ``path`` that this database lacks: all or nothing, idempotent."""
    with Path(path).open(encoding="utf-8") as source:
        records = parse_lines(source)
    hashes = [r.subject_hash for r in records]
    with transaction.atomic():
        present = set()
        for start in range(0, len(hashes), BATCH):
            present |= set(ErasureRecord.objects.filter(subject_hash__in=hashes[start:start + BATCH])
                           .values_list("subject_hash", flat=True))
        new = {r.subject_hash: r for r in records if r.subject_hash not in present}  # the file's duplicates once
        if not dry_run:
            for start in range(0, len(new), BATCH):
                chunk = list(new.values())[start:start + BATCH]
                ErasureRecord.objects.bulk_create(chunk, ignore_conflicts=True)
                if progress is not None:
                    progress(len(chunk))
    return ImportResult(read=len(records), added=len(new))


def copy_to_directory(directory: Path, *, now: datetime.datetime | None = None, keep: int = 30) -> tuple[Path, int]:
    """The daily copy: ``erasure-records-YYYYMMDD.jsonl`` in ``directory``; the newest ``keep`` are kept."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    day = timezone.localdate(now or timezone.now())
    path = directory / f"erasure-records-{day:%Y%m%d}.jsonl"
    written = export_records(path)
    copies = sorted(directory.glob("erasure-records-*.jsonl"))
    for old in copies[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return path, written
