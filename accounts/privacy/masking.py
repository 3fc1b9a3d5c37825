"""Masked display of sensitive values (PP-25): what every screen shows by default."""

from __future__ import annotations

import datetime

from accounts.privacy.datamap import Mask

HIDDEN = "••••••"


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def mask_value(value, mask: Mask | str) -> str:
    """Mask ``value`` for display. Empty values show as an empty string."""
    if value is None or value == "":
        return ""
    mask = Mask(mask)
    if mask == Mask.NONE:
        return str(value)
    if mask == Mask.ID_NUMBER:
        text = str(value).replace(" ", "")
        if len(text) <= 7:
            return "*" * len(text)
        return text[:3] + "*" * (len(text) - 7) + text[-4:]
    if mask in (Mask.CARD, Mask.PHONE):
        digits = _digits(str(value))
        return "**** " + digits[-4:] if len(digits) > 4 else "****"
    if mask == Mask.EMAIL:
        text = str(value)
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}" if domain else "***"
    if mask == Mask.DATE:
        if isinstance(value, datetime.date):
            return "****-**-**"
        return HIDDEN
    return HIDDEN
