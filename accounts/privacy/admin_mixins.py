"""Building blocks of the member admins: masking (PP-25) in lists, read-only fields, forms and history.

- ``SensitiveFieldsMixin`` (model admins and inlines) reads ``accounts.privacy.datamap.sensitive_fields`` and
  never lets a stored sensitive value reach a page: list columns, read-only fields and inputs show it
  masked; users who may reveal get a "Reveal" link (a logged, reason-checked page) and, where they
  may change the record, an empty "replace" input.
- ``MaskedHistoryMixin`` does the same for simple-history's history pages.

Big tables' paging and lean rows are in ``accounts.privacy.large_tables``; searches kept out of URLs
in ``accounts.privacy.search_tokens``.
"""

from __future__ import annotations

from functools import cached_property

from django.contrib.admin.utils import display_for_field
from django.contrib.admin.widgets import AdminDateWidget, AdminTextInputWidget
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from simple_history.template_utils import HistoricalRecordContextHelper
from simple_history.utils import get_m2m_reverse_field_name

from accounts.privacy import children, datamap
from accounts.privacy.fields import BlindIndexField, EncryptedDateField, EncryptedTextField
from accounts.privacy.forms import SensitiveModelForm, document_file_url, reveal_url
from accounts.privacy.large_tables import PK_PLACEHOLDER, fill_pattern
from accounts.privacy.masking import mask_value
from accounts.privacy.reveal import DOWNLOAD_PERMISSION, REVEAL_PERMISSION

EMPTY = "—"


def may_reveal(request) -> bool:
    return request.user.has_perm(REVEAL_PERMISSION)


def may_download(request) -> bool:
    return request.user.has_perm(DOWNLOAD_PERMISSION)


def on_historical_record_page(request) -> bool:
    """simple-history's page of one past version: a reveal there would show today's value, not that one."""
    match = getattr(request, "resolver_match", None)
    return bool(match and (match.url_name or "").endswith("_simple_history"))


# --- Masked display ------------------------------------------------------------------------------
class MaskedDisplay:
    """A list column / read-only field showing one sensitive field masked, with a reveal link if allowed.

    Built per request (the links depend on the user's permissions). Instances compare equal by what
    they show, so the admin's "is this field read-only?" checks match across calls.
    """

    def __init__(self, model, field_name: str, personal: datamap.Personal, *, reveal: bool, download: bool):
        self.model = model
        self.field_name = field_name
        self.personal = personal
        self.reveal = reveal
        self.download = download
        self.__name__ = f"{field_name}_masked"
        self.short_description = model._meta.get_field(field_name).verbose_name
        self.empty_value_display = EMPTY

    def _key(self):
        return (type(self), self.model, self.field_name, self.reveal, self.download)

    @cached_property
    def _reveal_pattern(self) -> str:
        """The reveal URL of this column, reversed once per page (a list shows it on every row)."""
        return reverse("accounts:reveal", kwargs={
            "model_label": self.model._meta.label_lower, "object_id": PK_PLACEHOLDER, "field_name": self.field_name,
        })

    @cached_property
    def _reveal_label(self) -> str:
        return str(_("Reveal"))

    def __eq__(self, other):
        if not isinstance(other, MaskedDisplay):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return self.__name__

    def __repr__(self):
        return f"<MaskedDisplay {self.model._meta.label}.{self.field_name}>"

    def __call__(self, obj):
        value = getattr(obj, self.field_name, None)
        if value is None or value == "":
            return format_html("{}", EMPTY)
        if self.personal.mask == datamap.Mask.FILE:
            if self.download and obj.pk:
                return format_html(
                    '<span class="masked-value">{}</span> <a class="download-link" href="{}">{}</a>',
                    _("Encrypted file"),
                    document_file_url(obj),
                    _("Download (logged)"),
                )
            return format_html('<span class="masked-value">{}</span>', _("Encrypted file"))
        masked = mask_value(value, self.personal.mask)
        if self.reveal and obj.pk:
            return format_html(
                '<span class="masked-value">{}</span> <a class="reveal-link" href="{}">{}</a>',
                masked,
                fill_pattern(self._reveal_pattern, obj.pk) or reveal_url(obj, self.field_name),
                self._reveal_label,
            )
        return format_html('<span class="masked-value">{}</span>', masked)


class ChildAwareDisplay(MaskedDisplay):
    """A list column of a personal field that is not sensitive, except on a child's row (PP-01, PP-03).

    The row's member comes with the row (``list_select_related``): no query per row.
    """

    def __init__(self, model, field_name: str, personal: datamap.Personal, *, reveal: bool, download: bool):
        super().__init__(model, field_name, personal, reveal=reveal, download=download)
        self.admin_order_field = field_name
        self.today = timezone.localdate()

    def __call__(self, obj):
        if children.is_child_record(obj, self.today):
            return super().__call__(obj)
        field = self.model._meta.get_field(self.field_name)
        return display_for_field(getattr(obj, self.field_name, None), field, EMPTY)


