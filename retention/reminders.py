"""The reminder mechanism: one digest e-mail per staff user per run.

Reviews and assessments (PP-27) use it now; the request desk's due-date reminders (PP-34) reuse it:
a caller collects ``{staff user: [DigestItem, …]}``, marks the items reminded with a compare-and-set in its
own transaction, and calls ``send_digests``. Items are rendered with ``str(item)`` and whatever the
template reads from them, so they must carry no personal data beyond a member number.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.template.loader import render_to_string


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest: a label without personal data, its due date and where to act on it."""

    label: str
    due: datetime.date
    path: str
    overdue: bool = False


def send_digests(
    items_by_user: Mapping[object, Sequence[object]],
    *,
    subject: str,
    template: str,
    context: dict | None = None,
) -> int:
    """Send each user with at least one item a single e-mail listing them; return the number sent.

    One SMTP connection for the whole batch. Users without an e-mail address or inactive are
    skipped. A failure raises, so a caller that sends inside its transaction rolls its marks back
    and the next run sends again.
    """
    messages = []
    for user, items in items_by_user.items():
        if not items or not getattr(user, "email", "") or not getattr(user, "is_active", True):
            continue
        body = render_to_string(template, {**(context or {}), "user": user, "items": list(items)})
        messages.append(
            EmailMessage(subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
        )
    if not messages:
        return 0
    with get_connection() as connection:
        return connection.send_messages(messages) or 0
