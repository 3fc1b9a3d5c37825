"""The sign-in form with its authenticator code, and the OTP verify and enrolment steps (issue 7).

Sign-in (``/admin/login/``, used by the admin and the request desk) takes ``username``, ``password``
and ``otp_token``. The code is needed when the user has an authenticator; a user whose role needs
one but who has none yet signs in with the password and is sent to enrolment, and reaches nothing
else until it is done (``accounts.staff.security.OTPRequiredMiddleware``).

Verify (``/admin/otp/verify/``): for a signed-in session that has not given a code yet.
Enrol (``/admin/otp/enrol/``): shows the secret of a new authenticator (QR code and text) until the
user confirms it with the password and a first code; the secret is never shown again after that.
Wrong passwords and wrong codes count towards the django-axes lockout in both steps.
"""

from __future__ import annotations

import logging

import django_otp
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import ValidationError
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts.staff import otp
from accounts.staff.security import lockout_response

logger = logging.getLogger(__name__)

MSG_CODE_REQUIRED = gettext_lazy("Enter the 6-digit code from your authenticator app.")
MSG_CODE_INVALID = gettext_lazy("That code is not valid. Enter the current code from your authenticator app.")


def _token_field() -> forms.CharField:
    return forms.CharField(
        label=gettext_lazy("Authenticator code"),
        required=False,
        max_length=12,
        strip=True,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autocapitalize": "none"}
        ),
    )


def _report_failure(request, username: str) -> None:
    """A wrong code counts as a failed sign-in: django-axes listens to this signal."""
    user_login_failed.send(sender=__name__, credentials={"username": username}, request=request)


class StaffLoginForm(AdminAuthenticationForm):
    """The admin's sign-in form plus the authenticator code."""

    otp_token = _token_field()

    def clean(self):
        cleaned = super().clean()  # password check; django-axes refuses locked-out users here
        user = self.user_cache
        if user is None:
            return cleaned
        device = otp.confirmed_device(user)
        token = otp.normalise_token(cleaned.get("otp_token"))
        if device is None:
            # Staff who must use a second factor are sent to enrolment by the middleware.
            return cleaned
        if not token:
            if not otp.otp_enforced():
                return cleaned
            raise ValidationError(MSG_CODE_REQUIRED, code="token_required")
        if not otp.verify_token(device=device, token=token):
            _report_failure(self.request, cleaned.get("username") or "")
            raise ValidationError(MSG_CODE_INVALID, code="invalid_token")
        # django_otp's user_logged_in receiver records the device in the session at login().
        user.otp_device = device
        return cleaned


class VerifyForm(forms.Form):
    otp_token = _token_field()

    def clean_otp_token(self):
        token = otp.normalise_token(self.cleaned_data.get("otp_token"))
        if not token:
            raise ValidationError(MSG_CODE_REQUIRED, code="token_required")
        return token


class EnrolForm(VerifyForm):
    password = forms.CharField(
        label=gettext_lazy("Your password"), strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _next_url(request) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                       require_https=request.is_secure()):
        return candidate
    return reverse("admin:index")


def _render(request, template: str, context: dict, status: int = 200):
    response = TemplateResponse(
        request, template, {**admin.site.each_context(request), "next": _next_url(request), **context}, status=status
    )
    # The enrolment page shows a secret; neither page may be kept by a browser or proxy.
    response["Cache-Control"] = "no-store, private"
    return response


def _locked_out(request):
    """After the failure limit: end the half-signed-in session and show the lockout page."""
    logout(request)
    return lockout_response(request)


def _mark_verified(request, device) -> None:
    # Privilege changes, so the session key changes too (ASVS 5.0 7.2.4, v4.0.3 3.2.1).
    request.session.cycle_key()
    django_otp.login(request, device)


@sensitive_post_parameters("otp_token")
@csrf_protect
@never_cache
@login_required
def verify(request):
    """Give the authenticator code for a session signed in with the password only."""
    user = request.user
    if user.is_verified():
        return redirect(_next_url(request))
    device = otp.confirmed_device(user)
    if device is None:
        return redirect(f"{reverse('otp:enrol')}?{request.GET.urlencode()}")
    form = VerifyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if otp.verify_token(device=device, token=form.cleaned_data["otp_token"]):
            _mark_verified(request, device)
            return redirect(_next_url(request))
        _report_failure(request, user.get_username())
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        form.add_error("otp_token", MSG_CODE_INVALID)
    return _render(request, "accounts/otp_verify.html", {"title": _("Two-factor sign-in"), "form": form})


@sensitive_post_parameters("otp_token", "password")
@csrf_protect
@never_cache
@login_required
def enrol(request):
    """Set up an authenticator: scan or type the secret, then confirm with the password and a code."""
    user = request.user
    if otp.confirmed_device(user) is not None:
        messages.info(request, _("You already have an authenticator app set up."))
        target = reverse("otp:verify") if not user.is_verified() else _next_url(request)
        return redirect(target)
    if not settings.OTP_SELF_ENROLMENT:
        return _render(request, "accounts/otp_enrol.html", {"title": _("Set up two-factor sign-in"),
                                                             "self_enrolment": False})
    device = otp.pending_device(user)
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # Re-authentication: a stolen session alone cannot attach an attacker's authenticator.
        again = authenticate(request, username=user.get_username(), password=form.cleaned_data["password"])
        if getattr(request, "axes_locked_out", False):
            return _locked_out(request)
        if again is None or again.pk != user.pk:
            form.add_error("password", _("That password is not correct."))
        elif otp.device_confirm(device=device, token=form.cleaned_data["otp_token"]):
            _mark_verified(request, device)
            logger.info("Staff user %s confirmed an authenticator app", user.pk)
            messages.success(request, _("Two-factor sign-in is set up. From now on, sign in with your password and "
                                        "the code from your authenticator app."))
            return redirect(_next_url(request))
        else:
            _report_failure(request, user.get_username())
            if getattr(request, "axes_locked_out", False):
                return _locked_out(request)
            form.add_error("otp_token", MSG_CODE_INVALID)
    return _render(request, "accounts/otp_enrol.html", {
        "title": _("Set up two-factor sign-in"),
        "self_enrolment": True,
        "form": form,
        "qr_svg": otp.qr_svg(device),
        "secret": otp.base32_secret(device),
        "required": otp.otp_required(user),
    })
