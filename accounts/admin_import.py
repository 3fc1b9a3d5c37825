"""Import/export wiring for the member admins (django-import-export).

Placeholders until the import/export work lands: the admin classes inherit these mixins.
"""


class MemberImportExportMixin:
    pass


class RelatedPersonImportExportMixin:
    pass


class TransactionImportExportMixin:
    pass
