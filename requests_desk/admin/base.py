"""What the request desk's admin pages share: the empty cell, member links, service errors as text."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import format_html

EMPTY = "—"


def error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return "; ".join(text for texts in exc.message_dict.values() for text in texts)
        return "; ".join(exc.messages)
    return str(exc) or type(exc).__name__


def member_link(member) -> str:
    if member is None:
        return EMPTY
    url = reverse("admin:accounts_member_change", args=[member.pk])
    return format_html('<a href="{}">{}</a>', url, member.member_number)
