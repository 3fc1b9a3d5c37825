"""Searches kept out of URLs (requirement 11): e-mails, phone numbers and ID numbers typed into a search box.

The term is kept encrypted in the session under a random token (``?qs=<token>``), never in the
address bar, the browser's history, the page's links or the server's access log.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin.views.main import PAGE_VAR, SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from accounts.privacy import crypto
from accounts.privacy.large_tables import LeanRowsChangeList
from accounts.privacy.request_guard import NUL

SEARCH_TOKEN_VAR = "qs"  # noqa: S105 - a query-string name, not a secret
_SESSION_KEY = "accounts_admin_searches"
_KEPT_SEARCHES = 20


def search_token_store(request, term: str) -> str:
    """Keep ``term`` in the session (encrypted, PP-26) under a random token; return the token."""
    saved = dict(request.session.get(_SESSION_KEY, {}))
    token = secrets.token_urlsafe(9)
    saved[token] = crypto.encrypt_str(term)
    while len(saved) > _KEPT_SEARCHES:
        saved.pop(next(iter(saved)))
    request.session[_SESSION_KEY] = saved
    return token


def search_token_term(request, token: str) -> str | None:
    """The term saved under ``token`` in this session; None when unknown or expired."""
    ciphertext = request.session.get(_SESSION_KEY, {}).get(token)
    if ciphertext is None:
        return None
    try:
        return crypto.decrypt_str(ciphertext)
    except crypto.DecryptionError:
        return None


class TokenSearchChangeList(LeanRowsChangeList):
    """Reads the search term from the session by the ``qs`` token instead of from ``?q=``."""

    uses_search_token = True  # the search form posts (templates/admin/accounts/search_form.html)

    def __init__(self, request, *args, **kwargs):
        self.search_token = request.GET.get(SEARCH_TOKEN_VAR, "")
        self.search_expired = False
        self._token_term = search_token_term(request, self.search_token) if self.search_token else None
        if self.search_token and self._token_term is None:
            self.search_expired = True
            messages.warning(request, _("That search has expired; search again."))
        super().__init__(request, *args, **kwargs)

    def get_filters_params(self, params=None):
        lookup_params = super().get_filters_params(params)
        lookup_params.pop(SEARCH_TOKEN_VAR, None)
        return lookup_params

    def get_queryset(self, request, exclude_parameters=None):
        if self.search_token:
            self.query = self._token_term or ""
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.none() if self.search_expired else queryset


class TokenSearchMixin:
    """Searches for e-mails, phone numbers and ID numbers without putting them into URLs (requirement 11).

    The search box posts (with CSRF) to ``search/``, which keeps the term encrypted in the session
    under a random token and redirects to ``?qs=<token>``. A plain ``?q=`` that still arrives (a typed
    or old link) is swapped for a token at once, so the term does not stay in the address bar,
    browser history or the links of the page. Server access logs see only tokens.
    """

    def get_changelist(self, request, **kwargs):
        return TokenSearchChangeList

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        search = path("search/", self.admin_site.admin_view(self.search_view), name="{}_{}_search".format(*info))
        return [search, *super().get_urls()]

    def _changelist_redirect(self, request, params: dict) -> HttpResponseRedirect:
        url = reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_changelist")
        return HttpResponseRedirect(f"{url}?{urlencode(params)}" if params else url)

    @staticmethod
    def _params_with_term(request, source, term: str) -> dict:
        params = {k: v for k, v in source.items() if k not in (SEARCH_VAR, SEARCH_TOKEN_VAR, PAGE_VAR)}
        params.pop("csrfmiddlewaretoken", None)
        if term:
            params[SEARCH_TOKEN_VAR] = search_token_store(request, term)
        return params

    def search_view(self, request):
        return require_POST(self._search_view)(request)

    def _search_view(self, request):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        term = request.POST.get(SEARCH_VAR, "").strip()
        if NUL in term:
            # PostgreSQL text cannot hold it; say so instead of failing in the database.
            messages.error(request, _("A search term cannot contain a NUL character; nothing was searched."))
            term = ""
        return self._changelist_redirect(request, self._params_with_term(request, request.POST, term))

    def changelist_view(self, request, extra_context=None):
        term = request.GET.get(SEARCH_VAR, "")
        if term and self.has_view_or_change_permission(request):
            return self._changelist_redirect(request, self._params_with_term(request, request.GET, term.strip()))
        return super().changelist_view(request, extra_context)
