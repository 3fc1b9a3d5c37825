"""Forms of the agents' queue: they parse input; the services decide (style rule 1)."""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from consents.choices import GroundUse
from consents.grounds.selectors import ground_records_for
from consents.models import LegalGround, ProcessingOnGround
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType, Severity, VerificationMethod
from requests_desk.letters import letter_choices
from requests_desk.messages import LOGGED_CHANNELS, MAX_LOGGED_ATTACHMENT_BYTES
from requests_desk.models import Request
from requests_desk.refusal_grounds import ground_wording


class QueueFilterForm(forms.Form):
    SCOPES = (("all", _("All open")), ("mine", _("Mine")), ("unassigned", _("Unassigned")))

    scope = forms.ChoiceField(label=_("Scope"), choices=SCOPES, required=False)
    due_within = forms.IntegerField(label=_("Due within (days)"), min_value=0, max_value=365, required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    type = forms.ChoiceField(label=_("Type"), choices=[("", _("Any type")), *RequestType.choices], required=False)


class MemberNumberField(forms.CharField):
    """A member named by member number (never by name or contact data)."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        member = Member.objects.filter(member_number=value.strip().upper()).first()
        if member is None:
            raise forms.ValidationError(gettext("No member has this member number."))
        return member


class IntakeForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=RequestType.choices)
    requester_kind = forms.ChoiceField(label=_("Requester"), choices=RequesterKind.choices)
    channel = forms.ChoiceField(label=_("Intake channel"), choices=IntakeChannel.choices)
    received_at = forms.DateTimeField(label=_("Received at"), required=False,
                                      help_text=_("Leave empty for now. Format: YYYY-MM-DD HH:MM."))
    member = MemberNumberField(label=_("Member number"), required=False,
                               help_text=_("The member the request is about, when known."))
    requester_name = forms.CharField(label=_("Requester's name"), max_length=200, required=False)
    requester_email = forms.EmailField(label=_("Requester's e-mail"), required=False,
                                       help_text=_("Replies are sent here; stored encrypted."))
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int,
                                      initial=Priority.NORMAL)
    severity = forms.ChoiceField(label=_("Severity"), choices=[("", "—"), *Severity.choices], required=False,
                                 help_text=_("Security reports only (PP-28)."))
    concerns = forms.CharField(label=_("Concerns request (reference)"), max_length=20, required=False,
                               help_text=_("Complaints: the reference of the request complained about (PP-34)."))
    subject = forms.CharField(label=_("Subject"), max_length=200, required=False)
    description = forms.CharField(label=_("Description"), widget=forms.Textarea(attrs={"rows": 5}), required=False)
    acknowledge = forms.BooleanField(label=_("Send the acknowledgement letter"), required=False, initial=True)

    def clean_concerns(self):
        reference = (self.cleaned_data.get("concerns") or "").strip().upper()
        if not reference:
            return None
        found = Request.objects.filter(reference=reference).first()
        if found is None:
            raise forms.ValidationError(gettext("No request has this reference."))
        return found

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise forms.ValidationError(gettext("A request cannot be received in the future."))
        return value


class NoteForm(forms.Form):
    note = forms.CharField(label=_("Note"), widget=forms.Textarea(attrs={"rows": 2}), required=False)


class FulfilForm(NoteForm):
    notify = forms.BooleanField(label=_("Send the fulfilment letter"), required=False, initial=True)


class RefuseForm(NoteForm):
    grounds = forms.ModelMultipleChoiceField(
        label=_("Grounds"),
        queryset=LegalGround.objects.filter(use__in=[GroundUse.REQUEST_REJECTION, GroundUse.CANNOT_RESPOND]),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The refusal names at least one ground; the reply states each (PP-35, PP-36)."),
    )
    ground_records = forms.ModelMultipleChoiceField(
        queryset=ProcessingOnGround.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("Processing on a legal ground relied on"),
        help_text=_("Approved records in force for this member (PP-17); the reply states each with its reference."),
    )
    notify = forms.BooleanField(label=_("Send the refusal letter"), required=False, initial=True)

    def __init__(self, *args, member_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grounds"].label_from_instance = lambda g: f"{g.section}: {ground_wording(g)}"
        records = self.fields["ground_records"]
        if member_id is None:
            del self.fields["ground_records"]
        else:
            records.queryset = ground_records_for(member=member_id)
            records.label_from_instance = (
                lambda r: f"#{r.pk} {r.purpose.name}: {r.ground.section} ({r.ground.position}); {r.reference[:80]}"
            )


class ExtendForm(NoteForm):
    due_on = forms.DateField(label=_("New due date"), help_text=_("YYYY-MM-DD"))
    notify = forms.BooleanField(label=_("Send the extension letter"), required=False, initial=True)

    def due_at(self, request: Request) -> datetime.datetime:
        """The new due date at the same time of day as the current one."""
        current = timezone.localtime(request.due_at)
        return timezone.make_aware(datetime.datetime.combine(self.cleaned_data["due_on"], current.time()))


class IdentityCheckForm(forms.Form):
    method = forms.ChoiceField(label=_("Method"), choices=VerificationMethod.choices)
    evidence = forms.CharField(label=_("Evidence"), widget=forms.Textarea(attrs={"rows": 2}),
                               help_text=_("What was checked, e.g. 'passport matched the account'."))
    authority_evidence = forms.CharField(
        label=_("Authority of guardian or agent"), widget=forms.Textarea(attrs={"rows": 2}), required=False,
        help_text=_("Guardians and agents: the proof of their authority to act for the member (PP-15)."),
    )


class ReplyForm(forms.Form):
    template = forms.ChoiceField(label=_("Letter"), choices=letter_choices)
    note = forms.CharField(label=_("Additional text"), widget=forms.Textarea(attrs={"rows": 4}), required=False)


class LetterLanguageForm(forms.Form):
    """Issue 16: the language the request's next letters are written in."""

    language = forms.ChoiceField(label=_("Letter language"), choices=settings.LANGUAGES)


class FeeForm(forms.Form):
    fee_amount = forms.DecimalField(label=_("Fee"), min_value=0, max_digits=10, decimal_places=2)
    fee_reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text=_("Why a fee is charged: a repeated or onerous request (PP-31)."))


class MemberForm(forms.Form):
    member = MemberNumberField(label=_("Member number"))


class ContactForm(forms.Form):
    """A phone call, letter or visit about this request, logged as an inbound message (PP-14)."""

    channel = forms.ChoiceField(label=_("Channel"), choices=[(c.value, c.label) for c in LOGGED_CHANNELS])
    summary = forms.CharField(label=_("Summary"), widget=forms.Textarea(attrs={"rows": 4}),
                              help_text=_("What the requester said or sent. Kept encrypted on the timeline."))
    received_at = forms.DateTimeField(label=_("When"), required=False,
                                      help_text=_("Leave empty for now. Format: YYYY-MM-DD HH:MM."))
    attachment = forms.FileField(label=_("Attachment"), required=False,
                                 help_text=_("Optional: a scan of the letter or a document handed in; stored "
                                             "encrypted."))

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise forms.ValidationError(gettext("A contact cannot have happened in the future."))
        return value

    def clean_attachment(self):
        upload = self.cleaned_data.get("attachment")
        if upload is not None and upload.size > MAX_LOGGED_ATTACHMENT_BYTES:
            raise forms.ValidationError(
                gettext("The file is larger than %(size)s MB.")
                % {"size": MAX_LOGGED_ATTACHMENT_BYTES // (1024 * 1024)})
        return upload
