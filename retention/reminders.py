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
from django.template.loader import select_template
from django.utils import translation

from accounts.languages import ENGLISH, localized_templates, staff_language


@dataclass(frozen=True)
class DigestItem:
    """One line of a digest: a label without personal data, its due date and where to act on it."""

    label: str
    due: datetime.date
    path: str
    overdue: bool = False
    #: Issue 16: the parts of a request's line, so a template in another language words it itself
    #: (``label`` stays the English line). ``type_label`` is a lazy translation; ``more`` counts the
    #: requests an overflow line stands for.
    reference: str = ""
    type_label: object = ""
    days_left: int | None = None
    unassigned: bool = False
    more: int = 0


def send_digests(
    items_by_user: Mapping[object, Sequence[object]],
    *,
    subject: str | Mapping[str, str],
    template: str,
    context: dict | None = None,
) -> int:
    """Send each user with at least one item a single e-mail listing them; return the number sent.

    Issue 16: each digest is written in its recipient's language (``StaffUser.language``, else
    ``LANGUAGE_CODE``): the template ``<dir>/<language>/<name>`` (the English one without it), the
    subject from ``subject`` when it is a mapping of language to subject, rendered under
    ``translation.override`` so labels and dates follow it.

    One SMTP connection for the whole batch. Users without an e-mail address or inactive are
    skipped. A failure raises, so a caller that sends inside its transaction rolls its marks back
    and the next run sends again.
    """
    messages = []
    for user, items in items_by_user.items():
        if not items or not getattr(user, "email", "") or not getattr(user, "is_active", True):
            continue
        language = staff_language(user)
        with translation.override(language):
            body = select_template(localized_templates(template, language)).render(
                {**(context or {}), "user": user, "items": list(items)})
        text = subject if isinstance(subject, str) else (subject.get(language) or subject[ENGLISH])
        messages.append(
            EmailMessage(subject=text, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email])
        )
    if not messages:
        return 0
    with get_connection() as connection:
        return connection.send_messages(messages) or 0
