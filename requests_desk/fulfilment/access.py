"""Fulfilling an access request (PP-29): the approval commits, the worker builds the package.

Building a large member's package takes longer than an HTTP request may (a trader with a million
orders: about 30 s), so the approval only records the decision and a ``building`` package; the
Celery worker builds it and sends the requester the letter with its expiring link when it is ready
(``requests_desk.package_build``). The request page shows the build's progress and any failure.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from requests_desk import access_package, package_build
from requests_desk.choices import RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, transition_fulfil
from requests_desk.models import Request


def access_request_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Approve an access request: the decision and a ``building`` package now, the build after commit."""
    request = load_request(request)
    expect_type(request, RequestType.ACCESS)
    expect_member(request)
    if not notify:
        # The link's token is never stored: the letter is the only way the requester can get it.
        raise ValidationError(_("An access package is delivered by its letter (the link is not kept): send it."))
    access_package.package_check(request=request, user=user)
    with transaction.atomic():
        updated = transition_fulfil(request, user, note)
        package_build.access_package_start(request=updated, user=user)
    return updated
