"""Records nobody edits or deletes in the admin: one rule for every app's registers and ledgers."""

from __future__ import annotations

from django.contrib import admin


class NoDeleteMixin:
    """Members' records leave only through erasure (retention), which honours legal holds (PP-02)."""

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyMixin(NoDeleteMixin):
    """Append-only or imported records (devices, transactions, the access log): nobody edits them here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """A register or ledger: viewable by whoever may view the model; nobody adds, changes or deletes
    (superusers included). The one read-only admin every app uses (issue 13 requirement 4)."""
