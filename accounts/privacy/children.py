"""Children's information (PP-01, PP-03): a member under 14 makes all their personal fields sensitive.

Which fields are sensitive is declared once, per field, in the data map. A record of a member who is
under 14 *today* is treated as if every personal field of it were sensitive too: the admin masks it
(list columns, change pages, history diffs), spreadsheet exports mask it unless the user may reveal,
and revealing it needs the permission, a reason and an access-log row, like any sensitive value.

The age comes from the member row already in memory (the encrypted date of birth is decrypted
there), never from a query per row: list pages select the member with the record.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.core.exceptions import FieldDoesNotExist

from accounts.privacy import datamap

#: PP-03: "child" means under 14 exactly.
CHILD_AGE_LIMIT = 14

#: Personal fields still shown on a child's record: the member number is the pseudonymous key that
#: names the record everywhere (page titles, ``__str__``, the access log), not a value about the child.
KEYS_SHOWN = ("member_number",)


def age_on(born: datetime.date, day: datetime.date) -> int:
    """Completed years between ``born`` and ``day``.

    Someone born on 29 February turns a year older on 1 March in common years (the day after
    28 February), which is how civil law counts it in the policy's jurisdiction.
    """
    had_birthday = (day.month, day.day) >= (born.month, born.day)
    return day.year - born.year - (0 if had_birthday else 1)


def _member_of(obj, subject: str):
    """Follow the data-map subject path in memory (relations already selected with the row)."""
    if subject in ("self", "history"):
        return obj if subject == "self" else None
    current = obj
    for part in subject.split("__"):
        current = getattr(current, part, None)
        if current is None:
            return None
    inner = datamap.declaration(type(current))
    if inner is not None and inner.subject and inner.subject != "self":
        return _member_of(current, inner.subject)
    return current


def subject_member(obj):
    """The member (or a history row of it) a record is about; None if it is about no member."""
    if obj is None:
        return None
    dm = datamap.declaration(type(obj))
    if dm is None or not dm.subject:
        return None
    return _member_of(obj, dm.subject)


def _is_child(person, today: datetime.date) -> bool:
    born = getattr(person, "date_of_birth", None)
    return isinstance(born, datetime.date) and age_on(born, today) < CHILD_AGE_LIMIT


def is_child_record(obj, today: datetime.date) -> bool:
    """Whether ``obj`` is about a person under 14 on ``today`` (no date of birth: not known to be).

    The person is the member the record is about, the record itself when it is a person with a date
    of birth (an institution's representative or owner, PP-07), or the related person a document
    belongs to when that row is already loaded with it (never a query per record).
    """
    if obj is None:
        return False
    if _is_child(subject_member(obj), today) or _is_child(obj, today):
        return True
    try:
        person = obj._meta.get_field("related_person")
    except FieldDoesNotExist:
        return False
    return person.is_cached(obj) and _is_child(obj.related_person, today)


def as_sensitive(personal: datamap.Personal) -> datamap.Personal:
    """A personal field of a child's record, treated as sensitive (hidden until revealed)."""
    if personal.sensitive:
        return personal
    return dataclasses.replace(personal, sensitive=True, mask=datamap.Mask.HIDDEN)


def child_maskable(model, name: str, personal: datamap.Personal) -> bool:
    """A personal field a child's record hides: values, not links to other records nor the key."""
    if name in KEYS_SHOWN:
        return False
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a declared name that is not a field: the data-map tests catch it
        return False
    return not field.is_relation


def sensitive_fields_of(obj, today: datetime.date) -> dict[str, datamap.Personal]:
    """The sensitive fields of this record: the declared ones, and every personal one of a child's."""
    model = type(obj)
    declared = datamap.sensitive_fields(model)
    if not is_child_record(obj, today):
        return declared
    return {**declared, **child_columns(model)}


def child_columns(model) -> dict[str, datamap.Personal]:
    """Personal, not otherwise sensitive fields a child's row hides (for list columns and exports)."""
    return {
        name: as_sensitive(personal)
        for name, personal in datamap.personal_fields(model).items()
        if not personal.sensitive and child_maskable(model, name, personal)
    }
