"""The import and export of institutions' representatives and owners (PP-07), keyed to the institution's member number.

An ``id`` from an earlier export updates that person; an empty id adds a new one. A person is never
moved between institutions, and belongs to an institution, never to an individual member.
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from import_export.fields import Field

from accounts.members.choices import MemberKind, RelatedPersonRole
from accounts.members.spreadsheets.members import person_checks
from accounts.members.spreadsheets.resource import RecordResource
from accounts.members.spreadsheets.widgets import (
    ChoiceWidget,
    DateWidget,
    DecimalWidget,
    IdWidget,
    MemberNumberWidget,
    members_named_in,
    sensitive_text_field,
    text_field,
)
from accounts.models import RelatedPerson


class RelatedPersonResource(RecordResource):
    """Institutions' representatives and owners (PP-07), keyed to the institution's member number.

    ``id`` (from an earlier export) updates that person; an empty id adds a new one.
    """

    id = Field(attribute="id", column_name="id", widget=IdWidget())
    member = Field(attribute="member", column_name="member_number", widget=MemberNumberWidget())
    role = Field(attribute="role", column_name="role", widget=ChoiceWidget(RelatedPersonRole))
    ownership_share = Field(attribute="ownership_share", column_name="ownership_share", widget=DecimalWidget())
    legal_name = text_field("legal_name")
    local_name = text_field("local_name")
    nationality = text_field("nationality", upper=True)
    date_of_birth = Field(attribute="date_of_birth", column_name="date_of_birth", widget=DateWidget())
    email = sensitive_text_field("email")
    phone = sensitive_text_field("phone")

    required_columns = ("member_number",)
    resolved_fields = ("member",)

    class Meta(RecordResource.Meta):
        model = RelatedPerson
        name = gettext_lazy("Related persons")
        fields = (
            "id", "member", "role", "ownership_share", "legal_name", "local_name", "nationality",
            "date_of_birth", "email", "phone",
        )
        import_id_fields = ["id"]

    def get_queryset(self):
        return super().get_queryset().select_related("member")

    def prepare(self, dataset) -> None:
        self.fields["member"].widget.members = members_named_in(dataset)

    def import_instance(self, instance, row, **kwargs):
        errors = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as exc:
            errors = exc.message_dict
        if instance._state.adding and instance.id is not None and "id" not in errors:
            errors["id"] = [_("No related person has this id; leave it empty to add a new person.")]
        if errors:
            raise ValidationError(errors)

    def get_or_init_instance(self, instance_loader, row):
        instance, new = super().get_or_init_instance(instance_loader, row)
        # Remembered before the row's member number is applied: a person is not moved between institutions.
        instance._import_owner_id = None if new else instance.member_id
        return instance, new

    def record_checks(self, instance) -> dict[str, str]:
        problems = person_checks(instance)
        share = instance.ownership_share
        if share is not None and not Decimal(0) <= share <= Decimal(100):
            problems["ownership_share"] = _("The ownership share must be between 0 and 100.")
        member = instance.member if instance.member_id else None
        if member is not None and member.kind != MemberKind.INSTITUTION:
            problems["member"] = _("This member is not an institution; related persons belong to institutions.")
        if getattr(instance, "_import_owner_id", None) not in (None, instance.member_id):
            problems["member"] = _("This person belongs to another institution; a person cannot be moved.")
        return problems

    def optimise_export(self, queryset):
        return queryset.select_related("member")
