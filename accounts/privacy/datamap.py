"""The data map: the one declaration of every personal-data field (PP-01, PP-42, decision 1).

Each model that holds personal data declares, right below its fields::

    data_map = DataMap(
        subject="member",  # path from this model to its Member; "self" for Member, "" if about no member
        personal={"email": Personal(Category.CONTACT, sensitive=True, label="E-mail",
                                    erasure=Erasure.TOKEN, mask=Mask.EMAIL)},
        not_personal=("id", "status", ...),
    )

Models of Django and of libraries are declared in ``THIRD_PARTY`` below. ``registry()`` reads every
declaration at runtime; export (requests_desk), erasure (retention), masking (the admin) and the
"Data map" admin page all read it. ``undeclared_fields()`` is what the completeness test asserts
is empty: a new field without a declaration fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

from django.apps import apps
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop


class Category(models.TextChoices):
    IDENTITY = "identity", _("Identity")
    CONTACT = "contact", _("Contact")
    BIOMETRIC = "biometric", _("Biometric")
    FINANCIAL = "financial", _("Financial")
    TRANSACTION = "transaction", _("Transaction")
    DEVICE = "device", _("Device and security")
    LOCATION = "location", _("Location")
    COMMUNICATION = "communication", _("Communication")
    CONSENT = "consent", _("Consent")
    VERIFICATION = "verification", _("Verification")
    ACCOUNT = "account", _("Account")
    STAFF = "staff", _("Staff (back-office users)")


class Erasure(models.TextChoices):
    """How erasure treats a field (PP-42: deletion may be anonymisation)."""

    DELETE_ROW = "delete_row", _("Delete the row")
    SET_NULL = "set_null", _("Set to empty")
    TOKEN = "token", _("Replace with an irreversible random token")
    GENERALISE_YEAR = "generalise_year", _("Generalise the date to its year")
    RETAIN_THEN_PSEUDONYMISE = "retain", _("Keep for legal retention, then pseudonymise")
    DELETE_FILE = "delete_file", _("Delete the file")


class Mask(models.TextChoices):
    """How a sensitive value is shown by default (PP-25)."""

    NONE = "none", _("Shown as stored")
    ID_NUMBER = "id_number", _("First 3 and last 4 characters")
    CARD = "card", _("Last four digits")
    EMAIL = "email", _("First letter and domain")
    PHONE = "phone", _("Last four digits")
    DATE = "date", _("Hidden date")
    LOCATION = "location", _("Hidden")
    FILE = "file", _("File, downloaded through a logged view")
    HIDDEN = "hidden", _("Hidden")


@dataclass(frozen=True)
class Personal:
    category: Category
    sensitive: bool
    #: English, marked with ``gettext_noop``: exports and letters keep it as it is, screens show
    #: ``gettext(label)`` in the reader's language (the data-map page).
    label: str
    erasure: Erasure
    mask: Mask = Mask.NONE
    #: Exported in an access package (PP-29). Secrets such as blind indexes are not.
    exported: bool = True
    #: Row kinds (the model's ``kind`` value) whose value is of another category, e.g. the file of
    #: an identity document of kind "face_capture" is biometric (PP-01, PP-10).
    kinds: tuple[tuple[str, Category], ...] = ()

    def category_for(self, kind: str | None) -> Category:
        """The category of this field's value on a row of ``kind``."""
        return next((Category(c) for k, c in self.kinds if k == kind), Category(self.category))

    @property
    def categories(self) -> tuple[Category, ...]:
        """Every category this field's values can have: its own first, then those of row kinds."""
        found = [Category(self.category)]
        found.extend(Category(c) for _, c in self.kinds if Category(c) not in found)
        return tuple(found)

    def __post_init__(self) -> None:
        if self.sensitive and self.mask == Mask.NONE:
            raise ValueError(f"Sensitive field {self.label!r} needs a mask (PP-01, PP-25).")


def personal(category, label, erasure, *, sensitive=False, mask=Mask.NONE, exported=True) -> Personal:
    """A field's declaration in the models' positional shorthand: ``personal(Category.X, "Label", Erasure.Y)``."""
    return Personal(category, sensitive=sensitive, label=label, erasure=erasure, mask=mask, exported=exported)


@dataclass(frozen=True)
class DataMap:
    subject: str
    personal: dict[str, Personal] = field(default_factory=dict)
    not_personal: tuple[str, ...] = ()
    #: Why the model is declared: shown on the data-map page.
    note: str = ""
    #: Data *of a service* (PP-19): the foreign key to ``ProductLine`` naming the line each row belongs
    #: to. A product line's shutdown erases these rows of that line for every member; "" for data
    #: of the account (identity, contact, payment instruments), which no single line owns.
    product_line_field: str = ""

    def __post_init__(self) -> None:
        both = set(self.personal) & set(self.not_personal)
        if both:
            raise ValueError(f"Fields declared both personal and not personal: {sorted(both)}")


