"""Extension points that other apps register into, so that ``accounts`` never imports them.

Imports run one way (design card): ``consents`` may import ``accounts``, never the reverse. When a
rule of another app must run inside an ``accounts`` model, that app appends a callable here from its
``AppConfig.ready()`` and the model calls :func:`run_document_store_checks`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import models

#: A check receives the ``accounts.models.IdentityDocument`` being stored. Typed as any model so
#: that this module imports no model: the models call into it, never the reverse.
DocumentCheck = Callable[[models.Model], None]

#: Called by ``IdentityDocument.clean()`` before a document is stored. Each check raises a
#: field-keyed ``ValidationError`` to refuse it (e.g. consents: a face capture needs a biometric
#: grant, PP-10). Registered by other apps in their ``ready()``.
document_store_checks: list[DocumentCheck] = []


def register_document_store_check(check: DocumentCheck) -> DocumentCheck:
    """Add ``check`` once (``ready()`` may run more than once in tests); usable as a decorator."""
    if check not in document_store_checks:
        document_store_checks.append(check)
    return check


def run_document_store_checks(document: models.Model) -> None:
    for check in list(document_store_checks):
        check(document)


#: A panel of the member's admin page kept by another app: receives the request and the member,
#: returns ``(label, html)`` (html built with ``format_html``) or None when the user may not see it.
#: consents registers the member's processing on legal grounds (PP-17).
MemberPagePanel = Callable[[object, models.Model], "tuple[str, str] | None"]
member_page_panels: list[MemberPagePanel] = []


def register_member_page_panel(panel: MemberPagePanel) -> MemberPagePanel:
    """Add ``panel`` once; usable as a decorator."""
    if panel not in member_page_panels:
        member_page_panels.append(panel)
    return panel


def member_page_panels_render(request, member: models.Model) -> list[tuple[str, str]]:
    return [shown for panel in list(member_page_panels) if (shown := panel(request, member)) is not None]
