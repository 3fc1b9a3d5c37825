"""Signed server-to-server requests (the SMS gateway, the member web site and app).

The sender signs ``"<X-Timestamp>.<raw body>"`` with HMAC-SHA256 under a shared secret and sends the
hex digest in ``X-Signature``; a request signed more than ``REPLAY_WINDOW_SECONDS`` away from now is
refused as a replay.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

from django.http import HttpRequest

#: Signed requests older (or further in the future) than this are refused as replays.
REPLAY_WINDOW_SECONDS = 5 * 60
#: ``X-Timestamp``: Unix seconds, ASCII digits only.
TIMESTAMP_RE = re.compile(r"[0-9]{1,12}")


def signature(*, secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<raw body>"``."""
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def authentication_problem(request: HttpRequest, *, secret: str) -> str | None:
    """Why the request's signature is not acceptable (a fixed phrase, never a value), or ``None``."""
    timestamp = request.headers.get("X-Timestamp", "")
    sent = request.headers.get("X-Signature", "")
    if not timestamp or not sent:
        return "missing signature headers"
    expected = signature(secret=secret, timestamp=timestamp, body=request.body)
    # Bytes: compare_digest refuses non-ASCII text, and a header may carry anything.
    if not hmac.compare_digest(expected.encode(), sent.strip().lower().encode("utf-8", "replace")):
        return "bad signature"
    # Fuzz finding (tests/consents/test_fuzz_signed_endpoints.py): int() took a 400-digit timestamp
    # (and Arabic-Indic digits), whose comparison with the clock then failed with an OverflowError.
    if not TIMESTAMP_RE.fullmatch(timestamp):
        return "bad timestamp"
    signed_at = int(timestamp)
    if abs(time.time() - signed_at) > REPLAY_WINDOW_SECONDS:
        return "timestamp outside the replay window"
    return None


def read_signed_json(request: HttpRequest, *, secret: str, max_bytes: int):
    """The request's JSON body once its size and signature are checked.

    Returns ``(payload, None)``, or ``(None, (status, reason))`` saying why it is refused: 413 too
    large, 403 signature (see ``authentication_problem``), 400 not JSON. The reason is a fixed
    phrase, never a value of the request.
    """
    if len(request.body) > max_bytes:
        return None, (413, "body too large")
    problem = authentication_problem(request, secret=secret)
    if problem:
        return None, (403, problem)
    try:
        payload = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None, (400, "body is not JSON")
    except RecursionError:
        # Fuzz finding: a signed body of thousands of nested brackets exhausted the JSON decoder's
        # recursion and the view answered 500.
        return None, (400, "body is nested too deeply")
    if not storable_text(payload):
        return None, (400, "body holds text that cannot be stored (a NUL character or a lone surrogate)")
    return payload, None


def storable_text(payload) -> bool:
    """Whether every string of a decoded JSON value (keys too) can be stored as database text.

    Fuzz finding (tests/consents/test_fuzz_signed_endpoints.py): JSON may escape ``\\u0000`` and lone
    surrogates such as ``\\ud800``; PostgreSQL text holds neither, and the insert failed with a 500.
    """
    pending = [payload]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                return False
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True
