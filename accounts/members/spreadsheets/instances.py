"""New model instances filled from the rows of a streamed import, without Django's per-row layers (issue 15).

The fast path (``accounts.members.spreadsheets.streaming``) makes one instance per row and sets a
value per column. ``Model()`` and a foreign key's descriptor each check things that cannot differ
between rows; here they are checked once per import:

- ``instance_factory(model)``: ``Model()`` is, for a model without database defaults or mutable
  default values, that no ``pre_init``/``post_init`` receiver listens to, a fresh ``ModelState``,
  the constant defaults copied in and the callable ones called; any other model keeps ``Model()``;
- ``column_setters(model, columns)``: per column, what ``Field.save`` does for it: a foreign key
  (the widget returns a stored object of its model, or None) sets its id and its cache as the
  descriptor's ``__set__`` does; any other field is a ``setattr``;
- ``set_related``: the same for a foreign key that a record check fills in.

``tests/accounts/test_import_instances.py`` compares both with what Django's own steps make.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable

from django.core.exceptions import FieldDoesNotExist
from django.db import models, router
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields import NOT_PROVIDED

#: Default values that instances may share (immutable).
_CONSTANT_TYPES = (type(None), str, int, bool, decimal.Decimal)


def instance_factory(model: type[models.Model]) -> Callable[[], models.Model]:
    """A function making what ``model()`` makes (see the module docstring), or ``model`` itself."""
    if signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model):
        return model
    constants, computed = {}, []
    for field in model._meta.concrete_fields:
        if field.db_default is not NOT_PROVIDED:
            return model
        if callable(field.default):
            computed.append(field)  # e.g. ``timezone.now``: called per instance, as ``Model()`` does
            continue
        value = field.get_default()
        if not isinstance(value, _CONSTANT_TYPES):
            return model
        constants[field.attname] = value
    new = model.__new__

    def make() -> models.Model:
        instance = new(model)
        instance._state = ModelState()
        values = instance.__dict__
        values.update(constants)
        for field in computed:
            values[field.attname] = field.get_default()
        return instance

    return make


def set_related(instance: models.Model, field: models.ForeignKey, obj: models.Model | None,
                db: str | None = None) -> None:
    """``instance.<field> = obj`` for a plain foreign key and a stored ``obj`` of its model (or None).

    ``db``: the database the router chose for the instance's model, when the caller asked it once for many.
    """
    if obj is not None and instance._state.db is None:
        # As the descriptor does.
        instance._state.db = db or router.db_for_write(type(instance), instance=obj)
    instance.__dict__[field.attname] = None if obj is None else getattr(obj, field.target_field.attname)
    instance._state.fields_cache[field.name] = obj


def column_setters(model: type[models.Model], attributes: list[str]) -> list[Callable[[models.Model, object], None]]:
    """Per attribute, a function ``(instance, value)`` that sets it as ``setattr`` would."""
    setters = []
    for attribute in attributes:
        try:
            field = model._meta.get_field(attribute)
        except FieldDoesNotExist:  # a property, or an attribute of the resource's own
            field = None
        if (isinstance(field, models.ForeignKey) and type(field) is models.ForeignKey
                and not field.remote_field.parent_link and field.target_field.attname == field.target_field.name):
            setters.append(lambda instance, value, field=field: set_related(instance, field, value))
        else:
            setters.append(lambda instance, value, attribute=attribute: setattr(instance, attribute, value))
    return setters
