"""Fulfilling an access request (PP-29): the access package with its expiring link, in the letter."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from requests_desk import access_package
from requests_desk.choices import IntakeChannel, RequestType
from requests_desk.fulfilment.base import expect_member, expect_type, load_request, reply, transition_fulfil
from requests_desk.models import Message, Request


def access_request_fulfil(*, request: Request | int, user, note: str = "", notify: bool = True) -> Request:
    """Approve an access request: build the package and send the requester its expiring link."""
    request = load_request(request)
    expect_type(request, RequestType.ACCESS)
    expect_member(request)
    if not notify:
        # The link's token is never stored: the letter is the only way the requester can get it.
        raise ValidationError("An access package is delivered by its letter (the link is not kept): send it.")
    built = None
    try:
        with transaction.atomic():
            updated = transition_fulfil(request, user, note)
            built = access_package.access_package_build(request=updated, user=user)
            hours = settings.ACCESS_PACKAGE_LINK_HOURS
            expires = timezone.localtime(built.package.expires_at)
            outcome = (
                "A copy of your personal data is ready: one file per data category, in JSON and CSV, with a "
                "README explaining them.\n"
                f"Download it here (the link works for {hours} hours, until {expires:%Y-%m-%d %H:%M %Z}):\n"
                f"{built.link}\n"
                "Every download is recorded. Keep the file safe: it contains your identity and account details."
            )
            sent = reply(updated, user, outcome=outcome, note=note, notify=notify)
            if sent is not None and sent.channel == IntakeChannel.EMAIL:
                # Only the token's hash is kept (PP-29): the copy of the e-mail kept on the request
                # shows where the link was, not the link. (A postal letter keeps it: it is printed.)
                body = sent.body.replace(built.token, "<link token withheld: only its hash is kept>")
                Message.objects.filter(pk=sent.pk).update(body=body)
    except BaseException:
        if built is not None:
            access_package.package_file_discard(built.package)  # its row was rolled back
        raise
    return updated