@dataclass(frozen=True)
class FieldEntry:
    model: type[models.Model]
    field_name: str
    personal: Personal | None

    @property
    def model_label(self) -> str:
        return self.model._meta.label

    @property
    def model_verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)


def _historical_base(model) -> type[models.Model] | None:
    return getattr(model, "instance_type", None) if model.__name__.startswith("Historical") else None


# History bookkeeping columns of simple-history; the change reason is free text typed by staff,
# so it is treated as communication that erasure empties.
HISTORY_NOT_PERSONAL = ("history_id", "history_date", "history_type", "history_user")
HISTORY_PERSONAL = {
    "history_change_reason": Personal(
        Category.COMMUNICATION, sensitive=False, label=gettext_noop("History change reason"), erasure=Erasure.SET_NULL,
        exported=False,
    ),
}

_STAFF = Personal(Category.STAFF, sensitive=False, label=gettext_noop("Staff user"), erasure=Erasure.SET_NULL,
    exported=False)

# Declarations for models we do not define (Django, libraries). Keyed by model label.
THIRD_PARTY: dict[str, DataMap] = {
    "auth.Permission": DataMap(subject="", not_personal=("id", "name", "content_type", "codename")),
    "auth.Group": DataMap(subject="", not_personal=("id", "name", "permissions")),
    "contenttypes.ContentType": DataMap(subject="", not_personal=("id", "app_label", "model")),
    "sessions.Session": DataMap(
        subject="",
        personal={"session_data": _STAFF},
        not_personal=("session_key", "expire_date"),
        note=_("Staff login sessions; expired ones are cleared nightly."),
    ),
    "admin.LogEntry": DataMap(
        subject="",
        personal={
            "user": _STAFF,
            "object_repr": Personal(
                Category.ACCOUNT, sensitive=False, label=gettext_noop("Object label (number only)"),
                    erasure=Erasure.SET_NULL,
                exported=False,
            ),
            "change_message": Personal(
                Category.ACCOUNT, sensitive=False, label=gettext_noop("Changed field names"), erasure=Erasure.SET_NULL,
                exported=False,
            ),
        },
        not_personal=("id", "action_time", "content_type", "object_id", "action_flag"),
        note=_("Admin log entries: objects are labelled by number only; values never appear."),
    ),
    # Staff sign-in (issue 7): authenticator apps of staff users, and django-axes' sign-in records.
    "otp_totp.TOTPDevice": DataMap(
        subject="",
        personal={"user": _STAFF},
        not_personal=(
            "id", "name", "confirmed", "throttling_failure_timestamp", "throttling_failure_count", "created_at",
            "last_used_at", "key", "step", "t0", "digits", "tolerance", "drift", "last_t",
        ),
        note=_("Staff authenticator apps (TOTP); the key is a secret, not personal data."),
    ),
    **{
        f"axes.{name}": DataMap(
            subject="",
            personal={
                "username": Personal(Category.DEVICE, sensitive=False, label=gettext_noop("Sign-in user name"),
                                     erasure=Erasure.SET_NULL, exported=False),
                "ip_address": Personal(Category.DEVICE, sensitive=False, label=gettext_noop("Sign-in IP address"),
                                       erasure=Erasure.SET_NULL, exported=False),
                "user_agent": Personal(Category.DEVICE, sensitive=False, label=gettext_noop("Sign-in browser"),
                                       erasure=Erasure.SET_NULL, exported=False),
            },
            not_personal=fields,
            note=_("Staff sign-in records of django-axes (failed attempts and lockouts, sign-ins)."),
        )
        for name, fields in (
            ("AccessAttempt", ("id", "http_accept", "path_info", "attempt_time", "get_data", "post_data",
                               "failures_since_start")),
            ("AccessLog", ("id", "http_accept", "path_info", "attempt_time", "logout_time", "session_hash")),
            ("AccessFailureLog", ("id", "http_accept", "path_info", "attempt_time", "locked_out")),
        )
    },
    "axes.AccessAttemptExpiration": DataMap(subject="", not_personal=("access_attempt", "expires_at")),
    **{
        f"django_celery_beat.{name}": DataMap(subject="", note=_("Beat schedule configuration."))
        for name in (
            "SolarSchedule", "IntervalSchedule", "ClockedSchedule", "CrontabSchedule",
            "PeriodicTasks", "PeriodicTask",
        )
    },
}
# Beat's models hold no personal data at all: every field is declared not personal.
_ALL_FIELDS = "__all__"
for _label in [k for k in THIRD_PARTY if k.startswith("django_celery_beat.")]:
    THIRD_PARTY[_label] = DataMap(subject="", not_personal=(_ALL_FIELDS,), note=THIRD_PARTY[_label].note)


def _m2m_history_declaration(model) -> DataMap:
    """simple-history's table of a many-to-many's past values: links, erased with the history row."""
    bookkeeping = ("id", "m2m_history_id", "history")
    links = {
        f.name: Personal(Category.ACCOUNT, sensitive=False, label=f"History of {f.name}",
                         erasure=Erasure.DELETE_ROW, exported=False)
        for f in model._meta.concrete_fields
        if f.name not in bookkeeping
    }
    return DataMap(subject="history", personal=links, not_personal=bookkeeping,
                   note=_("Audit history of a many-to-many field."))


