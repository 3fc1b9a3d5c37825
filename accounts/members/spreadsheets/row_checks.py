"""The model's own field rules for one imported row, compiled once per model (issue 15, requirement 2).

``Model.full_clean`` is the import's single most expensive step per row: for every field of the
model it looks the field up, calls ``Field.clean`` (``to_python``, ``validate``, each validator),
and builds the error dictionary, whether or not the value could be wrong. ``model_field_errors``
gives the same answer as ``instance.full_clean(exclude=..., validate_unique=False,
validate_constraints=False)`` with a cheaper first look at each value:

- a value of the exact type the field's ``to_python`` returns unchanged (text, date, date-time,
  decimal), not empty where the field refuses blanks, among the choices, passing the field's
  validators (a length and a NUL check inlined, any other validator called as it is) is valid, as
  ``Field.clean`` would find, and is kept as it is (``to_python`` returns it unchanged);
- any other value, and any field whose class changes ``to_python``, ``validate`` or
  ``run_validators``, goes through Django's own ``Field.clean``: so every problem found, its field
  and its message, is Django's (tests/accounts/test_import_row_checks.py compares both, column by
  column, over bad values).

A model with its own ``clean()`` runs it too, as ``full_clean`` does.
"""

from __future__ import annotations

import datetime
import decimal
from functools import lru_cache

from django.core import validators as django_validators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import DatabaseDefault

from accounts.privacy.fields import EncryptedDateField, EncryptedDecimalField

#: Field classes whose ``to_python`` returns a value of this exact type unchanged.
_KEPT_TYPES = {
    models.CharField.to_python: str,
    models.TextField.to_python: str,
    models.DateTimeField.to_python: datetime.datetime,
    EncryptedDateField.to_python: datetime.date,
    EncryptedDecimalField.to_python: decimal.Decimal,
}


def _fast_check(field):
    """A conservative test of one value (True: valid and kept as it is), or None to always use ``Field.clean``."""
    kind = _KEPT_TYPES.get(type(field).to_python)
    if (kind is None or type(field).validate is not models.Field.validate
            or type(field).run_validators is not models.Field.run_validators):
        return None
    choices = None
    if field.choices is not None and field.editable:
        choices = frozenset(key for key, _label in field.flatchoices)
    empty = field.empty_values
    max_length = None
    others = []
    for validator in field.validators:
        if type(validator) is django_validators.MaxLengthValidator and isinstance(validator.limit_value, int):
            max_length = validator.limit_value if max_length is None else min(max_length, validator.limit_value)
        elif type(validator) is django_validators.ProhibitNullCharactersValidator:
            others.append(_no_nul)
        else:
            others.append(validator)

    def check(value) -> bool:
        if type(value) is not kind:
            return False
        if value in empty:
            return False  # reached only for a field that refuses blanks: Django says why
        if choices is not None and value not in choices:
            return False
        if max_length is not None and len(value) > max_length:
            return False
        try:
            for validator in others:
                validator(value)
        except ValidationError:
            return False
        return True

    return check


def _no_nul(value) -> None:
    if "\x00" in str(value):
        raise ValidationError("")


@lru_cache(maxsize=32)
def _compiled(model: type[models.Model]) -> tuple:
    return tuple((field, _fast_check(field)) for field in model._meta.fields if not field.generated)


def field_checks(model: type[models.Model]) -> dict:
    """Per field name, the compiled first look at a value (True: valid and kept as it is), or None (``Field.clean``)."""
    return {field.name: check for field, check in _compiled(model)}


def model_field_errors(instance: models.Model, exclude: set[str]) -> dict[str, list]:
    """``full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)``'s errors, by field name.

    Cleaned values are set on ``instance`` as ``clean_fields`` sets them. Returns ``{}`` when valid.
    """
    errors: dict[str, list] = {}
    values = instance.__dict__
    for field, check in _compiled(type(instance)):
        if field.name in exclude:
            continue
        raw_value = values[field.attname] if field.attname in values else getattr(instance, field.attname)
        if field.blank and raw_value in field.empty_values:
            continue
        if isinstance(raw_value, DatabaseDefault) or (check is not None and check(raw_value)):
            continue
        try:
            setattr(instance, field.attname, field.clean(raw_value, instance))
        except ValidationError as exc:
            errors[field.name] = exc.error_list
    if type(instance).clean is not models.Model.clean:
        try:
            instance.clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
    return errors


class NotColumnar(Exception):
    """A column plan cannot vouch for any row of this file: the driver leaves it to the row-by-row path."""


def column_rules(model, names, position) -> tuple[dict, dict]:
    """The compiled rule of each column a column plan reads, and the default of each one the file lacks.

    A callable default stays callable (called per row, as ``Model()`` does). Raises ``NotColumnar``
    when a column has no compiled rule, or when its default fails it (every row would need the
    general path: the plan leaves the whole file to it).
    """
    checks = field_checks(model)
    rules, defaults = {}, {}
    for name in names:
        check = checks.get(name)
        if check is None:
            raise NotColumnar(name)
        rules[name] = check
        if name not in position:
            field = model._meta.get_field(name)
            default = field.default if field.has_default() and callable(field.default) else field.get_default()
            sample = default() if callable(default) else default
            if not ((field.blank and sample in field.empty_values) or check(sample)):
                raise NotColumnar(name)
            defaults[name] = default
    return rules, defaults
