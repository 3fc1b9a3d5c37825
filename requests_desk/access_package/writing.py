"""Writing the access package's ZIP (PP-29): per category one JSON and one CSV file, and a README.

Records arrive streamed (``records.iter_records``) and are written to per-category temporary files
as they come, then copied into the ZIP entry by entry: memory holds a chunk of rows and a copy
buffer, never the package. The ZIP goes to a binary file (the worker's temporary file, which the
protected storage then encrypts a segment at a time). Files (document scans, attachments) are
listed, not included.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import tempfile
import zipfile
from contextlib import ExitStack
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from accounts.members.spreadsheets.cells import escape_formula
from accounts.models import Member
from accounts.privacy.datamap import Category
from consents.grounds.selectors import ground_records_for
from requests_desk.access_package import records
from requests_desk.access_package.plan import category_columns, export_plan

#: Context columns the package adds to every record (they are not data-map fields).
RECORD_TYPE = "Record type"
RECORD_ID = "Record id"
#: An entry this large needs ZIP64 sizes (the plain ZIP header stops at 4 GiB; zipfile asks at 2 GiB).
ZIP64_FROM = 1 << 30


class _CategoryWriter:
    """One category's JSON and CSV, written to temporary files as records arrive."""

    def __init__(self, category: str, labels: list[str], header: dict, *, files: ExitStack):
        self.category = category
        self.labels = labels
        self.count = 0
        # Closed (and removed) by the caller's ExitStack.
        self.json_file = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115
        self.csv_file = files.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", newline=""))  # noqa: SIM115
        self.csv = csv.writer(self.csv_file)
        self.csv.writerow([escape_formula(text) for text in (RECORD_TYPE, RECORD_ID, *labels)])
        head = json.dumps({**header, "category": category, "category_label": str(Category(category).label)},
                          ensure_ascii=False, indent=1)
        # Stream the records into the header object's "records" list.
        self.json_file.write(head[:-2] + ',\n "records": [')

    def add(self, record_type: str, pk: int, values: dict[str, object]) -> None:
        record = {"record_type": record_type, "record_id": pk, "fields": values}
        self.json_file.write(("\n  " if self.count == 0 else ",\n  ") + json.dumps(record, ensure_ascii=False))
        self.csv.writerow([escape_formula(record_type), pk,
                           *(records.csv_value(values[label]) if label in values else "" for label in self.labels)])
        self.count += 1

    def finish(self) -> None:
        self.json_file.write("\n ]\n}\n")


def _copy_text(source, handle) -> None:
    source.seek(0)
    for chunk in iter(lambda: source.read(1 << 16), ""):
        handle.write(chunk.encode("utf-8"))


@dataclass
class PackageContent:
    data: bytes
    row_counts: dict[str, int] = field(default_factory=dict)
    records_per_model: dict[str, int] = field(default_factory=dict)


#: The package's file of processing on legal grounds in force (PP-17), beside the category files.
GROUNDS_FILE = "processing-on-legal-grounds.json"


def grounds_in_force(member: Member, at: datetime.datetime) -> list[dict[str, object]]:
    """PP-17: what is processed without the member's consent, on which ground, since and until when.

    Records naming the member and records of a product line they use, in one query. The first
    are also in ``consent.json`` (the data map); a product line's records name no member and are
    shown only here.
    """
    return [
        {
            "Record id": r.pk,
            "Purpose": r.purpose.name,
            "Legal ground": f"{r.ground.section} ({r.ground.position}) {r.ground.wording}",
            "Reference": r.reference,
            "Applies to": "you" if r.member_id else f"every member of the product line {r.product_line.name}",
            "In force from": r.starts_on.isoformat(),
            "In force until": r.ends_on.isoformat() if r.ends_on else None,
        }
        for r in ground_records_for(member=member, at=at)
    ]


