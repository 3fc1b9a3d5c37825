"""Reading one member's rows for the access package (PP-29): one streamed query per data-map model.

One ``values()`` query per data-map model, streamed with ``.iterator(chunk_size=CHUNK_SIZE)``, plus
one per exported foreign key or many-to-many field (the related objects' labels): the number of
queries depends on the data map, never on how many rows the member has, and no more than a chunk of
rows is in memory at once. Sensitive values appear decrypted: this is the member's own copy.
"""

from __future__ import annotations

import datetime
import decimal
import json
from collections.abc import Iterator

from django.db import models
from django.utils import timezone

from accounts.members.spreadsheets.cells import escape_formula
from requests_desk.access_package.plan import ExportSource, export_plan

#: Rows fetched per round trip while streaming a model's rows (and between progress reports).
CHUNK_SIZE = 2000
#: What a file field shows in the package: the file is listed, not included.
FILE_PLACEHOLDER = "File held (encrypted); not included in this package"


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


def csv_value(value):
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


def source_counts(member_pk: int) -> int:
    """How many rows the package will hold (one ``COUNT`` per data-map model): the progress's total."""
    return sum(source.queryset(member_pk).count() for source in export_plan())

