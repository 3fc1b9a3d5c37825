"""Import/export wiring for the member admins (django-import-export), issue 3 requirement 10.

The admin classes in ``accounts.admin`` put these mixins first in their bases. Each mixin is the
library's ``ImportExportMixin`` configured for one model:

- import only with ``accounts.import_members`` (compliance officers, supervisors); everyone else
  gets no import button and a 403 on the import URLs;
- export with the model's view permission; sensitive columns masked unless the user may reveal
  them, in which case the export writes one access-log row (PP-25);
- CSV and XLSX only; formulas escaped on export; every row checked, all or nothing on import, and
  the error report lists line, column and reason (never a value).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from import_export.admin import ImportExportMixin

from accounts.resources import CSV, XLSX, MemberResource, RelatedPersonResource, TransactionRecordResource

IMPORT_PERMISSION = "accounts.import_members"
#: Problems listed in the message shown when a confirmed import is refused after all.
MESSAGE_PROBLEMS = 20


class RecordsImportExportMixin(ImportExportMixin):
    import_formats = [CSV, XLSX]
    export_formats = [CSV, XLSX]
    import_template_name = "admin/import_export/accounts_import.html"

    def has_import_permission(self, request) -> bool:
        return request.user.has_perm(IMPORT_PERMISSION)

    def has_export_permission(self, request) -> bool:
        return self.has_view_permission(request)

    def get_resource_kwargs(self, request, *args, **kwargs):
        kwargs = super().get_resource_kwargs(request, *args, **kwargs)
        # The resource masks or logs by this user; the IP goes to the access log (PP-25).
        kwargs.update(user=request.user, ip_address=request.META.get("REMOTE_ADDR"))
        return kwargs

    def get_export_data(self, file_format, request, queryset, **kwargs):
        """As the library's, but numbers and dates stay typed in XLSX for our format classes too.

        (The library decides by exact class, which our subclasses of its formats are not.)
        """
        if not self.has_export_permission(request):
            raise PermissionDenied
        data = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        export_data = file_format.export_data(data)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
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
                    count=len(problems), listed=listed, more=f" … and {more} more." if more > 0 else ""
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
