"""Generic instances of any model, filled with canary values (for PII-leak and encryption proofs).

A canary is a value unlikely to occur anywhere else, so finding it in a ``str()`` or in a raw table
proves a leak. Each field gets its own canary so a failure names the field.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from itertools import count

from django.apps import apps
from django.db import models
from django.utils import timezone

from tests import factories

PROJECT_APPS = ("accounts", "consents", "requests_desk", "retention")
_serial = count(1)


def project_models(*, historical: bool = True) -> list[type[models.Model]]:
    found = []
    for label in PROJECT_APPS:
        for model in apps.get_app_config(label).get_models():
            if model._meta.proxy or model._meta.abstract:
                continue
            if not historical and is_historical(model):
                continue
            found.append(model)
    return found


def is_historical(model) -> bool:
    return hasattr(model, "instance_type") and model.__name__.startswith("Historical")


def is_text(field) -> bool:
    return isinstance(field, models.CharField | models.TextField) and not field.choices


def canary_date(n: int) -> datetime.date:
    # Dates no factory uses: 1901-1930, day and month spread so every field's date differs.
    return datetime.date(1901 + n % 30, 1 + n % 12, 1 + n % 28)


def date_strings(day: datetime.date) -> list[str]:
    """How a date may show up in a table or a string if it leaked."""
    return [day.isoformat(), day.strftime("%Y%m%d"), day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y")]


def canary_for(field, model) -> tuple[object, list[str]]:
    """A canary value for ``field`` and the strings that would betray it."""
    n = next(_serial)
    if getattr(field, "encrypted", False) and "Date" in type(field).__name__:
        day = canary_date(n)
        return day, date_strings(day)
    if getattr(field, "encrypted", False) and getattr(field, "is_number", False):
        number = decimal.Decimal(f"{7_300_000 + n}.{n % 89 + 10}")  # an encrypted amount or quantity
        return number, [str(number)]
    tag = f"zq{n:04d}{model.__name__.lower()[:6]}{field.name.replace('_', '')[:6]}x"
    if isinstance(field, models.EmailField) or field.name.endswith("email"):
        value = f"{tag}@canary.example"
        return value, [tag]
    return tag, [tag]


def plain_value(field):
    """A valid, non-canary value for a required field."""
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return False
    if isinstance(field, models.DateTimeField):
        return timezone.now()
    if isinstance(field, models.DateField):
        return datetime.date(2024, 1, 2)
    if isinstance(field, models.DecimalField):
        return decimal.Decimal("1")
    if isinstance(field, models.IntegerField | models.FloatField):
        return 1
    if isinstance(field, models.GenericIPAddressField):
        return "192.0.2.1"
    if isinstance(field, models.UUIDField):
        return uuid.uuid4()
    if isinstance(field, models.JSONField):
        return {}
    if isinstance(field, models.DurationField):
        return datetime.timedelta(days=1)
    if isinstance(field, models.FileField):
        return ""
    if getattr(field, "encrypted", False) and "Date" in type(field).__name__:
        return datetime.date(2024, 1, 2)
    if isinstance(field, models.CharField | models.TextField):
        return f"v{next(_serial)}"[: field.max_length or 50]
    return None


def factory_for(model):
    return getattr(factories, f"{model.__name__}Factory", None)


def saved(model):
    """A saved instance of ``model``: its factory if there is one, else a generic one."""
    factory = factory_for(model)
    if factory is not None:
        return factory()
    obj = build(model, canaries=False, related=saved)
    obj.save()
    return obj


MAX_DEPTH = 2


def build(model, *, canaries: bool, related=None, pk=None, depth: int = 0) -> models.Model:
    """An unsaved instance; with ``canaries`` every free-text and encrypted field holds a canary.

    ``obj._canaries`` maps field name to the strings that would betray that field's canary.
    ``related(model)`` supplies foreign-key targets (default: built, unsaved, with canaries, and
    optional ones only ``MAX_DEPTH`` links deep).
    """
    related = related or (lambda target: build(target, canaries=canaries, pk=next(_serial), depth=depth + 1))
    obj = model()
    obj._canaries = {}
    for field in model._meta.concrete_fields:
        if field.primary_key and pk is None:
            continue
        if field.primary_key:
            setattr(obj, field.attname, pk)
            continue
        if field.is_relation:
            if field.null and (not canaries or depth >= MAX_DEPTH):
                continue  # optional links: followed a little way (self-references would never end)
            target = field.related_model
            setattr(obj, field.name, related(target))
            continue
        if canaries and (is_text(field) or getattr(field, "encrypted", False)):
            value, strings = canary_for(field, model)
            setattr(obj, field.attname, value)
            obj._canaries[field.name] = strings
            continue
        if field.has_default() or field.null:
            continue
        value = plain_value(field)
        if value is not None:
            setattr(obj, field.attname, value)
    return obj
