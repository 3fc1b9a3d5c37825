"""Model fields for protected values: encrypted at rest, looked up through a blind index.

Encrypted columns hold Fernet tokens (text). Python code sees plaintext; the database, its
backups and the simple-history tables (which copy these fields) see only ciphertext. Filtering
on an encrypted column is refused: use its blind index (``BlindIndexField``).
"""

from __future__ import annotations

import datetime
import decimal

from django import forms
from django.core import validators
from django.core.exceptions import FieldError, ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.privacy import crypto


class Ciphertext(str):
    """A value that is already a token: written as it is (key rotation, erasure, raw copies)."""


class EncryptedMixin:
    """Shared by the encrypted fields; subclasses convert between Python values and text."""

    encrypted = True

    def to_plain_text(self, value) -> str:
        return str(value)

    def from_plain_text(self, text: str):
        return text

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return self.from_plain_text(crypto.decrypt_str(value))

    def get_prep_value(self, value):
        if value is None or value == "":
            return value
        if isinstance(value, Ciphertext):
            return str(value)
        return crypto.encrypt_str(self.to_plain_text(value))


class EncryptedTextField(EncryptedMixin, models.TextField):
    description = _("Text encrypted at rest")

    def get_lookup(self, lookup_name):
        # Equality against a fresh token can never match (Fernet is randomised): only "is null".
        if lookup_name != "isnull":
            raise FieldError(f"{self.name} is encrypted: look it up through its blind index.")
        return super().get_lookup(lookup_name)


class EncryptedDateField(EncryptedMixin, models.TextField):
    """A date encrypted at rest. Keep a plain, coarse companion (e.g. birth year) for selection."""

    description = _("Date encrypted at rest")

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(f"{self.name} is encrypted: select on its plain companion field instead.")
        return super().get_lookup(lookup_name)

    def to_plain_text(self, value) -> str:
        if isinstance(value, datetime.datetime):
            value = value.date()
        if isinstance(value, datetime.date):
            return value.isoformat()
        return datetime.date.fromisoformat(str(value)).isoformat()

    def from_plain_text(self, text: str):
        return datetime.date.fromisoformat(text)

    def to_python(self, value):
        if value is None or value == "" or isinstance(value, datetime.date):
            return value
        return datetime.date.fromisoformat(str(value))

    def formfield(self, **kwargs):
        return models.Field.formfield(self, form_class=forms.DateField, **kwargs)


class EncryptedDecimalField(EncryptedMixin, models.TextField):
    """A decimal encrypted at rest (amounts, quantities): Python sees ``Decimal``, the database a token.

    Arithmetic over these values cannot run in SQL: keep a plain aggregate that every write path
    maintains (e.g. ``accounts.members.volumes`` for transaction amounts). ``is_number`` tells the
    erasure engine that the value is a quantity, kept when a retained row is anonymised.
    """

    description = _("Decimal encrypted at rest")
    is_number = True
    empty_strings_allowed = False  # an unset amount is None (as for a DecimalField), never ""
    default_error_messages = {"invalid": _("This value must be a decimal number.")}  # never quotes the value

    def __init__(self, *args, max_digits: int = 20, decimal_places: int = 2, **kwargs):
        self.max_digits = max_digits
        self.decimal_places = decimal_places
        super().__init__(*args, **kwargs)
        self.validators.append(validators.DecimalValidator(max_digits, decimal_places))

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["max_digits"] = self.max_digits
        kwargs["decimal_places"] = self.decimal_places
        return name, path, args, kwargs

    def get_lookup(self, lookup_name):
        if lookup_name != "isnull":
            raise FieldError(f"{self.name} is encrypted: aggregate it through its plain per-member totals.")
        return super().get_lookup(lookup_name)

    def to_python(self, value):
        if value is None or value == "" or isinstance(value, decimal.Decimal):
            return value
        try:
            return decimal.Decimal(str(value).strip())
        except decimal.InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None

    def to_plain_text(self, value) -> str:
        number = self.to_python(value)
        if not isinstance(number, decimal.Decimal) or not number.is_finite():
            raise ValueError(f"{self.name} must be a finite decimal number.")
        # One canonical text per value: the same amount always decrypts to the same Decimal.
        return str(number.quantize(decimal.Decimal(1).scaleb(-self.decimal_places)))

    def from_plain_text(self, text: str):
        return decimal.Decimal(text)

    def formfield(self, **kwargs):
        return models.Field.formfield(
            self, form_class=forms.DecimalField, max_digits=self.max_digits, decimal_places=self.decimal_places,
            **kwargs,
        )


class BlindIndexField(models.CharField):
    """HMAC of another field's normalised value, kept in step on every save and bulk_create.

    ``bulk_update`` and ``QuerySet.update`` do not call ``pre_save``: code that writes the source
    field that way must also write this one (see ``accounts.privacy.crypto.blind_index``).
    """

    def __init__(self, *args, source: str = "", kind: str = "", **kwargs):
        self.source = source
        self.kind = kind
        kwargs.setdefault("max_length", 64)
        kwargs.setdefault("editable", False)
        kwargs.setdefault("null", True)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("db_index", True)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs["source"] = self.source
        kwargs["kind"] = self.kind
        for key, default in (("max_length", 64), ("editable", False), ("null", True), ("blank", True)):
            if kwargs.get(key) == default:
                kwargs.pop(key)
        if kwargs.get("db_index") is True:
            kwargs.pop("db_index")
        else:
            kwargs["db_index"] = False
        return name, path, args, kwargs

    def pre_save(self, model_instance, add):
        source_value = getattr(model_instance, self.source)
        if isinstance(source_value, Ciphertext):
            return getattr(model_instance, self.attname)  # a raw copy keeps its index
        value = crypto.blind_index(self.kind, None if source_value is None else str(source_value))
        setattr(model_instance, self.attname, value)
        return value
