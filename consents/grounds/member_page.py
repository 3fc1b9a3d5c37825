"""The member's admin page panel of processing on legal grounds (PP-17).

``accounts`` imports no other app: ``ConsentsConfig.ready()`` registers ``member_page_grounds`` into
``accounts.members.hooks.member_page_panels``, and the member's page shows what it returns.
"""

from __future__ import annotations

from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from consents.grounds.models import GroundStatus
from consents.grounds.selectors import ground_records_all_for

#: Records shown on the member's page (the newest; the register lists them all).
MEMBER_PAGE_LIMIT = 20


def member_page_grounds(request, member) -> tuple[str, str] | None:
    """The member's page panel (``accounts.members.hooks``): processing on legal grounds, one query."""
    if not request.user.has_perm("consents.view_processingonground"):
        return None
    records = list(ground_records_all_for(member=member)[:MEMBER_PAGE_LIMIT])
    label = str(_("Processing without consent on a legal ground (PP-17)"))
    if not records:
        return label, format_html("{}", _("None recorded."))
    rows = (
        (
            reverse("admin:consents_processingonground_change", args=[r.pk]), str(r), r.purpose.display_name,
            f"{r.ground.section} ({r.ground.position})", r.ground.wording_text, r.reference,
            "" if r.member_id else f" — {r.applies_to}", GroundStatus(r.status).label,
        )
        for r in records
    )
    html = format_html_join(
        "", gettext('<div><a href="{}">{}</a>: {} — {} {}; reference: {}{} — <em>{}</em></div>'), rows
    )
    return label, html