def declaration(model) -> DataMap | None:
    """The declaration for ``model``; historical models inherit their base model's."""
    if any(f.name == "m2m_history_id" for f in model._meta.concrete_fields):
        return _m2m_history_declaration(model)
    base = _historical_base(model)
    if base is not None:
        inner = declaration(base)
        if inner is None:
            return None
        present = {f.name for f in model._meta.concrete_fields}
        return DataMap(
            subject=inner.subject,
            personal={k: v for k, v in {**inner.personal, **HISTORY_PERSONAL}.items() if k in present},
            not_personal=tuple(n for n in (*inner.not_personal, *HISTORY_NOT_PERSONAL) if n in present),
            note=format_lazy(_("Audit history of {model}; erasure scrubs it with the live rows."),
                             model=base._meta.verbose_name),
        )
    own = model.__dict__.get("data_map")
    if own is not None:
        return own
    return THIRD_PARTY.get(model._meta.label)


def _concrete_field_names(model) -> list[str]:
    return [f.name for f in model._meta.get_fields() if f.concrete or (f.many_to_many and not f.auto_created)]


def undeclared_fields() -> list[str]:
    """Every concrete field of every installed model that is not declared either way."""
    missing: list[str] = []
    for model in apps.get_models():
        dm = declaration(model)
        names = _concrete_field_names(model)
        if dm is None:
            missing.extend(f"{model._meta.label}.{name}" for name in names)
            continue
        if _ALL_FIELDS in dm.not_personal:
            continue
        declared = set(dm.personal) | set(dm.not_personal)
        missing.extend(f"{model._meta.label}.{name}" for name in names if name not in declared)
    return missing


def unknown_declarations() -> list[str]:
    """Declared names that are not fields (typos would otherwise hide a gap)."""
    wrong: list[str] = []
    for model in apps.get_models():
        dm = declaration(model)
        if dm is None:
            continue
        names = set(_concrete_field_names(model))
        for name in [*dm.personal, *dm.not_personal]:
            if name != _ALL_FIELDS and name not in names:
                wrong.append(f"{model._meta.label}.{name}")
    return wrong


@cache
def registry() -> tuple[FieldEntry, ...]:
    """Every field of every model with its declaration, history models included."""
    entries: list[FieldEntry] = []
    for model in apps.get_models():
        dm = declaration(model)
        if dm is None:
            continue
        for name in _concrete_field_names(model):
            entries.append(FieldEntry(model=model, field_name=name, personal=dm.personal.get(name)))
    return tuple(entries)


def personal_fields(model) -> dict[str, Personal]:
    dm = declaration(model)
    return dict(dm.personal) if dm else {}


def sensitive_fields(model) -> dict[str, Personal]:
    return {name: p for name, p in personal_fields(model).items() if p.sensitive}


def member_lookup(model, subject: str | None = None) -> str:
    """The ORM lookup from ``model`` to its member's primary key, following data-map subject paths.

    ``subject`` defaults to the model's declared one: ``"self"`` (the member itself), a path such as
    ``"member"`` or ``"request__member"``, or a path to another model about members (e.g. a history
    row), whose own subject is then followed. Used by everything that reads or erases "all of a
    member's rows" (access packages, the erasure engine).
    """
    if subject is None:
        subject = declaration(model).subject
    if subject == "self":
        # A history row's ``id`` column is the live row's primary key; its own key is history_id.
        is_m2m_history = any(f.name == "m2m_history_id" for f in model._meta.concrete_fields)
        return "id" if _historical_base(model) is not None and not is_m2m_history else "pk"
    current = model
    for part in subject.split("__"):
        relation = current._meta.get_field(part)
        if not relation.is_relation:
            raise ImproperlyConfigured(f"{model._meta.label}: subject path {subject!r} crosses a non-relation.")
        current = relation.related_model
    if current._meta.label == "accounts.Member":
        return subject
    inner = declaration(current)
    if inner is None or not inner.subject:
        raise ImproperlyConfigured(f"{model._meta.label}: subject path {subject!r} does not reach a member.")
    return f"{subject}__{member_lookup(current, inner.subject)}"


def service_scoped_models() -> list[tuple[type[models.Model], str]]:
    """Live models whose rows are data of one product line (PP-19), with the field naming the line."""
    found = []
    for model in apps.get_models():
        dm = declaration(model)
        if dm and dm.product_line_field and _historical_base(model) is None:
            found.append((model, dm.product_line_field))
    return found


def models_about_members() -> list[type[models.Model]]:
    """Live (non-historical) models that hold personal data about members, in registry order."""
    found = []
    for model in apps.get_models():
        dm = declaration(model)
        if dm and dm.subject and dm.personal and _historical_base(model) is None:
            found.append(model)
    return found