class LinksDisplay:
    """A read-only field of links built per request (e.g. to a member's devices and transactions)."""

    def __init__(self, name: str, label, links: tuple[tuple[str, str], ...]):
        #: ``links``: (label, URL pattern with ``{pk}``) pairs the user may open.
        self.__name__ = name
        self.short_description = label
        self.links = links

    def __eq__(self, other):
        if not isinstance(other, LinksDisplay):
            return NotImplemented
        return (self.__name__, self.links) == (other.__name__, other.links)

    def __hash__(self):
        return hash((self.__name__, self.links))

    def __str__(self):
        return self.__name__

    def __call__(self, obj):
        if not obj.pk or not self.links:
            return format_html("{}", EMPTY)
        return format_html_join(
            " · ", '<a href="{}">{}</a>', ((url.format(pk=obj.pk), label) for label, url in self.links)
        )


class SensitiveFieldsMixin:
    """For ``ModelAdmin`` and ``InlineModelAdmin`` classes of models with sensitive fields (PP-25).

    Declare ``fieldsets``/``fields`` and ``list_display`` with the plain field names; at request time
    every sensitive one is swapped for a ``MaskedDisplay`` unless the user may both change the record
    and reveal values, in which case the form offers a masked "replace" input. Add pages (no stored
    value) keep normal inputs.
    """

    form = SensitiveModelForm
    formfield_overrides = {
        # Encrypted columns are text columns: give them one-line inputs, and dates a date picker.
        EncryptedTextField: {"widget": AdminTextInputWidget},
        EncryptedDateField: {"widget": AdminDateWidget},
    }

    def _sensitive(self) -> dict[str, datamap.Personal]:
        return datamap.sensitive_fields(self.model)

    @staticmethod
    def _is_child(obj) -> bool:
        """``obj``: the record (model admins) or the parent record (inlines) shown on this page."""
        return obj is not None and children.is_child_record(obj, timezone.localdate())

    def _sensitive_here(self, obj) -> dict[str, datamap.Personal]:
        """The sensitive fields on this page: on a child's record every personal field (PP-01)."""
        if self._is_child(obj):
            return {**self._sensitive(), **children.child_columns(self.model)}
        return self._sensitive()

    def _link_flags(self, request) -> tuple[bool, bool]:
        if on_historical_record_page(request):
            return False, False
        return may_reveal(request), may_download(request)

    def masked_display(self, request, field_name: str, obj=None) -> MaskedDisplay:
        reveal, download = self._link_flags(request)
        personal = self._sensitive_here(obj)[field_name]
        return MaskedDisplay(self.model, field_name, personal, reveal=reveal, download=download)

    def _masked_here(self, request, obj) -> list[str]:
        """Sensitive fields shown read-only and masked on this page (``obj`` None: an add page)."""
        if obj is None:
            return []
        can_change = self.has_change_permission(request, obj)
        reveal = may_reveal(request)
        masked = []
        for name, personal in self._sensitive_here(obj).items():
            # A file is never shown; replacing it needs only the right to change the record.
            editable = can_change if personal.mask == datamap.Mask.FILE else (can_change and reveal)
            if not editable:
                masked.append(name)
        return masked

    def _swap(self, fields, swaps: dict, seen: set):
        out = []
        for entry in fields:
            if isinstance(entry, list | tuple):
                line = self._swap(entry, swaps, seen)
                if line:
                    out.append(tuple(line))
                continue
            entry = swaps.get(entry, entry) if isinstance(entry, str) else entry
            if entry in seen:
                continue
            seen.add(entry)
            out.append(entry)
        return out

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        swaps = {name: self.masked_display(request, name, obj) for name in self._masked_here(request, obj)}
        if not swaps:
            return fieldsets
        seen: set = set()
        return [
            (title, {**options, "fields": self._swap(options.get("fields", ()), swaps, seen)})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        readonly.extend(self.masked_display(request, name, obj) for name in self._masked_here(request, obj))
        return readonly

    def _form_with_links(self, request, base, obj=None):
        reveal, download = self._link_flags(request)
        return type(base.__name__, (base,), {
            "sensitive_links": {"reveal": reveal, "download": download},
            "child_record": self._is_child(obj),
        })

    def get_list_display(self, request):
        sensitive = self._sensitive()
        child_columns = children.child_columns(self.model)
        reveal, download = self._link_flags(request)
        columns = []
        for name in super().get_list_display(request):
            if isinstance(name, str) and name in sensitive:
                name = self.masked_display(request, name)
            elif isinstance(name, str) and name in child_columns:
                name = ChildAwareDisplay(self.model, name, child_columns[name], reveal=reveal, download=download)
            columns.append(name)
        return columns


class SensitiveModelAdminMixin(SensitiveFieldsMixin):
    def get_queryset(self, request):
        # The record's member comes with it: whether it is a child's record needs no query of its own.
        # The changelist applies ``list_select_related`` only to a queryset without select_related:
        # both are applied here.
        queryset = super().get_queryset(request)
        dm = datamap.declaration(self.model)
        subject = dm.subject if dm else ""
        if subject in ("", "self", "history"):
            return queryset
        if self.list_select_related is True:
            return queryset.select_related()
        listed = self.list_select_related if isinstance(self.list_select_related, list | tuple) else ()
        return queryset.select_related(subject, *listed)

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["form"] = self._form_with_links(request, kwargs.get("form", self.form), obj)
        return super().get_form(request, obj, change, **kwargs)


class SensitiveInlineMixin(SensitiveFieldsMixin):
    def get_formset(self, request, obj=None, **kwargs):
        kwargs["form"] = self._form_with_links(request, kwargs.get("form", self.form), obj)
        return super().get_formset(request, obj, **kwargs)


# --- History pages -------------------------------------------------------------------------------
class MaskedHistoryContextHelper(HistoricalRecordContextHelper):
    """Shows sensitive values in history diffs masked, as everywhere else (PP-25); on a child's record
    every personal value (PP-01). ``child`` is set once per page by ``MaskedHistoryMixin``."""

    child = False

    def prepare_delta_change_value(self, change, value):
        personal = datamap.sensitive_fields(self.model).get(change.field)
        if personal is None and self.child:
            personal = children.child_columns(self.model).get(change.field)
        if personal is not None:
            return mask_value(value, personal.mask) or EMPTY
        return super().prepare_delta_change_value(change, value)


class ReadOnlyHistoryMixin:
    """For ``SimpleHistoryAdmin`` subclasses: past versions are shown, never restored.

    simple-history saves a POST to a past version's page whatever the user's rights (a view-only
    auditor included): that would overwrite the record with old values and bypass the services and
    their checks (style rule 7). Every role is refused; the page has no "Revert" button.
    """

    def revert_disabled(self, request, obj=None):
        return True

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied(_("Past versions are read-only."))
        return super().history_form_view(request, object_id, version_id, extra_context)


class MaskedHistoryMixin(ReadOnlyHistoryMixin):
    """For ``SimpleHistoryAdmin`` subclasses: history lists and past versions show no plaintext.

    Past versions (the "historical record" page) reuse the change form, so ``SensitiveFieldsMixin``
    masks them; the list of changes is diffed here without blind indexes (keyed hashes that would
    let a reader compare values) and with sensitive values masked.
    """

    def get_historical_record_context_helper(self, request, historical_record):
        return MaskedHistoryContextHelper(self.model, historical_record)

    def set_history_delta_changes(self, request, historical_records, foreign_keys_are_objs=True):
        records = list(historical_records)
        hidden = [f.name for f in self.model._meta.concrete_fields if isinstance(f, BlindIndexField)]
        history_model = getattr(self.model, self.model._meta.simple_history_manager_attribute).model
        m2m_names = [f.name for f in getattr(history_model, "_history_m2m_fields", [])]
        # simple-history diffs many-to-many fields with two queries per version; read them all at once.
        m2m_values = self._history_m2m_values(records, m2m_names)
        # The newest version names the member; one lookup for the page, not one per version.
        child = bool(records) and children.is_child_record(records[0], timezone.localdate())
        previous = None
        for current in records:
            if previous is not None:
                delta = previous.diff_against(
                    current, foreign_keys_are_objs=foreign_keys_are_objs, excluded_fields=[*hidden, *m2m_names]
                )
                helper = self.get_historical_record_context_helper(request, previous)
                helper.child = child
                changes = helper.context_for_delta_changes(delta)
                for name in m2m_names:
                    old = m2m_values.get((current.history_id, name), [])
                    new = m2m_values.get((previous.history_id, name), [])
                    if old != new:
                        label = capfirst(self.model._meta.get_field(name).verbose_name)
                        changes.append({"field": label, "old": ", ".join(old) or EMPTY, "new": ", ".join(new) or EMPTY})
                previous.history_delta_changes = changes
            previous = current

    def _history_m2m_values(self, records, m2m_names) -> dict[tuple[int, str], list[str]]:
        """(history id, field) -> sorted labels of the related objects, one query per many-to-many field."""
        values: dict[tuple[int, str], list[str]] = {}
        if not records:
            return values
        for name in m2m_names:
            through = getattr(records[0], name).model  # the history table of this many-to-many
            reverse = get_m2m_reverse_field_name(self.model._meta.get_field(name))
            rows = through.objects.filter(history__in=[r.history_id for r in records]).select_related(reverse)
            for row in rows:
                related = getattr(row, reverse, None)
                values.setdefault((row.history_id, name), []).append(str(related) if related else "(deleted)")
        return {key: sorted(labels) for key, labels in values.items()}
