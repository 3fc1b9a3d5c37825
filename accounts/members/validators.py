"""Validation of identity-document numbers per kind and country (PP-06), with python-stdnum.

Errors are keyed to the ``number`` field and name the rule that failed; they never repeat the
number itself (it could end up in logs).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from stdnum.exceptions import InvalidChecksum, InvalidComponent, InvalidFormat, InvalidLength
from stdnum.exceptions import ValidationError as StdnumError

from accounts.members.choices import DocumentKind

# (kind, issuing country) -> (stdnum module path, rule name shown to the officer)
STDNUM_RULES: dict[tuple[str, str], tuple[str, str]] = {
    (DocumentKind.NATIONAL_ID, "CN"): ("stdnum.cn.ric", _("PRC resident identity card number (GB 11643)")),
    (DocumentKind.NATIONAL_ID, "KR"): ("stdnum.kr.rrn", _("Korean resident registration number")),
    (DocumentKind.NATIONAL_ID, "IN"): ("stdnum.in_.aadhaar", _("Indian Aadhaar number")),
    (DocumentKind.NATIONAL_ID, "DE"): ("stdnum.de.idnr", _("German tax identification number (IdNr)")),
    (DocumentKind.NATIONAL_ID, "FR"): ("stdnum.fr.nir", _("French social-security number (NIR)")),
    (DocumentKind.SOCIAL_SECURITY, "US"): ("stdnum.us.ssn", _("US social-security number")),
    (DocumentKind.SOCIAL_SECURITY, "FR"): ("stdnum.fr.nir", _("French social-security number (NIR)")),
    (DocumentKind.COMPANY_REGISTRATION, "CN"): ("stdnum.cn.uscc", _("PRC unified social credit code")),
    (DocumentKind.COMPANY_REGISTRATION, "GB"): ("stdnum.gb.utr", _("UK unique taxpayer reference")),
}

# ICAO 9303: passport numbers are up to 9 letters and digits.
PASSPORT = re.compile(r"^[A-Z0-9]{5,9}$")
# Spaces and dashes between digit groups are never part of a number.
_SEPARATORS = re.compile(r"[\s\-]")
NEEDS_NUMBER = {
    DocumentKind.NATIONAL_ID,
    DocumentKind.PASSPORT,
    DocumentKind.DRIVER_LICENCE,
    DocumentKind.SOCIAL_SECURITY,
    DocumentKind.COMPANY_REGISTRATION,
}

_REASONS = (
    (InvalidChecksum, _("the check digit does not match")),
    (InvalidLength, _("it has the wrong length")),
    (InvalidFormat, _("it has the wrong format")),
    (InvalidComponent, _("a part of it (e.g. birth date or region code) is not valid")),
)


def _reason(exc: StdnumError) -> str:
    for cls, text in _REASONS:
        if isinstance(exc, cls):
            return text
    return _("it is not valid")


def validate_document_number(*, kind: str, country: str, number: str | None) -> str:
    """Validate and return the compact form of ``number``; raise a field-keyed ValidationError."""
    from importlib import import_module

    number = (number or "").strip()
    country = (country or "").upper()
    if not number:
        if kind in NEEDS_NUMBER:
            raise ValidationError({"number": _("A number is required for this kind of document.")})
        return ""
    rule = STDNUM_RULES.get((kind, country))
    if rule:
        module_path, rule_name = rule
        module = import_module(module_path)
        try:
            # Some stdnum modules keep inner spaces (cn.ric): fold what people type between groups.
            return module.validate(_SEPARATORS.sub("", number))
        except StdnumError as exc:
            raise ValidationError(
                {"number": _("Not a valid %(rule)s: %(reason)s.") % {"rule": rule_name, "reason": _reason(exc)}},
                code="invalid_document_number",
            ) from None
    if kind == DocumentKind.PASSPORT:
        compact = _SEPARATORS.sub("", number).upper()
        if not PASSPORT.match(compact):
            raise ValidationError(
                {"number": _("Not a valid passport number (ICAO 9303): use 5 to 9 letters and digits.")},
                code="invalid_document_number",
            )
        return compact
    return number
