"""Legal holds in the admin: placed with a reason, released by a second officer (PP-02, issue 5)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from retention import selectors, services
from retention.admin.common import HistoryWithoutRevert, messages_of, staff_name
from retention.models import LegalHold


class LegalHoldAddForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ("member", "reason", "starts_on", "ends_on")

    def clean_reason(self):
        reason = (self.cleaned_data.get("reason") or "").strip()
        if len(reason) < services.MIN_REASON_LENGTH:
            raise ValidationError(gettext(
                "Give a reason of at least %(MIN_REASON_LENGTH)s characters."
            ) % {"MIN_REASON_LENGTH": services.MIN_REASON_LENGTH})
        return reason


class LegalHoldReleaseForm(forms.Form):
    release_reason = forms.CharField(
        label=_("Reason for releasing the hold"), widget=forms.Textarea(attrs={"rows": 3}),
        min_length=services.MIN_REASON_LENGTH,
    )


class HoldStateFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return (("active", _("In force today")), ("released", _("Released")), ("ended", _("Ended")))

    def queryset(self, request, queryset):
        today = timezone.localdate()
        if self.value() == "active":
            return queryset.filter(selectors.active_hold_q(today=today))
        if self.value() == "released":
            return queryset.filter(released_at__isnull=False)
        if self.value() == "ended":
            return queryset.filter(released_at__isnull=True, ends_on__lt=today)
        return queryset


@admin.register(LegalHold)
class LegalHoldAdmin(HistoryWithoutRevert):
    """Holds are placed with a reason and released with one; nothing else about them is edited."""

    list_display = ("__str__", "member_number", "state", "starts_on", "ends_on", "owner_name", "released_at")
    list_select_related = ("member", "owner")
    list_filter = (HoldStateFilter, "starts_on")
    search_fields = ("=member__member_number",)
    raw_id_fields = ("member",)
    show_full_result_count = False
    fields_on_change = ("member", "reason", "owner", "starts_on", "ends_on", "created_at", "released_at",
                        "released_by", "release_reason", "release_link")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = LegalHoldAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return LegalHoldAddForm.Meta.fields if obj is None else self.fields_on_change

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.fields_on_change

    def has_change_permission(self, request, obj=None):
        # A hold's page is read-only: it changes only through the release form below.
        return obj is None and super().has_change_permission(request)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        hold = services.legal_hold_place(
            member=form.cleaned_data["member"], reason=form.cleaned_data["reason"], owner=request.user,
            starts_on=form.cleaned_data.get("starts_on"), ends_on=form.cleaned_data.get("ends_on"),
        )
        obj.pk = hold.pk
        obj.owner = hold.owner
        obj._state.adding = False

    @admin.display(description=_("member"), ordering="member__member_number")
    def member_number(self, obj: LegalHold) -> str:
        return obj.member.member_number

    @admin.display(description=_("owner"))
    def owner_name(self, obj: LegalHold) -> str:
        return staff_name(obj.owner)

    @admin.display(description=_("state"))
    def state(self, obj: LegalHold) -> str:
        today = timezone.localdate()
        if obj.released_at:
            return _("released")
        if obj.is_active_on(today):
            return _("in force")
        return _("ended") if obj.ends_on and obj.ends_on < today else _("starts later")

    @admin.display(description=_("release"))
    def release_link(self, obj: LegalHold) -> str:
        if obj.released_at:
            return "—"
        url = reverse("admin:retention_legalhold_release", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Release this hold…"))

    def get_urls(self):
        return [
            path("<int:hold_id>/release/", self.admin_site.admin_view(self.release_view),
                 name="retention_legalhold_release"),
            *super().get_urls(),
        ]

    def release_view(self, request, hold_id: int):
        """End a hold with a reason (PP-29): the only way a hold changes after it is placed."""
        hold = get_object_or_404(LegalHold.objects.select_related("member"), pk=hold_id)
        if not super().has_change_permission(request, hold):
            raise PermissionDenied
        form = LegalHoldReleaseForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                services.legal_hold_release(hold=hold, released_by=request.user,
                                            reason=form.cleaned_data["release_reason"])
            except ValidationError as exc:
                self.message_user(request, messages_of(exc), messages.ERROR)
            else:
                self.log_change(request, hold, [{"changed": {"fields": ["released_at", "release_reason"]}}])
                self.message_user(request, gettext(
                    "%(hold)s released; erasure of the member may resume."
                ) % {"hold": hold}, messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:retention_legalhold_change", args=[hold.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Release {hold}",
            "hold": hold,
            "form": form,
        }
        return TemplateResponse(request, "admin/retention/legalhold/release.html", context)
