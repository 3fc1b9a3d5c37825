"""The import and export of members (PP-06): by member number, individuals' identity fields, product lines by code.

Also the identity checks members share with related persons (``person_checks``, value by value in
``identity_checks``): country code, date of birth, e-mail address and phone number. New members are
checked a column at a time (``member_columns``).
"""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.fields import Field

from accounts.members.choices import MemberKind, MemberStatus, VerificationLevel
from accounts.members.spreadsheets import member_columns
from accounts.members.spreadsheets.identity_checks import COUNTRY, email_problem, phone_problem
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


def person_checks(instance, today: datetime.date | None = None) -> dict[str, str]:
    """Identity checks shared by members and related persons (PP-06); ``today``: the import's day, read once."""
    problems = {}
    if instance.nationality and not COUNTRY.match(instance.nationality):
        problems["nationality"] = _("Enter a two-letter ISO 3166 country code, e.g. CN.")
    if instance.date_of_birth and instance.date_of_birth > (today or timezone.localdate()):
        problems["date_of_birth"] = _("The date of birth is in the future.")
    for name, check in (("email", email_problem), ("phone", phone_problem)):
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
    #: New members are checked a column at a time (``spreadsheets.columnar``), no instance per good row.
    column_plan = member_columns.MemberColumns

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
