"""The access package (PP-29): a copy of everything the back office keeps about one member.

Generated from the data map (``accounts.privacy.datamap``, design decision 1), never from a hand-kept list:
every model about members (``models_about_members()``: accounts, consents, the request desk, …) is
read through its ``subject`` path to the member, and every field declared personal and
``exported=True`` is written under its export label. Fields declared not exported (blind indexes,
links, Message-IDs) never appear. Sensitive values appear decrypted: this is the member's own copy.

The ZIP holds, per data category (identity, contact, transaction, …), one JSON and one CSV file,
plus a ``README.txt``. Files (document scans, attachments) are listed, not included.

**Queries.** One ``values()`` query per data-map model, streamed with ``.iterator(chunk_size=…)``,
plus one per exported foreign key or many-to-many field (the related objects' labels): the number
of queries depends on the data map, never on how many rows the member has. Rows are written to
temporary files as they arrive, so a member with 10k transactions never has 10k model instances
(or 10k dicts) in memory at once.

**Storage.** The ZIP is stored through ``protected_storage`` (encrypted at rest, PP-26) on an
``AccessPackage`` row that keeps only the SHA-256 of its random link token. The data map declares
that row about the member and its file ``DELETE_FILE``, so the erasure engine removes both.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import hashlib
import io
import json
import secrets
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.core.files.base import ContentFile
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.members.spreadsheets.cells import escape_formula
from accounts.models import Member
from accounts.privacy.datamap import Category, Personal, declaration, member_lookup, models_about_members
from accounts.privacy.storage import protected_storage
from consents.grounds.selectors import ground_records_for
from requests_desk.choices import PackageStatus, RequestType
from requests_desk.models import AccessPackage, PackageDownload, Request
from requests_desk.permissions import DECIDE
from requests_desk.states import Status

#: Rows fetched per round trip while streaming a model's rows.
CHUNK_SIZE = 2000
#: What a file field shows in the package: the file is listed, not included.
FILE_PLACEHOLDER = "File held (encrypted); not included in this package"
#: Context columns the package adds to every record (they are not data-map fields).
RECORD_TYPE = "Record type"
RECORD_ID = "Record id"
BUILDABLE_STATES = frozenset({Status.IN_PROGRESS, Status.AWAITING_APPROVAL, Status.FULFILLED})


# --- The plan: what the data map says to export -------------------------------------------------------
@dataclass(frozen=True)
class ExportField:
    name: str
    personal: Personal
    field: models.Field

    @property
    def label(self) -> str:
        return self.personal.label

    @property
    def category(self) -> str:
        return str(self.personal.category)


@dataclass(frozen=True)
class ExportSource:
    """One data-map model: how to reach the member, and which fields go into the package."""

    model: type[models.Model]
    lookup: str  # ORM lookup from the model to the member's primary key
    fields: tuple[ExportField, ...]

    @property
    def record_type(self) -> str:
        return str(self.model._meta.verbose_name).capitalize()

    def queryset(self, member_pk: int) -> models.QuerySet:
        return self.model._base_manager.filter(**{self.lookup: member_pk})


@cache
def export_plan() -> tuple[ExportSource, ...]:
    """Every model about members with its exported personal fields, in registry order (cached)."""
    sources = []
    for model in models_about_members():
        dm = declaration(model)
        fields = tuple(
            ExportField(name=name, personal=personal, field=model._meta.get_field(name))
            for name, personal in dm.personal.items()
            if personal.exported
        )
        if not fields:
            continue
        seen: set[tuple[str, str]] = set()
        for f in fields:
            key = (f.category, f.label)
            if key in seen:
                raise ImproperlyConfigured(
                    f"{model._meta.label}: two exported fields share the label {f.label!r} in one category."
                )
            seen.add(key)
        sources.append(ExportSource(model=model, lookup=member_lookup(model, dm.subject), fields=fields))
    return tuple(sources)


def category_columns() -> dict[str, list[str]]:
    """Per category, the export labels in data-map order (the CSV header after the two context columns)."""
    columns: dict[str, list[str]] = {}
    for source in export_plan():
        for f in source.fields:
            labels = columns.setdefault(f.category, [])
            if f.label not in labels:
                labels.append(f.label)
    return {c: columns[c] for c in Category.values if c in columns}


# --- Values -----------------------------------------------------------------------------------------
def _json_value(value, tz=None):
    """A value as JSON: dates ISO 8601 (in ``tz``), decimals as text (no float rounding), the rest as is."""
    if isinstance(value, datetime.datetime):
        if timezone.is_aware(value):
            value = value.astimezone(tz or timezone.get_current_timezone())
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def _csv_value(value):
    """A value for a CSV cell; text is formula-escaped (design decision 8), numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return escape_formula(json.dumps(value, ensure_ascii=False, sort_keys=True))
    if isinstance(value, int | decimal.Decimal):
        return value
    return escape_formula(str(value))


