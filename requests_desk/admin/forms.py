"""Forms of the request admin: the edit form, the bulk actions' intermediate forms and the forms that
prepare a fulfilment (proposed correction, purposes withdrawn, severity) through the services."""

from __future__ import annotations

import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import StaffUser
from accounts.privacy.forms import SensitiveModelForm
from consents.choices import PurposeKind
from consents.models import Purpose
from requests_desk.choices import RequestType, Severity
from requests_desk.fulfilment import consent_withdrawal, correction, reports
from requests_desk.models import Request
from requests_desk.states import OPEN_STATES


# --- Intermediate forms of the bulk actions --------------------------------------------------------------
class CloseDuplicatesForm(forms.Form):
    note = forms.CharField(label=_("Why they are duplicates"), widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Recorded on each request's transition, e.g. the reference it repeats."))


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(label=_("Assign to"), queryset=StaffUser.objects.none())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Staff who work the queue (agents, compliance, supervisors): one query.
        self.fields["assignee"].queryset = (
            StaffUser.objects.filter(is_active=True)
            .filter(Q(groups__permissions__codename="work_queue") | Q(is_superuser=True))
            .distinct()
            .order_by("full_name", "pk")
        )
        self.fields["assignee"].label_from_instance = lambda user: f"{user.full_name or user} ({user})"


class ExtendForm(forms.Form):
    due_on = forms.DateField(label=_("New due date"), widget=forms.DateInput(attrs={"type": "date"}))
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3}),
                             help_text=_("Told to the requester in the extension letter (PP-34)."))
    notify = forms.BooleanField(label=_("Send the extension letter"), required=False, initial=True)

    def due_at(self) -> datetime.datetime:
        day = self.cleaned_data["due_on"]
        # End of the chosen day in the site's time zone.
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(23, 59)))


class FulfilForm(forms.Form):
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Added to the reply sent to each requester."))
    notify = forms.BooleanField(label=_("Send the fulfilment letter"), required=False, initial=True)


# --- Preparing a fulfilment (one request) -------------------------------------------------------------
class CorrectionPrepareForm(forms.Form):
    """The proposed change: one optional input per correctable member field (data map)."""

    title = _("Propose the correction")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, label in correction.correctable_fields().items():
            self.fields[name] = forms.CharField(label=label, required=False,
                                                help_text=_("YYYY-MM-DD") if name == "date_of_birth" else "")

    def apply(self, obj, user) -> None:
        changes = {name: value for name, value in self.cleaned_data.items() if value not in (None, "")}
        correction.correction_propose(request=obj, changes=changes, user=user)


class WithdrawalPrepareForm(forms.Form):
    title = _("Purposes the member withdraws")
    purposes = forms.ModelMultipleChoiceField(label=_("Purposes"), queryset=Purpose.objects.none(),
                                              widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Basic purposes are not withdrawn one by one (PP-04): only the additional ones are offered.
        self.fields["purposes"].queryset = Purpose.objects.filter(kind=PurposeKind.ADDITIONAL).order_by("name")

    def apply(self, obj, user) -> None:
        consent_withdrawal.consent_withdrawal_propose(request=obj, purposes=self.cleaned_data["purposes"], user=user)


class SeverityForm(forms.Form):
    title = _("Grade the security report")
    severity = forms.ChoiceField(label=_("Severity"), choices=Severity.choices)

    def apply(self, obj, user) -> None:
        reports.security_report_set_severity(request=obj, severity=self.cleaned_data["severity"], user=user)


PREPARE_FORMS = {
    RequestType.CORRECTION: CorrectionPrepareForm,
    RequestType.CONSENT_WITHDRAWAL: WithdrawalPrepareForm,
    RequestType.SECURITY_REPORT: SeverityForm,
}


# --- The request's edit form ---------------------------------------------------------------------------
class RequestAdminForm(SensitiveModelForm):
    """The few fields edited here; the requester's e-mail only through the masked "replace" input."""

    class Meta:
        model = Request
        fields = ("priority", "member", "concerns", "subject", "requester_email")

    def clean(self):
        cleaned = super().clean()
        instance = self.instance
        if instance.pk and instance.status not in OPEN_STATES:
            raise ValidationError(_("This request is closed: it is no longer edited."))
        if "member" in self.changed_data and instance.pk and instance.identity_checks.exists():
            self.add_error("member", _("The requester was already verified against the member (PP-30)."))
        if cleaned.get("concerns") is not None and instance.type != RequestType.COMPLAINT:
            self.add_error("concerns", _("Only a complaint concerns another request."))
        if cleaned.get("concerns") is not None and cleaned["concerns"].pk == instance.pk:
            self.add_error("concerns", _("A complaint cannot concern itself."))
        return cleaned
