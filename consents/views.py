"""HTTP endpoints of the consents app: the SMS gateway's inbound replies (PP-12).

The gateway has no login: each request is authenticated by ``X-Signature``, the hex
HMAC-SHA256 under ``settings.SMS_GATEWAY_SECRET`` of ``"<X-Timestamp>.<raw body>"``, and the
timestamp must be within five minutes of our clock (a captured request cannot be replayed later).
A refused request writes nothing. The view parses and authenticates; ``sms_reply_receive`` acts.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from consents import signing
from consents.sms import sms_reply_receive

logger = logging.getLogger(__name__)

#: The signature the gateway sends (see ``consents.signing``).
sms_signature = signing.signature

MAX_BODY_BYTES = 16 * 1024
MAX_MESSAGE_ID_LENGTH = 100


def _refuse(status: int, reason: str) -> JsonResponse:
    # The reason names the rule, never a value from the request (it may hold a phone number).
    logger.warning("SMS inbound refused (%s): %s", status, reason)
    return JsonResponse({"error": reason}, status=status)


def _parse_time(value) -> datetime.datetime | None:
    """The reply's time: Unix seconds or ISO 8601 (naive means UTC); None when it is neither.

    Fuzz finding (tests/consents/test_fuzz_signed_endpoints.py): NaN, 1e999, seconds past the year
    9999, "²" (a digit to ``isdigit`` but not to ``int``) and dates such as 2025-13-45 raised
    ValueError or OverflowError, and the gateway got a 500 instead of a 400.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    try:
        if isinstance(value, int | float):
            return datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
        if isinstance(value, str) and value.strip():
            parsed = parse_datetime(value.strip())
            if parsed is not None and timezone.is_naive(parsed):
                parsed = parsed.replace(tzinfo=datetime.UTC)
            if parsed is not None:
                parsed.astimezone(datetime.UTC)  # an offset that moves it past the year 9999 or before 1
            return parsed
    except (OverflowError, OSError, ValueError):
        return None
    return None


@csrf_exempt  # a server-to-server call authenticated by its HMAC signature, not by a session
@require_POST
def sms_inbound(request: HttpRequest) -> JsonResponse:
    """Inbound SMS reply: ``{"message_id", "from", "text", "timestamp"}``, signed (see module doc)."""
    payload, refusal = signing.read_signed_json(request, secret=settings.SMS_GATEWAY_SECRET, max_bytes=MAX_BODY_BYTES)
    if refusal:
        return _refuse(*refusal)
    if not isinstance(payload, dict):
        return _refuse(400, "body is not a JSON object")
    message_id, phone, text = payload.get("message_id"), payload.get("from"), payload.get("text")
    received_at = _parse_time(payload.get("timestamp"))
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_MESSAGE_ID_LENGTH:
        return _refuse(400, "message_id must be a string of 1 to 100 characters")
    if not isinstance(phone, str) or not isinstance(text, str):
        return _refuse(400, "from and text must be strings")
    if received_at is None:
        return _refuse(400, "timestamp must be Unix seconds or ISO 8601")
    try:
        result = sms_reply_receive(message_id=message_id.strip(), phone=phone, text=text, received_at=received_at)
    except ValidationError:
        logger.exception("SMS reply could not be recorded")
        return _refuse(422, "the reply could not be recorded")
    return JsonResponse({"message_id": result.reply.message_id, "duplicate": not result.created})