class _Converter:
    """Turns one ``values()`` row of a source into {label: JSON value}; related labels read lazily."""

    def __init__(self, source: ExportSource, member_pk: int):
        self.source = source
        self.member_pk = member_pk
        self._related: dict[str, dict] | None = None
        self._tz = timezone.get_current_timezone()  # read once: a lookup per value costs more than the value
        # Per field, decided once: (label, key in the row, kind, choice labels). The row loop then does
        # no attribute lookups or isinstance checks on fields (10k transactions x 6 fields).
        self._steps = []
        for f in source.fields:
            model_field = f.field
            if model_field.many_to_many:
                kind, key = "m2m", f.name
            elif model_field.is_relation:
                kind, key = "fk", model_field.attname
            elif isinstance(model_field, models.FileField):
                kind, key = "file", f.name
            elif getattr(model_field, "choices", None):
                kind, key = "choice", f.name
            else:
                kind, key = "plain", f.name
            choices = {k: str(v) for k, v in model_field.flatchoices} if kind == "choice" else None
            self._steps.append((f.label, f.name, key, kind, choices))

    def _load_related(self) -> dict[str, dict]:
        """One query per exported foreign key and two per many-to-many field, for all the member's rows."""
        related: dict[str, dict] = {}
        rows = self.source.queryset(self.member_pk)
        for f in self.source.fields:
            model_field = f.field
            if model_field.many_to_many:
                through = model_field.remote_field.through
                own = model_field.m2m_field_name()
                other = model_field.m2m_reverse_field_name()
                links = list(
                    through._base_manager.filter(**{f"{own}__in": rows.values("pk")})
                    .order_by(f"{other}_id")
                    .values_list(f"{own}_id", f"{other}_id")
                )
                names = {
                    obj.pk: str(obj)
                    for obj in model_field.related_model._base_manager.filter(pk__in={t for _o, t in links})
                }
                grouped: dict[int, list[str]] = {}
                for owner, target in links:
                    grouped.setdefault(owner, []).append(names.get(target, str(target)))
                related[f.name] = grouped
            elif model_field.is_relation:
                targets = model_field.related_model._base_manager.filter(pk__in=rows.values(model_field.attname))
                related[f.name] = {obj.pk: str(obj) for obj in targets}
        return related

    @property
    def related(self) -> dict[str, dict]:
        if self._related is None:
            self._related = self._load_related()
        return self._related

    def convert(self, row: dict) -> dict[str, object]:
        out: dict[str, object] = {}
        tz = self._tz
        for label, name, key, kind, choices in self._steps:
            if kind == "plain":
                value = row[key]
            elif kind == "choice":
                value = row[key]
                if value not in (None, ""):
                    value = choices.get(value, value)
            elif kind == "fk":
                raw = row[key]
                value = None if raw is None else self.related[name].get(raw, str(raw))
            elif kind == "m2m":
                value = sorted(self.related[name].get(row["pk"], []))
            else:  # a file: listed, not included
                value = FILE_PLACEHOLDER if row[key] else ""
            out[label] = _json_value(value, tz)
        return out


def iter_records(source: ExportSource, member_pk: int) -> Iterator[tuple[int, dict[str, object]]]:
    """(primary key, {label: value}) for each of the member's rows of ``source``: one streamed query."""
    converter = _Converter(source, member_pk)
    columns = ["pk"] + [
        f.field.attname if f.field.is_relation and not f.field.many_to_many else f.name
        for f in source.fields
        if not f.field.many_to_many
    ]
    rows = source.queryset(member_pk).values(*columns)
    for row in rows.iterator(chunk_size=CHUNK_SIZE):
        yield row["pk"], converter.convert(row)


# --- Writing the files ------------------------------------------------------------------------------
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
                           *(_csv_value(values[label]) if label in values else "" for label in self.labels)])
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


def source_counts(member_pk: int) -> int:
    """How many rows the package will hold (one ``COUNT`` per data-map model): the progress's total."""
    return sum(source.queryset(member_pk).count() for source in export_plan())


