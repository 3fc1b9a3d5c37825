"""Sign-in and session controls around the admin and the request desk (issue 7).

- ``OTPRequiredMiddleware``: a user who must use a second factor (``accounts.staff.otp.otp_required``) and
  whose session is not OTP-verified reaches no page but the verify or enrolment step, sign-in and
  sign-out (ASVS 5.0 6.3.3, v4.0.3 4.3.1). Deny by default: every path is covered, not a list of them.
- ``SessionTimeoutMiddleware``: a session ends ``SESSION_IDLE_TIMEOUT`` seconds after its last
  request and ``SESSION_COOKIE_AGE`` seconds after sign-in, whatever the activity (ASVS 5.0 7.3.1,
  7.3.2; v4.0.3 3.3.2).
- ``lockout_response``: what django-axes shows after ``AXES_FAILURE_LIMIT`` failed sign-ins (ASVS
  5.0 6.3.1; v4.0.3 2.2.1); ``client_str``: how axes names a client in log lines (no e-mail, no IP).
"""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import logout
from django.contrib.auth.signals import user_logged_in
from django.core.checks import Tags, Warning, register
from django.dispatch import receiver
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.crypto import salted_hmac
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.staff import otp

#: Session keys (seconds since the epoch).
LOGIN_AT_KEY = "_security_login_at"
LAST_SEEN_KEY = "_security_last_seen"


@receiver(user_logged_in, dispatch_uid="accounts.staff.security.stamp_session")
def stamp_session(sender, request, user, **kwargs) -> None:
    """Every sign-in (admin form, OTP step, test client) starts both timeout clocks.

    A receiver because ``login()`` is the one place all sign-in paths pass through; the timeout
    itself is enforced by ``SessionTimeoutMiddleware``, which treats an unstamped session as ended.
    """
    if request is not None and hasattr(request, "session"):
        now = int(time.time())
        request.session[LOGIN_AT_KEY] = now
        request.session[LAST_SEEN_KEY] = now


def _touch_interval() -> int:
    # Writing the session on every request would cost one UPDATE per page; refreshing the stamp at
    # most once a minute (a tenth of short timeouts) keeps idle detection within that margin.
    return max(1, min(60, settings.SESSION_IDLE_TIMEOUT // 10))


def session_end_reason(session, now: int) -> str | None:
    """Why this authenticated session must end now, or None while it is still valid."""
    login_at, last_seen = session.get(LOGIN_AT_KEY), session.get(LAST_SEEN_KEY)
    if not isinstance(login_at, int) or not isinstance(last_seen, int):
        return _("Your session has ended. Please sign in again.")
    idle = settings.SESSION_IDLE_TIMEOUT
    if now - last_seen > idle:
        return _("You were signed out after %(duration)s without activity. Please sign in again.") % {
            "duration": _duration(idle)}
    if now - login_at > settings.SESSION_COOKIE_AGE:
        return _("Sessions last at most %(duration)s. Please sign in again.") % {
            "duration": _duration(settings.SESSION_COOKIE_AGE)}
    return None


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
    minutes = max(1, seconds // 60)
    return ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes}


class SessionTimeoutMiddleware:
    """Idle and absolute session timeouts for signed-in staff."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = int(time.time())
            reason = session_end_reason(request.session, now)
            if reason:
                logout(request)  # flushes the session: the next page is the sign-in form
                messages.warning(request, reason)
            elif now - request.session[LAST_SEEN_KEY] >= _touch_interval():
                request.session[LAST_SEEN_KEY] = now
        return self.get_response(request)


class OTPRequiredMiddleware:
    """Send a signed-in user who needs a second factor, and has not given one, to the OTP step."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._exempt: tuple[str, ...] | None = None

    def exempt_paths(self) -> tuple[str, ...]:
        if self._exempt is None:
            self._exempt = (
                reverse("admin:login"),
                reverse("admin:logout"),
                reverse("otp:verify"),
                reverse("otp:enrol"),
                "/" + settings.STATIC_URL.lstrip("/"),
            )
        return self._exempt

    def __call__(self, request):
        if self._must_verify(request):
            return self._redirect(request)
        return self.get_response(request)

    def _must_verify(self, request) -> bool:
        if not otp.otp_enforced():
            return False
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        is_verified = getattr(user, "is_verified", None)
        if is_verified is not None and is_verified():
            return False
        if request.path_info.startswith(self.exempt_paths()):
            return False
        return otp.otp_required(user)

    def _redirect(self, request):
        if otp.confirmed_device(request.user) is not None:
            target = reverse("otp:verify")
            messages.warning(
                request,
                _("Your role requires two-factor sign-in: enter the code from your authenticator app to continue."),
            )
        else:
            target = reverse("otp:enrol")
            messages.warning(
                request,
                _("Your role requires two-factor sign-in: set up an authenticator app to continue."),
            )
        if request.method == "GET":
            target += "?" + urlencode({"next": request.get_full_path()})
        return redirect(target)


def client_str(username, ip_address, user_agent, path_info, request) -> str:
    """How django-axes names a client in its log lines: a keyed hash, never the e-mail or address.

    The same user name from the same address always gives the same tag, so an operator can follow
    one attack through the log; only someone holding SECRET_KEY can test a guess against it.
    """
    if isinstance(path_info, (list, tuple)):
        path_info = path_info[0] if path_info else ""
    tag = salted_hmac("accounts.staff.security.client_str", f"{username or ''}|{ip_address or ''}").hexdigest()[:16]
    return f"client {tag} on {path_info or '?'}"


def lockout_response(request, original_response=None, credentials=None):
    """The page shown once the failure limit is reached: the sign-in page's look, a clear message,
    HTTP 429, nothing cached, no detail about the account."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    context = {
        **admin.site.each_context(request),
        "title": _("Sign-in locked"),
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "cooloff": _duration(minutes * 60),
        "login_url": reverse("admin:login"),
    }
    response = TemplateResponse(request, "accounts/locked_out.html", context, status=429)
    response["Cache-Control"] = "no-store, private"
    return response.render()


@register(Tags.security)
def check_otp_bypass(app_configs, **kwargs):
    """Make the development bypass visible in every `runserver` and `check` output."""
    if settings.OTP_DEV_BYPASS:
        return [Warning(
            "OTP_DEV_BYPASS is on: staff sign in without a second factor.",
            hint="Development only; start-up refuses it when DEBUG is off.",
            id="accounts.W001",
        )]
    return []