def readme_text(*, member: Member, reference: str, generated_at: datetime.datetime, expires_at, counts,
                grounds: list[dict[str, object]] | None = None) -> str:
    lines = [
        "Copy of your personal data (access request, PP-29)",
        "=" * 52,
        "",
        f"Member number:   {member.member_number}",
        f"Request:         {reference}",
        f"Generated at:    {timezone.localtime(generated_at).isoformat()}",
        f"Link expires at: {timezone.localtime(expires_at).isoformat()}" if expires_at else "Link: none",
        "",
        "This archive holds every piece of personal data our back office keeps about you, grouped by",
        "data category. Each category comes twice, with the same content:",
        "",
        "  <category>.json  machine-readable: one record per entry, fields named by their label;",
        "  <category>.csv   for spreadsheets: one row per entry, one column per field.",
        "",
        "Every record names its record type (e.g. 'Transaction record') and its record id. Values",
        "that we store encrypted (identity numbers, contact details, card numbers, your date of",
        "birth, message bodies) appear here in full: this is your own copy. Keep it safe.",
        "",
        "Uploaded files (identity-document scans, attachments) are listed, not included; ask us",
        "if you want a copy of a file. Dates and times are ISO 8601.",
        "",
        "In the CSV files a cell that starts with =, +, -, @, a tab or a carriage return is",
        "prefixed with ' so that spreadsheet programs do not run it as a formula.",
        "",
        "Categories and number of records:",
    ]
    lines.extend(f"  {category + '.json/.csv':<32} {counts[category]:>8}" for category in counts)
    lines += ["", "Processing without your consent on a legal ground (policy section I(V)3):"]
    if grounds:
        lines.append(f"  ({GROUNDS_FILE} lists them too)")
        for g in grounds:
            until = f" until {g['In force until']}" if g["In force until"] else ""
            lines.append(f"  - {g['Purpose']}: {g['Legal ground']}; reference: {g['Reference']}; applies to "
                         f"{g['Applies to']}; from {g['In force from']}{until}.")
    else:
        lines.append("  none in force.")
    lines += [
        "",
        f"Questions about this copy or your rights: {settings.OFFICIAL_REQUESTS_EMAIL}",
        f"Complaints: {settings.OFFICIAL_COMPLAINTS_EMAIL} (quote the request {reference}).",
        "",
    ]
    return "\n".join(lines)



def package_write(*, member: Member, reference: str, out, expires_at=None, generated_at=None,
                  on_rows=None) -> PackageContent:
    """Write the ZIP for ``member`` into the binary file ``out`` from streamed, per-category temporary files.

    ``on_rows(n)`` is called after every ``records.CHUNK_SIZE`` rows read (and once at the end) with the
    number read so far: the worker's progress. Memory stays bounded: rows, files and the ZIP stream.
    """
    generated_at = generated_at or timezone.now()
    header = {"member_number": member.member_number, "request": reference,
              "generated_at": timezone.localtime(generated_at).isoformat()}
    per_model: dict[str, int] = {}
    done = 0
    with ExitStack() as files:
        writers = {
            category: _CategoryWriter(category, labels, header, files=files)
            for category, labels in category_columns().items()
        }
        for source in export_plan():
            by_category: dict[str, list[str]] = {}
            for f in source.fields:
                by_category.setdefault(f.category, []).append(f.label)
            n = 0
            record_type = source.record_type  # a translated name: built once per model, not per row
            for pk, values in records.iter_records(source, member.pk):
                n += 1
                for category, labels in by_category.items():
                    writers[category].add(record_type, pk, {label: values[label] for label in labels})
                if on_rows is not None and (done + n) % records.CHUNK_SIZE == 0:
                    on_rows(done + n)
            done += n
            if n:
                per_model[source.model._meta.label] = n
        if on_rows is not None:
            on_rows(done)
        counts = {category: writer.count for category, writer in writers.items()}
        grounds = grounds_in_force(member, generated_at)
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", readme_text(member=member, reference=reference, generated_at=generated_at,
                                                       expires_at=expires_at, counts=counts, grounds=grounds))
            archive.writestr(GROUNDS_FILE, json.dumps({**header, "records": grounds}, ensure_ascii=False, indent=2))
            for category, writer in writers.items():
                writer.finish()
                with archive.open(f"{category}.json", "w", force_zip64=writer.json_file.tell() > ZIP64_FROM) as handle:
                    _copy_text(writer.json_file, handle)
                with archive.open(f"{category}.csv", "w", force_zip64=writer.csv_file.tell() > ZIP64_FROM) as handle:
                    handle.write("\ufeff".encode())  # BOM: spreadsheet programs then read UTF-8
                    _copy_text(writer.csv_file, handle)
    return PackageContent(data=b"", row_counts=counts, records_per_model=per_model)


def package_content(*, member: Member, reference: str, expires_at=None, generated_at=None) -> PackageContent:
    """Build the ZIP for ``member`` in memory (tests, the bench, the synchronous build)."""
    buffer = io.BytesIO()
    content = package_write(member=member, reference=reference, out=buffer, expires_at=expires_at,
                            generated_at=generated_at)
    content.data = buffer.getvalue()
    return content