def package_write(*, member: Member, reference: str, out, expires_at=None, generated_at=None,
                  on_rows=None) -> PackageContent:
    """Write the ZIP for ``member`` into the binary file ``out`` from streamed, per-category temporary files.

    ``on_rows(n)`` is called after every ``CHUNK_SIZE`` rows read (and once at the end) with the
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
            for pk, values in iter_records(source, member.pk):
                n += 1
                for category, labels in by_category.items():
                    writers[category].add(record_type, pk, {label: values[label] for label in labels})
                if on_rows is not None and (done + n) % CHUNK_SIZE == 0:
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
                with archive.open(f"{category}.json", "w") as handle:
                    _copy_text(writer.json_file, handle)
                with archive.open(f"{category}.csv", "w") as handle:
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


# --- The service ------------------------------------------------------------------------------------
def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def package_link(token: str) -> str:
    """The download link sent to the requester: ``PUBLIC_BASE_URL`` (if set) + ``/packages/<token>/``."""
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return base + reverse("packages:download", kwargs={"token": token})


@dataclass(frozen=True)
class BuiltPackage:
    package: AccessPackage
    token: str  # shown once (in the letter); only its hash is stored

    @property
    def link(self) -> str:
        return package_link(self.token)


def package_check(*, request: Request, user) -> None:
    """What a package needs: the decide permission, an access request about an identified member in a
    buildable state, and a recorded identity verification (PP-30)."""
    if user is not None and not user.has_perm(DECIDE):
        raise PermissionDenied(_("Your role may not generate access packages."))
    if request.type != RequestType.ACCESS:
        raise ValidationError(_("Only an access request yields an access package."))
    if request.member_id is None:
        raise ValidationError({"member": _("Identify the member first: the package is that member's data.")})
    if request.status not in BUILDABLE_STATES:
        raise ValidationError(_("Cannot build a package: request %(reference)s is %(status)s.") % {
            "reference": request.reference, "status": request.get_status_display().lower()})
    if not request.identity_checks.exists():
        raise ValidationError(_("The requester's identity has not been verified: record a verification first (PP-30)."))


def access_package_build(*, request: Request, user) -> BuiltPackage:
    """Generate, encrypt and store the access package of ``request``'s member (PP-29).

    Needs the decide permission (compliance), an access request about an identified member, a
    recorded identity verification (PP-30), and the request in progress, awaiting approval or
    fulfilled. Returns the package and its link token; the token is not stored (only its SHA-256),
    so this is the one moment it can be sent. The file is removed again if the row is not saved.
    """
    package_check(request=request, user=user)
    member = Member.objects.get(pk=request.member_id)
    now = timezone.now()
    expires_at = now + datetime.timedelta(hours=settings.ACCESS_PACKAGE_LINK_HOURS)
    content = package_content(member=member, reference=request.reference, expires_at=expires_at, generated_at=now)
    token = secrets.token_urlsafe(32)
    package = AccessPackage(request=request, member=member, status=PackageStatus.READY,
                            token_hash=token_hash(token), created_at=now,
                            expires_at=expires_at, row_counts=content.row_counts)
    package.file.save("package.zip", ContentFile(content.data), save=False)  # encrypted by the storage
    try:
        package.save()
    except BaseException:
        # No row points at the file: remove it now. (A caller whose own transaction rolls back later
        # removes it with ``package_file_discard``, see ``requests_desk.fulfilment.access``.)
        package_file_discard(package)
        raise
    return BuiltPackage(package=package, token=token)


def package_file_discard(package: AccessPackage) -> None:
    """Delete the encrypted file of a package whose row was rolled back (no row may point at it)."""
    if package.file.name:
        protected_storage.delete(package.file.name)


def package_for_token(token: str, *, now: datetime.datetime | None = None) -> AccessPackage | None:
    """The unexpired package whose link token is ``token``; None for unknown or expired links."""
    if not token or len(token) > 200:
        return None
    now = now or timezone.now()
    return (
        AccessPackage.objects.select_related("request")
        .filter(token_hash=token_hash(token), expires_at__gt=now, status=PackageStatus.READY)
        .first()
    )


def package_open(package: AccessPackage) -> bytes:
    """The decrypted ZIP (the protected storage decrypts on read)."""
    with protected_storage.open(package.file.name, "rb") as handle:
        return handle.read()


def package_download_record(*, package: AccessPackage, ip_address: str | None, user_agent: str, staff_user=None):
    """Log one download: when, from which IP address and browser, and the staff user if one was logged in."""
    return PackageDownload.objects.create(
        package=package, ip_address=ip_address or None, user_agent=(user_agent or "")[:300], staff_user=staff_user,
    )


def iter_package_chunks(data: bytes, size: int = 1 << 16) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(view), size):
        yield bytes(view[start : start + size])


__all__ = [
    "BuiltPackage", "ExportSource", "access_package_build", "category_columns", "export_plan", "iter_records",
    "package_content", "package_file_discard", "package_for_token", "package_link", "package_open", "token_hash",
]
