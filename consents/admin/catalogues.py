"""Catalogues: the legal grounds (read-only) and the purposes members consent to (PP-05, PP-17)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import ReadOnlyHistoryMixin
from accounts.privacy.admin_readonly import ReadOnlyAdmin
from consents.forms import (
    PurposeForm,
)
from consents.models import (
    LegalGround,
    Purpose,
)


# --- Catalogues ------------------------------------------------------------------------------------
@admin.register(LegalGround)
class LegalGroundAdmin(ReadOnlyAdmin):
    """The fixed catalogue of PP-17/PP-24/PP-35/PP-36, written by a data migration."""

    list_display = ("section", "position", "use", "wording_text", "code")
    list_filter = ("use",)
    search_fields = ("code", "wording")
    list_select_related = ()
    ordering = ("use", "position")

    @admin.display(description=_("policy wording"), ordering="wording")
    def wording_text(self, obj: LegalGround) -> str:
        return obj.wording_text


@admin.register(Purpose)
class PurposeAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin):
    form = PurposeForm
    list_display = ("code", "display_name", "kind", "is_biometric", "introduced_in")
    list_filter = ("kind", "is_biometric")
    search_fields = ("code", "name")
    list_select_related = ("introduced_in",)
    raw_id_fields = ("introduced_in",)

    @admin.display(description=_("name"), ordering="name")
    def display_name(self, obj: Purpose) -> str:
        return obj.display_name

    def get_readonly_fields(self, request, obj=None):
        # Code refers to a purpose from code and from the ledger's readers: fixed once created.
        return ("code",) if obj else ()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the ledger refers to purposes for ever
