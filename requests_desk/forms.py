"""Forms of the agents' queue: they parse input; the services decide (style rule 1)."""

from __future__ import annotations

import datetime

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from consents.choices import GroundUse
from consents.grounds.selectors import ground_records_for
from consents.models import LegalGround, ProcessingOnGround
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType, Severity, VerificationMethod
from requests_desk.letters import letter_choices
from requests_desk.messages import LOGGED_CHANNELS, MAX_LOGGED_ATTACHMENT_BYTES
from requests_desk.models import Request


class QueueFilterForm(forms.Form):
    SCOPES = (("all", "All open"), ("mine", "Mine"), ("unassigned", "Unassigned"))

    scope = forms.ChoiceField(choices=SCOPES, required=False)
    due_within = forms.IntegerField(label="Due within (days)", min_value=0, max_value=365, required=False)
    overdue = forms.BooleanField(label="Overdue only", required=False)
    type = forms.ChoiceField(choices=[("", "Any type"), *RequestType.choices], required=False)


class MemberNumberField(forms.CharField):
    """A member named by member number (never by name or contact data)."""

    def clean(self, value):
        value = super().clean(value)
        if not value:
            return None
        member = Member.objects.filter(member_number=value.strip().upper()).first()
        if member is None:
            raise forms.ValidationError("No member has this member number.")
        return member


class IntakeForm(forms.Form):
    type = forms.ChoiceField(choices=RequestType.choices)
    requester_kind = forms.ChoiceField(label="Requester", choices=RequesterKind.choices)
    channel = forms.ChoiceField(label="Intake channel", choices=IntakeChannel.choices)
    received_at = forms.DateTimeField(label="Received at", required=False,
                                      help_text="Leave empty for now. Format: YYYY-MM-DD HH:MM.")
    member = MemberNumberField(label="Member number", required=False,
                               help_text="The member the request is about, when known.")
    requester_name = forms.CharField(label="Requester's name", max_length=200, required=False)
    requester_email = forms.EmailField(label="Requester's e-mail", required=False,
                                       help_text="Replies are sent here; stored encrypted.")
    priority = forms.TypedChoiceField(choices=Priority.choices, coerce=int, initial=Priority.NORMAL)
    severity = forms.ChoiceField(choices=[("", "—"), *Severity.choices], required=False,
                                 help_text="Security reports only (PP-28).")
    concerns = forms.CharField(label="Concerns request (reference)", max_length=20, required=False,
                               help_text="Complaints: the reference of the request complained about (PP-34).")
    subject = forms.CharField(max_length=200, required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False)
    acknowledge = forms.BooleanField(label="Send the acknowledgement letter", required=False, initial=True)

    def clean_concerns(self):
        reference = (self.cleaned_data.get("concerns") or "").strip().upper()
        if not reference:
            return None
        found = Request.objects.filter(reference=reference).first()
        if found is None:
            raise forms.ValidationError("No request has this reference.")
        return found

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise forms.ValidationError("A request cannot be received in the future.")
        return value


class NoteForm(forms.Form):
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)


class FulfilForm(NoteForm):
    notify = forms.BooleanField(label="Send the fulfilment letter", required=False, initial=True)


class RefuseForm(NoteForm):
    grounds = forms.ModelMultipleChoiceField(
        queryset=LegalGround.objects.filter(use__in=[GroundUse.REQUEST_REJECTION, GroundUse.CANNOT_RESPOND]),
        widget=forms.CheckboxSelectMultiple,
        help_text="The refusal names at least one ground; the reply states each (PP-35, PP-36).",
    )
    ground_records = forms.ModelMultipleChoiceField(
        queryset=ProcessingOnGround.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label="Processing on a legal ground relied on",
        help_text="Approved records in force for this member (PP-17); the reply states each with its reference.",
    )
    notify = forms.BooleanField(label="Send the refusal letter", required=False, initial=True)

    def __init__(self, *args, member_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["grounds"].label_from_instance = lambda g: f"{g.section}: {g.wording}"
        records = self.fields["ground_records"]
        if member_id is None:
            del self.fields["ground_records"]
        else:
            records.queryset = ground_records_for(member=member_id)
            records.label_from_instance = (
                lambda r: f"#{r.pk} {r.purpose.name}: {r.ground.section} ({r.ground.position}); {r.reference[:80]}"
            )


class ExtendForm(NoteForm):
    due_on = forms.DateField(label="New due date", help_text="YYYY-MM-DD")
    notify = forms.BooleanField(label="Send the extension letter", required=False, initial=True)

    def due_at(self, request: Request) -> datetime.datetime:
        """The new due date at the same time of day as the current one."""
        current = timezone.localtime(request.due_at)
        return timezone.make_aware(datetime.datetime.combine(self.cleaned_data["due_on"], current.time()))


class IdentityCheckForm(forms.Form):
    method = forms.ChoiceField(choices=VerificationMethod.choices)
    evidence = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}),
                               help_text="What was checked, e.g. 'passport matched the account'.")
    authority_evidence = forms.CharField(
        label="Authority of guardian or agent", widget=forms.Textarea(attrs={"rows": 2}), required=False,
        help_text="Guardians and agents: the proof of their authority to act for the member (PP-15).",
    )


class ReplyForm(forms.Form):
    template = forms.ChoiceField(label="Letter", choices=letter_choices)
    note = forms.CharField(label="Additional text", widget=forms.Textarea(attrs={"rows": 4}), required=False)


class LetterLanguageForm(forms.Form):
    """Issue 16: the language the request's next letters are written in."""

    language = forms.ChoiceField(label=_("Letter language"), choices=settings.LANGUAGES)


class FeeForm(forms.Form):
    fee_amount = forms.DecimalField(label="Fee", min_value=0, max_digits=10, decimal_places=2)
    fee_reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}),
                                 help_text="Why a fee is charged: a repeated or onerous request (PP-31).")


class MemberForm(forms.Form):
    member = MemberNumberField(label="Member number")


class ContactForm(forms.Form):
    """A phone call, letter or visit about this request, logged as an inbound message (PP-14)."""

    channel = forms.ChoiceField(label="Channel", choices=[(c.value, c.label) for c in LOGGED_CHANNELS])
    summary = forms.CharField(label="Summary", widget=forms.Textarea(attrs={"rows": 4}),
                              help_text="What the requester said or sent. Kept encrypted on the timeline.")
    received_at = forms.DateTimeField(label="When", required=False,
                                      help_text="Leave empty for now. Format: YYYY-MM-DD HH:MM.")
    attachment = forms.FileField(label="Attachment", required=False,
                                 help_text="Optional: a scan of the letter or a document handed in; stored "
                                           "encrypted.")

    def clean_received_at(self):
        value = self.cleaned_data.get("received_at")
        if value and value > timezone.now():
            raise forms.ValidationError("A contact cannot have happened in the future.")
        return value

    def clean_attachment(self):
        upload = self.cleaned_data.get("attachment")
        if upload is not None and upload.size > MAX_LOGGED_ATTACHMENT_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_LOGGED_ATTACHMENT_BYTES // (1024 * 1024)} MB.")
        return upload
