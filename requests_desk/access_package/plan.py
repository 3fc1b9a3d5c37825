"""The plan of an access package (PP-29): what the data map says to export, model by model.

Generated from the data map (``accounts.privacy.datamap``, design decision 1), never from a hand-kept
list: every model about members (``models_about_members()``) is read through its ``subject`` path to
the member, and every field declared personal and ``exported=True`` is written under its export
label. Fields declared not exported (blind indexes, links, Message-IDs) never appear.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from accounts.privacy.datamap import Category, Personal, declaration, member_lookup, models_about_members


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

