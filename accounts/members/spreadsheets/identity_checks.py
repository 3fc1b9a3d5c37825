"""The checks of a person's identity cells that members and related persons share (PP-06), value by value.

``members.person_checks`` runs them on a row's instance (the general path);
``member_columns.MemberColumns`` on a column's values (the column path): one definition, so both
paths refuse the same values with the same messages.
"""

from __future__ import annotations

import re
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _


@lru_cache(maxsize=1)
def _user_regex() -> re.Pattern:
    """``validate_email``'s pattern for the part before the ``@``, compiled (it is a lazy object)."""
    return re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)


@lru_cache(maxsize=256)
def _domain_passes(domain: str) -> bool:
    """``validate_email``'s check of the part after the ``@``, once per domain (few domains, many members)."""
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def email_problem(value: str) -> str | None:
    if not value:
        return None
    # ``validate_email``'s own steps when they pass (issue 15: the domain's, cached); any other value is its.
    if "@" in value and len(value) <= 320:
        user, domain = value.rsplit("@", 1)
        if _user_regex().match(user) and _domain_passes(domain):
            return None
    try:
        validate_email(value)
    except ValidationError:
        return _("Enter a valid e-mail address.")
    return None


_PHONE = re.compile(r"^\+?[0-9 ().\-/]+$")
_NOT_DIGIT = re.compile(r"\D")


def phone_problem(value: str) -> str | None:
    if not value:
        return None
    digits = len(_NOT_DIGIT.sub("", value))
    if not _PHONE.match(value) or not 6 <= digits <= 15:
        return _("Enter a phone number: 6 to 15 digits, optionally with +, spaces, dashes or parentheses.")
    return None


COUNTRY = re.compile(r"^[A-Z]{2}$")
