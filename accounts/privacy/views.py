"""Admin pages of the privacy kernel outside the model admins (PP-01, PP-25).

- ``reveal_value``: one sensitive value, unmasked after a reason is given; logged by the service.
- ``data_map``: the read-only data map (every field of every model, how it is protected and erased);
  ``data_map_download`` the same map as a Fides dataset (YAML) or CSV file.

Both are wrapped in ``admin.site.admin_view`` (staff login, CSRF, never cached). Records are
named in URLs by model label, primary key and field name, never by a value; values are shown only in
the body of a POST response, never in a URL or a redirect.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.privacy import children, datamap, datamap_export
from accounts.privacy import reveal as services
from accounts.privacy.forms import ReasonForm
from accounts.privacy.masking import mask_value


def client_ip(request) -> str | None:
    # REMOTE_ADDR: the proxy in front is expected to set it (X-Forwarded-For is forgeable).
    return request.META.get("REMOTE_ADDR") or None


def admin_change_url(obj) -> str | None:
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def no_store(response):
    response["Cache-Control"] = "no-store, private"
    return response


def reason_error_to_form(form: ReasonForm, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, texts in errors.items():
        for text in texts:
            form.add_error("reason" if field == "reason" else None, text)


@require_http_methods(["GET", "POST"])
def reveal_value(request, model_label: str, object_id: str, field_name: str):
    """Show one sensitive value unmasked after a reason (PP-25). GET asks why; POST reveals and logs.

    Permission comes first, so users who may not reveal learn nothing about the record (403).
    """
    if not request.user.has_perm(services.REVEAL_PERMISSION):
        raise PermissionDenied
    try:
        model = apps.get_model(model_label)
    except (LookupError, ValueError):
        raise Http404 from None
    declared = datamap.sensitive_fields(model).get(field_name) or children.child_columns(model).get(field_name)
    if declared is None or declared.mask == datamap.Mask.FILE:
        raise Http404
    if not request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"):
        raise PermissionDenied
    obj = get_object_or_404(model._default_manager, pk=object_id)
    # A personal field that is not sensitive is revealable only on a child's record (PP-01).
    personal = children.sensitive_fields_of(obj, timezone.localdate()).get(field_name)
    if personal is None:
        raise Http404

    form = ReasonForm(request.POST or None)
    value = None
    if request.method == "POST" and form.is_valid():
        try:
            value = services.sensitive_value_reveal(
                user=request.user,
                obj=obj,
                field_name=field_name,
                reason=form.cleaned_data["reason"],
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            reason_error_to_form(form, exc)
    field = model._meta.get_field(field_name)
    context = {
        **admin.site.each_context(request),
        "title": _("Reveal %(field)s") % {"field": field.verbose_name},
        "opts": model._meta,
        "obj": obj,
        "member_number": services.member_number_of(obj),
        "field_label": field.verbose_name,
        "masked": mask_value(getattr(obj, field_name), personal.mask),
        "form": form,
        "revealed": value is not None,
        "value": value,
        "change_url": admin_change_url(obj),
    }
    return no_store(TemplateResponse(request, "accounts/reveal.html", context))


def _may_read_data_map(user) -> bool:
    """Staff with any view permission in the accounts app (auditors, compliance, agents)."""
    return user.is_active and user.is_staff and any(
        perm.startswith("accounts.view_") for perm in user.get_all_permissions()
    )


@require_http_methods(["GET"])
def data_map(request):
    """Every field of every model with its classification (PP-01, PP-42, design decision 1)."""
    if not _may_read_data_map(request.user):
        raise PermissionDenied
    category = request.GET.get("category", "")
    sensitive = request.GET.get("sensitive", "")
    personal_only = request.GET.get("personal", "")
    rows = []
    for entry in datamap.registry():
        personal = entry.personal
        if category and (personal is None or personal.category != category):
            continue
        if sensitive == "yes" and not (personal and personal.sensitive):
            continue
        if sensitive == "no" and personal and personal.sensitive:
            continue
        if personal_only == "yes" and personal is None:
            continue
        if personal_only == "no" and personal is not None:
            continue
        rows.append(
            {
                "model_label": entry.model_label,
                "model_name": entry.model_verbose_name,
                "field": entry.field_name,
                "personal": personal is not None,
                "category": datamap.Category(personal.category).label if personal else "",
                "sensitive": bool(personal and personal.sensitive),
                "mask": datamap.Mask(personal.mask).label if personal and personal.sensitive else "",
                "export_label": _(personal.label) if personal and personal.exported else "",
                "erasure": datamap.Erasure(personal.erasure).label if personal else "",
                "category_detail": datamap_export.category_label(personal),
                "shown_as": datamap_export.shown_as(entry.model, entry.field_name, personal),
                "at_rest": datamap_export.at_rest(entry.model, entry.field_name),
                "at_rest_label": datamap_export.AT_REST_LABELS[
                    datamap_export.at_rest(entry.model, entry.field_name)
                ],
            }
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Data map"),
        "rows": rows,
        "categories": datamap.Category.choices,
        "category": category,
        "sensitive": sensitive,
        "personal": personal_only,
        "total": len(datamap.registry()),
        # PP-19: the models whose rows belong to a product line and go when it closes.
        "service_scoped": [
            {"model_label": model._meta.label, "model_name": model._meta.verbose_name, "field": name}
            for model, name in datamap.service_scoped_models()
        ],
    }
    return TemplateResponse(request, "accounts/data_map.html", context)


@require_http_methods(["GET"])
def data_map_download(request, fmt: str):
    """The data map as a Fides dataset or CSV file, for the same readers as the page; schema only."""
    if not _may_read_data_map(request.user):
        raise PermissionDenied
    if fmt not in datamap_export.FORMATS:
        raise Http404
    response = HttpResponse(datamap_export.export_file(fmt), content_type=datamap_export.CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{datamap_export.FILE_NAMES[fmt]}"'
    return no_store(response)
