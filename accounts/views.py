"""Admin pages of the accounts app outside the model admins (PP-01, PP-10, PP-25, PP-26).

- ``reveal_value``: one sensitive value, unmasked after a reason is given; logged by the service.
- ``document_file``: an identity document's file, decrypted and sent as an attachment; logged.
- ``data_map``: the read-only data map (every field of every model, how it is protected and erased).

All three are wrapped in ``admin.site.admin_view`` (staff login, CSRF, never cached). Records are
named in URLs by model label, primary key and field name, never by a value; values are shown only in
the body of a POST response, never in a URL or a redirect.
"""

from __future__ import annotations

import mimetypes

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts import datamap, services
from accounts.forms import ReasonForm
from accounts.masking import mask_value
from accounts.models import IdentityDocument


def _client_ip(request) -> str | None:
    # REMOTE_ADDR: the proxy in front is expected to set it (X-Forwarded-For is forgeable).
    return request.META.get("REMOTE_ADDR") or None


def _admin_change_url(obj) -> str | None:
    try:
        return reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def _no_store(response):
    response["Cache-Control"] = "no-store, private"
    return response


def _reason_error_to_form(form: ReasonForm, exc: ValidationError) -> None:
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
    personal = datamap.sensitive_fields(model).get(field_name)
    if personal is None or personal.mask == datamap.Mask.FILE:
        raise Http404
    if not request.user.has_perm(f"{model._meta.app_label}.view_{model._meta.model_name}"):
        raise PermissionDenied
    obj = get_object_or_404(model._default_manager, pk=object_id)

    form = ReasonForm(request.POST or None)
    value = None
    if request.method == "POST" and form.is_valid():
        try:
            value = services.sensitive_value_reveal(
                user=request.user,
                obj=obj,
                field_name=field_name,
                reason=form.cleaned_data["reason"],
                ip_address=_client_ip(request),
            )
        except ValidationError as exc:
            _reason_error_to_form(form, exc)
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
        "change_url": _admin_change_url(obj),
    }
    return _no_store(TemplateResponse(request, "accounts/reveal.html", context))


_SIGNATURES = (
    (b"%PDF", ".pdf"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"GIF8", ".gif"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
)


def _extension_of(content: bytes) -> str:
    """The uploaded name is not kept (it may name a person): the type is read from the bytes."""
    for signature, extension in _SIGNATURES:
        if content.startswith(signature):
            return extension
    if content[8:12] in (b"WEBP",):
        return ".webp"
    return ".bin"


@require_http_methods(["GET", "POST"])
def document_file(request, pk: int):
    """Download an identity document's file (PP-10, PP-26): decrypted here, logged by the service."""
    if not (
        request.user.has_perm(services.DOWNLOAD_PERMISSION) and request.user.has_perm("accounts.view_identitydocument")
    ):
        raise PermissionDenied
    document = get_object_or_404(IdentityDocument.objects.select_related("member"), pk=pk)
    if not document.file:
        raise Http404
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            content = services.identity_document_file_read(
                user=request.user,
                document=document,
                reason=form.cleaned_data["reason"],
                ip_address=_client_ip(request),
            )
        except ValidationError as exc:
            _reason_error_to_form(form, exc)
        else:
            # A neutral name: the record's id only, nothing about the person.
            filename = f"identity-document-{document.pk}{_extension_of(content)}"
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            response = HttpResponse(content, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return _no_store(response)
    context = {
        **admin.site.each_context(request),
        "title": _("Download %(document)s") % {"document": document},
        "opts": IdentityDocument._meta,
        "obj": document,
        "member_number": document.member.member_number,
        "form": form,
        "change_url": _admin_change_url(document),
    }
    return _no_store(TemplateResponse(request, "accounts/document_download.html", context))


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
                "export_label": personal.label if personal and personal.exported else "",
                "erasure": datamap.Erasure(personal.erasure).label if personal else "",
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
    }
    return TemplateResponse(request, "accounts/data_map.html", context)
