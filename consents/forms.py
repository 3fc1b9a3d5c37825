"""Forms of the consents admin. They parse input; the services in ``campaigns``/``disclosures`` decide."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from accounts.privacy.datamap import Category
from consents.choices import ChangeKind, DisclosureBasis, DisclosureKind, GroundUse
from consents.models import Guardian, LegalGround, PolicyVersion, ProcessingOnGround, Purpose, Recipient
from consents.selectors import audience

#: A pasted list longer than this should be an audience (a purpose) instead.
MAX_PASTED_MEMBER_NUMBERS = 5000


class PolicyVersionForm(forms.ModelForm):
    """A draft version; its change kinds are ticked, never typed as JSON."""

    change_kinds = forms.MultipleChoiceField(
        choices=ChangeKind.choices,
        widget=forms.CheckboxSelectMultiple,
        label=_("change kinds"),
        help_text=_("Any kind but 'minor' makes the version major: publishing it starts a re-consent campaign "
                    "(PP-39). 'Narrows a right' needs every member's express acceptance (PP-40)."),
    )

    class Meta:
        model = PolicyVersion
        fields = ("version", "text", "summary", "change_kinds", "effective_at")
        help_texts = {"effective_at": _("Leave empty to take effect when published.")}


class PurposeForm(forms.ModelForm):
    data_categories = forms.MultipleChoiceField(
        choices=Category.choices, widget=forms.CheckboxSelectMultiple, required=False,
        label=_("data categories"), help_text=_("The data-map categories this purpose uses."),
    )

    class Meta:
        model = Purpose
        fields = ("code", "name", "description", "kind", "data_categories", "is_biometric", "introduced_in")

    def clean(self):
        """A purpose that is widened needs the policy version that announces it (PP-05).

        Using more categories of data, becoming basic (no longer optional) or biometric changes what
        members agreed to. Grants recorded under earlier versions must then stop covering it, which
        is what a newer ``introduced_in`` does (``may_process`` asks for a grant under that version
        or later). So such a change is refused unless ``introduced_in`` moves to a newer published
        version; narrowing (fewer categories) needs no new consent.
        """
        cleaned = super().clean()
        if self.instance.pk is None:
            return cleaned
        stored = Purpose.objects.select_related("introduced_in").get(pk=self.instance.pk)
        widened = []
        added = set(cleaned.get("data_categories") or ()) - set(stored.data_categories or ())
        if added:
            labels = ", ".join(str(Category(c).label) for c in sorted(added))
            widened.append(gettext("uses more data (%(categories)s)") % {"categories": labels})
        if cleaned.get("kind") == "basic" and stored.kind != "basic":
            widened.append(gettext("becomes basic (no longer optional)"))
        if cleaned.get("is_biometric") and not stored.is_biometric:
            widened.append(gettext("becomes biometric"))
        if not widened:
            return cleaned
        new_version = cleaned.get("introduced_in")
        old_version = stored.introduced_in
        newer = (
            new_version is not None and new_version.published_at is not None
            and (old_version is None or old_version.published_at is None
                 or new_version.published_at > old_version.published_at)
        )
        if not newer:
            self.add_error(
                "introduced_in",
                gettext("This change widens the purpose: it %(changes)s. Members' earlier consent does not "
                        "cover that (PP-05): set 'introduced in' to the newer published policy version that "
                        "announces it, so consent is asked again.") % {"changes": "; ".join(widened)},
            )
        return cleaned


class GuardianForm(forms.ModelForm):
    """A guardian (PP-38). The contact is write-only: the form never shows the stored value.

    Verification is not a field to tick: evidence given here is recorded by ``guardian_verify``
    with the staff user and the time.
    """

    new_contact = forms.CharField(
        label=_("Contact (e-mail or phone)"), required=False, max_length=200,
        help_text=_("Shown masked once saved. Leave empty to keep the current contact."),
    )
    verify_with_evidence = forms.CharField(
        label=_("Verify now: how was the guardian verified?"), required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. 'birth certificate and parent's ID seen at the branch'. Leave empty to verify later."),
    )

    class Meta:
        model = Guardian
        fields = ("member", "name", "relation")

    def clean(self):
        cleaned = super().clean()
        contact = (cleaned.get("new_contact") or "").strip()
        if not contact and not (self.instance.pk and self.instance.contact):
            self.add_error("new_contact", gettext("Give the guardian's e-mail or phone."))
        member = cleaned.get("member")
        if self.instance.pk is None and member is not None:
            # The same rule as ``guardian_add`` (which checks it again), shown on the field.
            age = member.age_on(timezone.localdate())
            if age is None or age >= 18:
                self.add_error("member", gettext("Guardians are recorded for individual members under 18 (PP-38)."))
        if cleaned.get("verify_with_evidence") and self.instance.verified_at is not None:
            self.add_error("verify_with_evidence", gettext("This guardian is already verified."))
        return cleaned


class DisclosurePrepareForm(forms.Form):
    """Everything ``disclosure_prepare`` needs; the members are a pasted list or an audience."""

    kind = forms.ChoiceField(label=_("kind"), choices=DisclosureKind.choices)
    recipient = forms.ModelChoiceField(label=_("recipient"), queryset=Recipient.objects.order_by("name"))
    basis = forms.ChoiceField(label=_("basis"), choices=DisclosureBasis.choices)
    legal_grounds = forms.ModelMultipleChoiceField(
        queryset=LegalGround.objects.filter(use=GroundUse.AUTHORISATION_EXCEPTION),
        widget=forms.CheckboxSelectMultiple,
        required=False,
        label=_("legal grounds"),
        help_text=_("Needed when the basis is a legal ground of section III(IV) (PP-24)."),
    )
    ground_records = forms.ModelMultipleChoiceField(
        queryset=ProcessingOnGround.objects.filter(approved_at__isnull=False, ended_at__isnull=True)
        .select_related("ground", "purpose").order_by("-pk"),
        required=False,
        label=_("Processing on legal grounds relied on"),
        help_text=_("Approved records of section I(V)3 the disclosure rests on (PP-17, PP-24); their III(IV) "
                    "grounds are added, and they must cover every member concerned."),
    )
    data_categories = forms.MultipleChoiceField(
        label=_("data categories"), choices=Category.choices, widget=forms.CheckboxSelectMultiple
    )
    description = forms.CharField(label=_("description"), widget=forms.Textarea(attrs={"rows": 4}))
    disclosed_on = forms.DateField(
        label=_("disclosed on"), required=False, help_text=_("Leave empty: the day it is approved.")
    )
    member_numbers = forms.CharField(
        required=False,
        label=_("member numbers"),
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=format_lazy(
            _("Member numbers, one per line or separated by commas (at most {limit})."), limit=MAX_PASTED_MEMBER_NUMBERS
        ),
    )
    audience_purpose = forms.ModelChoiceField(
        queryset=Purpose.objects.all(),
        required=False,
        label=_("Or: everyone we may process for"),
        help_text=_("All members the consent ledger allows for this purpose today (e.g. a sharing based on consent)."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["ground_records"].label_from_instance = (
            lambda r: f"#{r.pk} {r.purpose.display_name}: {r.ground.section} ({r.ground.position}); {r.reference[:80]}"
        )

    def clean_member_numbers(self) -> list[str]:
        raw = self.cleaned_data.get("member_numbers") or ""
        numbers = sorted({part.strip() for part in raw.replace(",", "\n").splitlines() if part.strip()})
        if len(numbers) > MAX_PASTED_MEMBER_NUMBERS:
            raise ValidationError(
                gettext("%(count)s member numbers pasted; at most %(limit)s. Choose an audience instead.")
                % {"count": len(numbers), "limit": MAX_PASTED_MEMBER_NUMBERS}
            )
        if numbers:
            found = set(Member.objects.filter(member_number__in=numbers).values_list("member_number", flat=True))
            unknown = [n for n in numbers if n not in found]
            if unknown:
                shown = ", ".join(unknown[:10]) + (" …" if len(unknown) > 10 else "")
                message = gettext("%(count)s unknown member number(s): %(numbers)s")
                raise ValidationError(message % {"count": len(unknown), "numbers": shown})
        return numbers

    def clean(self):
        cleaned = super().clean()
        if not self.errors and bool(cleaned.get("member_numbers")) == bool(cleaned.get("audience_purpose")):
            raise ValidationError(gettext("Give either member numbers or an audience, not both and not neither."))
        return cleaned

    def members_queryset(self) -> QuerySet[Member]:
        if self.cleaned_data.get("audience_purpose"):
            return audience(purpose=self.cleaned_data["audience_purpose"])
        return Member.objects.filter(member_number__in=self.cleaned_data["member_numbers"])


class DecisionForm(forms.Form):
    """Approve or reject a disclosure awaiting approval, with a note."""

    decision = forms.ChoiceField(label=_("decision"), choices=(("approve", _("Approve")), ("reject", _("Reject"))))
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 3}),
                           help_text=_("Required when rejecting."))


class TimelineForm(forms.Form):
    member = forms.CharField(label=_("Member number"), max_length=20)

    def clean_member(self) -> Member:
        number = self.cleaned_data["member"].strip()
        member = Member.objects.filter(member_number=number).first()
        if member is None:
            raise ValidationError(gettext("No member has this number."))
        return member
