"""The staff user's language (issue 16): their recorded preference, else the browser's.

``LocaleMiddleware`` (after the session) picks the language from the ``set_language`` cookie or the
browser's ``Accept-Language``; ``StaffLanguageMiddleware`` (after authentication) replaces that
choice with the signed-in staff user's ``language`` when they set one. ``set_language`` wraps
Django's view of the same name: the switch on the desk and in the admin posts to it, and it also
stores the choice on the staff user, so it follows them to another browser.
"""

from __future__ import annotations

from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from accounts.languages import supported


def _preference(user) -> str:
    """The signed-in user's chosen language if it is one of ``LANGUAGES``, else ``""``."""
    if not user.is_authenticated:
        return ""
    return supported(user.language) or ""


class StaffLanguageMiddleware:
    """Activate the signed-in staff user's language; without one, LocaleMiddleware's choice stands."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        # No extra query: the session's user row is loaded anyway by every page that needs a login,
        # and an anonymous request (no session cookie) never loads it.
        language = _preference(request.user) if request.session.session_key else ""
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


@require_POST
def set_language(request):
    """Django's ``set_language`` (cookie, redirect to ``next``), plus the staff user's preference."""
    response = django_set_language(request)
    language = supported(request.POST.get("language"))
    user = request.user
    if user.is_authenticated and language and user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return response
