"""What the member-record admins share: a member column linking to the member's page, and the
search by exact member number or by name."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.members.names import name_search_q


class MemberColumnMixin:
    """A "member" column naming the member by number, linked to its page (needs select_related)."""

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_column(self, obj):
        url = reverse("admin:accounts_member_change", args=[obj.member_id])
        return format_html('<a href="{}">{}</a>', url, obj.member.member_number)


def member_filtered_url(model, member_pk) -> str:
    url = reverse(f"admin:accounts_{model._meta.model_name}_changelist")
    return f"{url}?member__id__exact={member_pk}"


class NameSearchMixin:
    """Search by the member's exact number or by the row's own names (issue 16, ``accounts.members.names``).

    Used with ``TokenSearchMixin``, so a searched name never reaches a URL. The name lookup is one
    condition of the page's query, served by the table's trigram index on PostgreSQL.
    """

    search_fields = ("member__member_number",)  # see get_search_results
    search_help_text = _(
        "Exact member number, or a name: any part of it, in Chinese or latin letters, accents and case ignored."
    )

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(member__member_number=term.upper())
        by_name = name_search_q(term)
        if by_name is not None:
            match |= by_name
        return queryset.filter(match), False
