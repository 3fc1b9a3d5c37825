"""The staff-user admin: back-office logins, their roles (groups) and their history."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from accounts.privacy.admin_mixins import ReadOnlyHistoryMixin
from accounts.staff.models import StaffUser


class StaffUserCreationForm(AdminUserCreationForm):
    class Meta:
        model = StaffUser
        fields = ("email", "full_name")


class StaffUserChangeForm(UserChangeForm):
    class Meta:
        model = StaffUser
        fields = "__all__"


@admin.register(StaffUser)
class StaffUserAdmin(ReadOnlyHistoryMixin, SimpleHistoryAdmin, UserAdmin):
    form = StaffUserChangeForm
    add_form = StaffUserCreationForm
    ordering = ("email",)
    list_display = ("email", "full_name", "role_names", "is_active", "is_superuser", "last_login")
    list_filter = ("is_active", "is_superuser", "groups")
    search_fields = ("email", "full_name")
    readonly_fields = ("last_login", "date_joined")
    filter_horizontal = ("groups",)
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Person"), {"fields": ("full_name", "language")}),
        (_("Roles"), {"fields": ("is_active", "is_staff", "is_superuser", "groups")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )

    def get_queryset(self, request):
        # role_names reads groups: one prefetch for the page instead of a query per row.
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description=_("roles"))
    def role_names(self, obj: StaffUser) -> str:
        return ", ".join(sorted(group.name for group in obj.groups.all())) or "—"
