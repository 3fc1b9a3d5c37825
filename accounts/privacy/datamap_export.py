"""The data map as files (issue 14, requirement 5): a Fides dataset (YAML) and the DPO's CSV.

Both list every column of every model in the data map (``datamap.registry()``), with how it is
classified and protected; neither holds a single stored value (schema only). The Fides dataset
uses the keys of the Fides default taxonomy (``user.contact.email``, ``user.biometric``, …) so a
team that runs Fides can load it as it is; ``fides_categories`` maps our categories, refined per
field. ``manage.py datamap_export`` and the data-map page's download links call ``export`` (the
files: ``export_file``, CSV in UTF-8 with a BOM so Excel shows Chinese labels correctly).

How a column is protected at rest is read from its field class, not from a list kept by hand:
``EncryptedTextField``/``EncryptedDateField`` (encrypted), a file in ``EncryptedFileSystemStorage``
(encrypted file), ``BlindIndexField`` (keyed hash), anything else plain.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

import yaml
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.privacy import children, datamap
from accounts.privacy.datamap import Category
from accounts.privacy.fields import BlindIndexField
from accounts.privacy.storage import EncryptedFileSystemStorage

FORMATS = ("fides", "csv")
FIDES_DATASET_KEY = "privacy_back_office"
FIDES_NOT_PERSONAL = "system.operations"

#: Our categories in the Fides default taxonomy; ``FIELD_FIDES`` refines them per field.
CATEGORY_FIDES: dict[str, str] = {
    Category.IDENTITY: "user.unique_id",
    Category.CONTACT: "user.contact",
    Category.BIOMETRIC: "user.biometric",
    Category.FINANCIAL: "user.financial",
    Category.TRANSACTION: "user.behavior.purchase_history",
    Category.DEVICE: "user.device",
    Category.LOCATION: "user.location",
    Category.COMMUNICATION: "user.content.private",
    Category.CONSENT: "user.privacy_preferences",
    Category.VERIFICATION: "user.account",
    Category.ACCOUNT: "user.account",
    Category.STAFF: "user.account",
}

#: Per field name (a blind index counts as its source field), wherever it occurs.
FIELD_FIDES: dict[str, tuple[str, ...]] = {
    "legal_name": ("user.name",),
    "local_name": ("user.name",),
    "date_of_birth": ("user.demographic.date_of_birth",),
    "birth_year": ("user.demographic.age_range",),
    "nationality": ("user.demographic",),
    "email": ("user.contact.email",),
    "phone": ("user.contact.phone_number",),
    "business_phone": ("user.contact.phone_number",),
    "main_place_of_business": ("user.contact.address",),
    "ip_address": ("user.device.ip_address",),
    "device_id": ("user.device.device_id",),
    "imei": ("user.device.device_id",),
    "mac_address": ("user.device.device_id",),
    "location": ("user.location.precise",),
    "region": ("user.location.imprecise",),
    "member_number": ("user.unique_id.pseudonymous",),
}

#: Per model and field, where the same name means something else elsewhere.
MODEL_FIELD_FIDES: dict[tuple[str, str], tuple[str, ...]] = {
    ("accounts.IdentityDocument", "number"): (
        "user.government_id.national_identification_number",
        "user.government_id.passport_number",
        "user.government_id.drivers_license_number",
    ),
    ("accounts.IdentityDocument", "file"): ("user.government_id", "user.biometric"),
    ("accounts.PaymentInstrument", "number"): ("user.financial.bank_account", "user.financial.credit_card"),
    ("accounts.PaymentInstrument", "last_four"): ("user.financial.bank_account", "user.financial.credit_card"),
    ("accounts.InstitutionProfile", "funding_sources"): ("user.financial",),
}


def _base_field_name(name: str) -> str:
    return name.removesuffix("_bidx")


def _live_label(model) -> str:
    base = getattr(model, "instance_type", None) if model.__name__.startswith("Historical") else None
    return (base or model)._meta.label


def fides_categories(model, field_name: str, personal: datamap.Personal | None) -> tuple[str, ...]:
    """The Fides default-taxonomy keys of one column (history tables share their model's)."""
    if personal is None:
        return (FIDES_NOT_PERSONAL,)
    name = _base_field_name(field_name)
    refined = MODEL_FIELD_FIDES.get((_live_label(model), name)) or FIELD_FIDES.get(name)
    if refined:
        return refined
    keys = [CATEGORY_FIDES[c] for c in personal.categories]
    return tuple(dict.fromkeys(keys))


def model_field(model, name: str) -> models.Field:
    return model._meta.get_field(name)


def at_rest(model, name: str) -> str:
    """How the column is stored, from its field class: encrypted, encrypted file, keyed hash or plain."""
    field = model_field(model, name)
    if getattr(field, "encrypted", False):
        return "encrypted"
    if isinstance(field, models.FileField) and isinstance(field.storage, EncryptedFileSystemStorage):
        return "encrypted file"
    if isinstance(field, BlindIndexField):
        return "keyed hash"
    return "plain"


#: ``at_rest`` values are codes (the CSV and ``is_encrypted`` read them); people read these.
AT_REST_LABELS = {
    "encrypted": _("encrypted"),
    "encrypted file": _("encrypted file"),
    "keyed hash": _("keyed hash"),
    "plain": _("plain"),
}


def is_encrypted(model, name: str) -> bool:
    return at_rest(model, name) in ("encrypted", "encrypted file")


def shown_as(model, name: str, personal: datamap.Personal | None) -> str:
    """How screens and exports show it: its mask, or hidden on a child's record only (PP-01)."""
    if personal is None:
        return ""
    if personal.sensitive:
        return str(datamap.Mask(personal.mask).label)
    if datamap.declaration(model).subject and children.child_maskable(model, name, personal):
        return gettext("Shown; hidden on a child's record")
    return ""


def category_label(personal: datamap.Personal | None) -> str:
    """Our category, with the row kinds of another category, e.g. "Identity; Biometric (face capture)"."""
    if personal is None:
        return ""
    text = str(Category(personal.category).label)
    for kind, category in personal.kinds:
        text += f"; {Category(category).label} ({str(kind).replace('_', ' ')})"
    return text


def _column_name(model, name: str) -> str:
    field = model_field(model, name)
    return field.column if getattr(field, "column", None) else name


def _models_in_order(entries: Iterable[datamap.FieldEntry]) -> dict[type[models.Model], list[datamap.FieldEntry]]:
    grouped: dict[type[models.Model], list[datamap.FieldEntry]] = {}
    for entry in entries:
        grouped.setdefault(entry.model, []).append(entry)
    return grouped


def fides_dataset() -> dict:
    """The data map as a Fides dataset manifest: one collection per model, one field per column."""
    collections = []
    for model, entries in _models_in_order(datamap.registry()).items():
        dm = datamap.declaration(model)
        description = f"{model._meta.label}: {model._meta.verbose_name}."
        if dm.note:
            description += f" {dm.note}"
        fields = []
        for entry in entries:
            field = model_field(model, entry.field_name)
            item = {
                "name": _column_name(model, entry.field_name),
                "description": _field_description(model, entry),
                "data_categories": list(fides_categories(model, entry.field_name, entry.personal)),
            }
            if getattr(field, "primary_key", False):
                item["fides_meta"] = {"primary_key": True}
            fields.append(item)
        collections.append({"name": model._meta.db_table, "description": description, "fields": fields})
    return {
        "dataset": [
            {
                "fides_key": FIDES_DATASET_KEY,
                "name": "Privacy back office",
                "description": "Every table and column of the privacy back office, as its data map declares them "
                "(PP-01, PP-42). Schema only: no stored value.",
                "collections": collections,
            }
        ]
    }


def _field_description(model, entry: datamap.FieldEntry) -> str:
    personal = entry.personal
    field = model_field(model, entry.field_name)
    if personal is None:
        return gettext("%(field)s (not personal)") % {"field": field.verbose_name}
    parts = [str(personal.label), category_label(personal)]
    parts.append(gettext("sensitive") if personal.sensitive else gettext("not sensitive"))
    parts.append(str(AT_REST_LABELS[at_rest(model, entry.field_name)]))
    parts.append(gettext("erasure: %(action)s") % {"action": datamap.Erasure(personal.erasure).label})
    return "; ".join(parts)


CSV_COLUMNS = (
    "app", "model", "field", "column", "personal", "category", "fides_categories", "sensitive", "encrypted",
    "at_rest", "masked", "erasure", "exported", "retention_note",
)


def csv_rows() -> list[dict[str, str]]:
    """One row per column of every model: the DPO's spreadsheet view of the data map."""
    rows = []
    for entry in datamap.registry():
        model, name, personal = entry.model, entry.field_name, entry.personal
        dm = datamap.declaration(model)
        retention = ""
        if personal is not None and personal.erasure == datamap.Erasure.RETAIN_THEN_PSEUDONYMISE:
            retention = gettext("Kept for the legal retention period, then pseudonymised.")
        rows.append({
            "app": model._meta.app_label,
            "model": model._meta.label,
            "field": name,
            "column": _column_name(model, name),
            "personal": "yes" if personal else "no",
            "category": category_label(personal),
            "fides_categories": " ".join(fides_categories(model, name, personal)),
            "sensitive": "yes" if personal and personal.sensitive else "no",
            "encrypted": "yes" if is_encrypted(model, name) else "no",
            "at_rest": at_rest(model, name),
            "masked": shown_as(model, name, personal),
            "erasure": str(datamap.Erasure(personal.erasure).label) if personal else "",
            "exported": "yes" if personal and personal.exported else "no",
            "retention_note": " ".join(str(text) for text in (retention, dm.note) if text),
        })
    return rows


def fides_yaml() -> str:
    return yaml.safe_dump(fides_dataset(), sort_keys=False, allow_unicode=True, width=120)


def csv_text() -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_rows())
    return out.getvalue()


def export(fmt: str) -> str:
    """The data map in ``fmt`` ("fides" or "csv"): what the command writes and the page downloads."""
    if fmt == "fides":
        return fides_yaml()
    if fmt == "csv":
        return csv_text()
    raise ValueError(f"Unknown data-map format {fmt!r}: use one of {', '.join(FORMATS)}.")


def export_file(fmt: str) -> bytes:
    """``export(fmt)`` as the file's bytes: UTF-8, with a BOM for CSV so Excel reads it as UTF-8 (issue 16)."""
    return export(fmt).encode("utf-8-sig" if fmt == "csv" else "utf-8")


CONTENT_TYPES = {"fides": "application/yaml; charset=utf-8", "csv": "text/csv; charset=utf-8"}
FILE_NAMES = {"fides": "data-map.fides.yml", "csv": "data-map.csv"}
