"""Import/export wiring for the member admins (django-import-export), issue 3 requirement 10.

The admin classes in ``accounts.admin`` put these mixins first in their bases. Each mixin is the
library's ``ImportExportMixin`` configured for one model:

- import only with ``accounts.import_members`` (compliance officers, supervisors); everyone else
  gets no import button and a 403 on the import URLs;
- export with the model's view permission; sensitive columns masked unless the user may reveal
  them, in which case the export writes one access-log row (PP-25);
- CSV, tab-separated text (import) and XLSX only; formulas escaped on export; every row checked, all
  or nothing on import, and the error report lists line, column and reason (never a value);
- text in any encoding Chinese offices save (issue 16, requirement 5): the upload form's "Encoding"
  (detected by default) decodes the file, or refuses it saying where and which encodings were tried;
  the export form writes UTF-8 with a BOM (Excel reads Chinese correctly) or GB18030;
- every import names its source (PP-16): the upload form requires it, the preview carries it to
  the confirmation, and the committed import records it on an ``ImportBatch`` (listed read-only
  under "Imports") that the written rows point to.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin
from import_export.forms import ConfirmImportForm, ImportForm, SelectableFieldsExportForm

from accounts.members.spreadsheets import encodings
from accounts.members.spreadsheets.formats import CSV, TSV, XLSX
from accounts.members.spreadsheets.members import MemberResource
from accounts.members.spreadsheets.problems import SOURCE_MAX_LENGTH, UnreadableFile, source_problem
from accounts.members.spreadsheets.related_persons import RelatedPersonResource
from accounts.members.spreadsheets.transactions import TransactionRecordResource
from accounts.models import ImportBatch
from accounts.privacy.admin_readonly import ReadOnlyAdmin

IMPORT_PERMISSION = "accounts.import_members"
#: Problems listed in the message shown when a confirmed import is refused after all.
MESSAGE_PROBLEMS = 20


def _clean_source(value: str) -> str:
    problem = source_problem(value)
    if problem:
        raise forms.ValidationError(problem)
    return value.strip()


class SourcedImportForm(ImportForm):
    """The upload form plus where the file came from (PP-16): required, or nothing is imported."""

    source = forms.CharField(
        label=_("Source of the data"), max_length=SOURCE_MAX_LENGTH,
        help_text=_("Who sent this file and under which agreement or consent, e.g. “Acme Payments Ltd, "
                    "data-sharing agreement DSA-2025-07” (PP-16). Recorded with the import."),
    )

    encoding = forms.ChoiceField(
        label=_("Encoding"), choices=encodings.IMPORT_ENCODING_CHOICES, initial=encodings.AUTO, required=False,
        help_text=_("For CSV and tab-separated files: detected unless you choose one (GBK files are read as "
                    "GB18030)."),
    )
    field_order = ["resource", "import_file", "format", "encoding", "source"]

    def __init__(self, formats, resources, **kwargs):
        super().__init__(formats, resources, **kwargs)
        self.import_formats = formats

    def clean_source(self):
        return _clean_source(self.cleaned_data.get("source", ""))

    def clean(self):
        """A text file is decoded here, in the encoding chosen or detected, and handed on as UTF-8.

        The library then reads every text file as UTF-8 (its preview and its confirmation); a file whose
        bytes do not decode is refused on the upload field, naming line, character, byte and the encodings tried.
        """
        cleaned = super().clean()
        upload, position = cleaned.get("import_file"), cleaned.get("format")
        if upload is None or position in (None, "") or self.import_formats[int(position)]().is_binary():
            return cleaned
        content = b"".join(upload.chunks())
        try:
            text = encodings.decode_bytes(content, cleaned.get("encoding") or encodings.AUTO)
        except UnreadableFile as exc:
            self.add_error("import_file", str(exc))
            return cleaned
        cleaned["import_file"] = SimpleUploadedFile(upload.name, text.encode("utf-8"), upload.content_type)
        return cleaned


class EncodedExportForm(SelectableFieldsExportForm):
    """The export form plus the encoding of a CSV file: UTF-8 with a BOM (Excel) unless GB18030 is chosen."""

    encoding = forms.ChoiceField(
        label=_("Encoding"), choices=encodings.EXPORT_ENCODING_CHOICES, initial=encodings.DEFAULT_EXPORT_ENCODING,
        required=False, help_text=_("For CSV: UTF-8 with BOM opens correctly in Excel, Chinese included."),
    )


class SourcedConfirmImportForm(ConfirmImportForm):
    """The confirmation carries the source of the preview; shown, not edited, on the preview page."""

    source = forms.CharField(label=_("Source of the data"), max_length=SOURCE_MAX_LENGTH,
                             widget=forms.TextInput(attrs={"readonly": True, "size": 80}))

    def clean_source(self):
        return _clean_source(self.cleaned_data.get("source", ""))


class RecordsImportExportMixin(ImportExportMixin):
    import_formats = [CSV, XLSX, TSV]
    export_formats = [CSV, XLSX]
    export_form_class = EncodedExportForm
    import_template_name = "admin/import_export/accounts_import.html"
    import_form_class = SourcedImportForm
    confirm_form_class = SourcedConfirmImportForm

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_resource_kwargs(self, request, *args, **kwargs):
        kwargs = super().get_resource_kwargs(request, *args, **kwargs)
        # The resource masks or logs by this user; the IP goes to the access log (PP-25).
        kwargs.update(user=request.user, ip_address=request.META.get("REMOTE_ADDR"))
        return kwargs

    def get_import_resource_kwargs(self, request, **kwargs):
        """The resource imports with the source the (valid) upload or confirmation form names (PP-16)."""
        form = kwargs.get("form")
        resource_kwargs = super().get_import_resource_kwargs(request, **kwargs)
        cleaned = getattr(form, "cleaned_data", None) or {}
        resource_kwargs["source"] = cleaned.get("source", "")
        return resource_kwargs

    def get_confirm_form_initial(self, request, import_form):
        initial = super().get_confirm_form_initial(request, import_form)
        if import_form is not None:
            initial["source"] = import_form.cleaned_data["source"]
        return initial

    def get_export_data(self, file_format, request, queryset, **kwargs):
        """As the library's, but numbers and dates stay typed in XLSX for our format classes too.

        (The library decides by exact class, which our subclasses of its formats are not.) Text is
        written in the export form's encoding: UTF-8 with a BOM by default, so Excel shows Chinese.
        """
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        export_data = file_format.export_data(data)
        if not file_format.is_binary():  # UTF-8 with a BOM unless the form chose another (issue 16)
            form = kwargs.get("export_form")
            chosen = (getattr(form, "cleaned_data", None) or {}).get("encoding")
            export_data = export_data.encode(encodings.export_codec(chosen))
        return export_data

    def process_result(self, result, request):
        """A confirmed import can still be refused (the data changed since the preview): say so."""
        if result.has_errors() or result.has_validation_errors():
            problems = result.problems
            listed = "; ".join(str(problem) for problem in problems[:MESSAGE_PROBLEMS])
            more = len(problems) - MESSAGE_PROBLEMS
            messages.error(
                request,
                _("Nothing was imported: {count} problem(s). {listed}{more}").format(
                    count=len(problems), listed=listed,
                    more=_(" … and {count} more.").format(count=more) if more > 0 else "",
                ),
            )
            info = self.get_model_info()
            return HttpResponseRedirect(reverse(f"admin:{info[0]}_{info[1]}_import", current_app=self.admin_site.name))
        return super().process_result(result, request)


class MemberImportExportMixin(RecordsImportExportMixin):
    resource_classes = [MemberResource]


class RelatedPersonImportExportMixin(RecordsImportExportMixin):
    resource_classes = [RelatedPersonResource]


class TransactionImportExportMixin(RecordsImportExportMixin):
    resource_classes = [TransactionRecordResource]


@admin.register(ImportBatch)
class ImportBatchAdmin(ReadOnlyAdmin):
    """Every committed import with its source (PP-16): read-only for everyone, superusers too.

    Written only by the imports themselves (``accounts.members.spreadsheets.writes.import_batch_record``).
    """

    list_display = ("imported_at", "model_label", "source", "imported_by", "total_rows", "new_rows",
                    "updated_rows", "unchanged_rows")
    list_filter = ("model_label",)
    list_select_related = ("imported_by",)
    search_fields = ("source",)
    search_help_text = _("Words of the source, e.g. the third party's name or the agreement reference.")
    raw_id_fields = ("imported_by",)
    readonly_fields = ("imported_at", "model_label", "source", "imported_by", "total_rows", "new_rows",
                       "updated_rows", "unchanged_rows")
    fields = readonly_fields
    show_full_result_count = False
    actions = None
