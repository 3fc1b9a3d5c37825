"""Forms of the accounts app: reasons for disclosing access, and masked editing of sensitive values (PP-25).

On a change page a sensitive value is never put into an input: the officer sees it masked and, if
allowed to reveal, may type a *replacement* into an input that starts empty (empty keeps the value).
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.forms.utils import ErrorDict
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.privacy import children, datamap
from accounts.privacy.masking import mask_value
from accounts.privacy.reveal import MIN_REASON_LENGTH


class ReasonForm(forms.Form):
    """Why a staff user needs an unmasked value or a document file; the reason is logged (PP-25)."""

    reason = forms.CharField(
        label=_("Reason"),
        min_length=MIN_REASON_LENGTH,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text=_("Say why you need it (ticket number, review step). It is written to the access log."),
    )


# --- Masked editing ------------------------------------------------------------------------------
def reveal_url(obj, field_name: str) -> str:
    """The reveal page of one field of one record: model label + pk + field name, never the value."""
    return reverse(
        "accounts:reveal",
        kwargs={"model_label": obj._meta.label_lower, "object_id": str(obj.pk), "field_name": field_name},
    )


def document_file_url(obj) -> str:
    return reverse("accounts:document_file", kwargs={"pk": obj.pk})


class MaskedReplaceWidget(forms.TextInput):
    """Shows the masked value (and a reveal link) beside an *empty* input for a replacement.

    ``render`` ignores the bound value on purpose: the plaintext never reaches the page, not even
    after a failed submission.
    """

    def __init__(self, *, masked: str = "", link: str = "", attrs=None):
        super().__init__(attrs={"autocomplete": "off", "size": 30, **(attrs or {})})
        self.masked = masked
        self.link = link

    def render(self, name, value, attrs=None, renderer=None):
        field_input = super().render(name, "", attrs, renderer)
        reveal = format_html(' <a class="reveal-link" href="{}">{}</a>', self.link, _("Reveal")) if self.link else ""
        return format_html(
            # One wrapper: the admin lays a field's parts out as flex items, which would drop the
            # spaces and the line break between them.
            '<div class="masked-replace"><span class="masked-value">{}</span>{}<br>'
            '<span class="replace-input">{} {}</span></div>',
            self.masked or "—",
            reveal,
            _("Replace with:"),
            field_input,
        )


class SensitiveReplaceField(forms.Field):
    """Keeps the stored value when left empty; otherwise cleans the typed value with the model's field."""

    def __init__(self, *, inner: forms.Field, keep, masked: str, link: str, **kwargs):
        kwargs.setdefault("label", inner.label)
        kwargs.setdefault(
            "help_text", _("Leave empty to keep the current value. The current value is never shown here.")
        )
        super().__init__(required=False, widget=MaskedReplaceWidget(masked=masked, link=link), **kwargs)
        self.inner = inner
        self.keep = keep

    def clean(self, value):
        if value in self.empty_values:
            return self.keep
        return self.inner.clean(value)

    def has_changed(self, initial, data):
        if data in self.empty_values:
            return False
        return self.inner.has_changed(initial, data)


class ProtectedFileInput(forms.FileInput):
    """File input for encrypted uploads: no URL to the stored file (it has none), no "clear" box.

    A stored file is offered only through the permission-checked, logged download page.
    """

    def __init__(self, attrs=None):
        super().__init__(attrs)
        self.download_link = ""
        self.has_file = False

    def render(self, name, value, attrs=None, renderer=None):
        field_input = super().render(name, None, attrs, renderer)
        if not self.has_file:
            return field_input
        link = (
            format_html(' <a class="download-link" href="{}">{}</a>', self.download_link, _("Download (logged)"))
            if self.download_link
            else ""
        )
        return format_html(
            # One wrapper: the admin lays a field's parts out as flex items, which would drop the
            # spaces and the line break between them.
            '<div class="masked-replace"><span class="masked-value">{}</span>{}<br>'
            '<span class="replace-input">{} {}</span></div>',
            _("Encrypted file stored"),
            link,
            _("Replace with:"),
            field_input,
        )


class SensitiveModelForm(forms.ModelForm):
    """A model form that never renders a stored sensitive value (PP-25).

    The admin sets ``sensitive_links`` on a subclass per request: whether to offer reveal and
    download links (users with the permissions; not on historical-record pages).
    """

    sensitive_links = {"reveal": False, "download": False}
    #: Set by the admin per page: a record of a member under 14, all of whose personal fields are
    #: sensitive (PP-01). The admin knows it from the record (or the parent record) of the page.
    child_record = False

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        stored = instance.pk is not None and not instance._state.adding
        sensitive = datamap.sensitive_fields(type(instance))
        if self.child_record:
            sensitive = {**sensitive, **children.child_columns(type(instance))}
        for name, personal in sensitive.items():
            if name not in self.fields:
                continue
            field = self.fields[name]
            if personal.mask == datamap.Mask.FILE:
                widget = ProtectedFileInput()
                widget.has_file = stored and bool(getattr(instance, name))
                if widget.has_file and self.sensitive_links.get("download"):
                    widget.download_link = document_file_url(instance)
                field.widget = widget
                continue
            if not stored:
                continue  # an add form (or a new inline row): a normal input
            value = getattr(instance, name)
            link = reveal_url(instance, name) if self.sensitive_links.get("reveal") and value else ""
            self.fields[name] = SensitiveReplaceField(
                inner=field, keep=value, masked=mask_value(value, personal.mask), link=link
            )

    def _update_errors(self, errors):
        # Model.clean() may name a field this form does not show (a sensitive value shown masked,
        # e.g. a document number validated again on an unrelated change): show it as a form error
        # naming the field instead of failing with "has no field named".
        if hasattr(errors, "error_dict"):
            remapped = ErrorDict()
            for field, messages in errors.error_dict.items():
                if field != NON_FIELD_ERRORS and field not in self.fields:
                    try:
                        label = str(self.instance._meta.get_field(field).verbose_name).capitalize()
                    except FieldDoesNotExist:
                        label = field
                    messages = [ValidationError(f"{label}: {text}") for text in ValidationError(messages).messages]
                    field = NON_FIELD_ERRORS
                remapped.setdefault(field, []).extend(messages)
            errors = ValidationError(dict(remapped))
        super()._update_errors(errors)
