"""The import and export of members (PP-06): by member number, individuals' identity fields, product lines by code.

Also the identity checks members share with related persons (``person_checks``): country code,
date of birth, e-mail address and phone number.
"""

from __future__ import annotations

import datetime
import re
from functools import lru_cache

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.fields import Field

from accounts.members.choices import MemberKind, MemberStatus, VerificationLevel
from accounts.members.spreadsheets.resource import RecordResource
from accounts.members.spreadsheets.widgets import (
    ChoiceWidget,
    DateTimeWidget,
    DateWidget,
    ProductLinesWidget,
    sensitive_text_field,
    text_field,
)
from accounts.models import Member, ProductLine


@lru_cache(maxsize=1)
def _user_regex() -> re.Pattern:
    """``validate_email``'s pattern for the part before the ``@``, compiled (it is a lazy object)."""
    return re.compile(validate_email.user_regex.pattern, validate_email.user_regex.flags)


@lru_cache(maxsize=256)
def _domain_passes(domain: str) -> bool:
    """``validate_email``'s check of the part after the ``@``, once per domain (few domains, many members)."""
    return domain in validate_email.domain_allowlist or validate_email.validate_domain_part(domain)


def _email_problem(value: str) -> str | None:
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


def _phone_problem(value: str) -> str | None:
    if not value:
        return None
    digits = len(_NOT_DIGIT.sub("", value))
    if not _PHONE.match(value) or not 6 <= digits <= 15:
        return _("Enter a phone number: 6 to 15 digits, optionally with +, spaces, dashes or parentheses.")
    return None


_COUNTRY = re.compile(r"^[A-Z]{2}$")


def person_checks(instance, today: datetime.date | None = None) -> dict[str, str]:
    """Identity checks shared by members and related persons (PP-06); ``today``: the import's day, read once."""
    problems = {}
    if instance.nationality and not _COUNTRY.match(instance.nationality):
        problems["nationality"] = _("Enter a two-letter ISO 3166 country code, e.g. CN.")
    if instance.date_of_birth and instance.date_of_birth > (today or timezone.localdate()):
        problems["date_of_birth"] = _("The date of birth is in the future.")
    for name, check in (("email", _email_problem), ("phone", _phone_problem)):
        problem = check(getattr(instance, name))
        if problem:
            problems[name] = problem
    return problems


class MemberResource(RecordResource):
    """Members by member number (PP-06): individuals' identity fields and product lines by code."""

    member_number = text_field("member_number")
    kind = Field(attribute="kind", column_name="kind", widget=ChoiceWidget(MemberKind))
    status = Field(attribute="status", column_name="status", widget=ChoiceWidget(MemberStatus))
    verification_level = Field(
        attribute="verification_level", column_name="verification_level", widget=ChoiceWidget(VerificationLevel)
    )
    registered_at = Field(attribute="registered_at", column_name="registered_at", widget=DateTimeWidget())
    cancelled_at = Field(attribute="cancelled_at", column_name="cancelled_at", widget=DateTimeWidget())
    nationality = text_field("nationality", upper=True)
    legal_name = text_field("legal_name")
    local_name = text_field("local_name")
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget())
    email = sensitive_text_field("email")
    phone = sensitive_text_field("phone")
    product_lines = Field(attribute="product_lines", column_name="product_lines", widget=ProductLinesWidget())

    required_columns = ("member_number",)
    # Blind indexes follow their source in ``record_writes.records_bulk_save``; the birth year is ours to keep.
    derived_fields = {"date_of_birth": ("birth_year",)}

    class Meta(RecordResource.Meta):
        model = Member
        name = gettext_lazy("Members")
        fields = (
            "member_number", "kind", "status", "verification_level", "registered_at", "cancelled_at",
            "nationality", "legal_name", "local_name", "date_of_birth", "email", "phone", "product_lines",
        )
        import_id_fields = ["member_number"]

    def get_queryset(self):
        # The preview and the unchanged-row check read product lines: prefetched, not one query a row.
        return super().get_queryset().prefetch_related("product_lines")

    def prepare(self, dataset) -> None:
        if "product_lines" in self._columns:
            self.fields["product_lines"].widget.by_code = {line.code: line for line in ProductLine.objects.all()}

    streams = True

    def prepare_rows(self, rows: list[dict]) -> None:
        if self.fields["product_lines"].widget.by_code is None:
            self.prepare(None)

    def record_checks(self, instance) -> dict[str, str]:
        return person_checks(instance, self.today)

    def prepare_for_write(self, instance) -> None:
        # Member.save() keeps the plain birth year beside the encrypted date; bulk writes skip save().
        instance.birth_year = instance.date_of_birth.year if instance.date_of_birth else None

    def optimise_export(self, queryset):
        return queryset.prefetch_related("product_lines")
