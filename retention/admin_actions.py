"""The "Prepare erasure" action on the member changelist (issue 5, requirement 8).

``accounts`` may not import ``retention``, so the action is attached to the member admin from
``RetentionConfig.ready`` (after the admin's autodiscovery registered it) instead of being
listed in ``accounts/admin.py``.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Member
from retention import services


@admin.action(
    description=_("Prepare erasure of the selected cancelled members (a supervisor approves it)"),
    permissions=["prepare_erasure"],
)
def prepare_erasure(modeladmin, request, queryset):
    """Create a prepared erasure run; nothing is erased until another staff user approves it."""
    try:
        run = services.erasure_run_prepare(
            member_ids=queryset.values_list("pk", flat=True), prepared_by=request.user
        )
    except (ValidationError, PermissionDenied) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        modeladmin.message_user(request, text, messages.ERROR)
        return None
    url = reverse("admin:retention_erasurerun_change", args=[run.pk])
    count = run.items.count()
    modeladmin.message_user(
        request,
        format_html(
            gettext('Erasure run <a href="{}">#{}</a> prepared for {} member(s). A supervisor other than you must '
                    "approve it before anything is erased."),
            url, run.pk, count,
        ),
        messages.SUCCESS,
    )
    return None


def _may_prepare(request) -> bool:
    return request.user.has_perm(services.PREPARE_PERMISSION)


def attach_member_actions(site: admin.AdminSite = admin.site) -> bool:
    """Add ``prepare_erasure`` to the member admin of ``site``; idempotent. False if none is registered."""
    model_admin = site._registry.get(Member)
    if model_admin is None:
        return False
    current = list(model_admin.actions or ())
    if prepare_erasure not in current:
        model_admin.actions = [*current, prepare_erasure]
    # The action's permission check (``permissions=["prepare_erasure"]``) looks for this method.
    model_admin.has_prepare_erasure_permission = _may_prepare
    return True
