"""What the member-record admins share: a member column linking to the member's page."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _


class MemberColumnMixin:
    """A "member" column naming the member by number, linked to its page (needs select_related)."""

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_column(self, obj):
        url = reverse("admin:accounts_member_change", args=[obj.member_id])
        return format_html('<a href="{}">{}</a>', url, obj.member.member_number)


def member_filtered_url(model, member_pk) -> str:
    url = reverse(f"admin:accounts_{model._meta.model_name}_changelist")
    return f"{url}?member__id__exact={member_pk}"
