"""Refuses an address whose query string carries a NUL character, before any view reads it.

PostgreSQL text cannot hold ``\\x00``: a search term or list filter carrying one would reach the
database and fail there (a 500 on PostgreSQL, a silent miss on SQLite). No field of the back office
accepts it, so the request is answered at once with a 400 page that names the parameter (never its
value) and touches nothing. Form posts need no guard: Django's form fields already refuse NUL with
a field error, and the member search post says so itself (``accounts.privacy.search_tokens``).
"""

from __future__ import annotations

from django.http import HttpResponseBadRequest
from django.template.loader import render_to_string

NUL = "\x00"
#: A parameter name is echoed on the page; a hostile one is cut short.
NAME_SHOWN_MAX = 40


def parameter_with_nul(params) -> str | None:
    """The first parameter whose name or any value holds a NUL character, else None."""
    for name, values in params.lists():
        if NUL in name or any(NUL in value for value in values):
            return name.replace(NUL, "")[:NAME_SHOWN_MAX] or "?"
    return None


class NulQueryGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = parameter_with_nul(request.GET)
        if name is not None:
            page = render_to_string("400_nul.html", {"parameter": name}, request=None)
            return HttpResponseBadRequest(page)
        return self.get_response(request)
