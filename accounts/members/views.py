"""The download page of an identity document's file (PP-10, PP-26): decrypted, sent as an
attachment under a neutral name, logged with a reason by ``accounts.privacy.reveal``."""

from __future__ import annotations

import mimetypes

from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from accounts.members.models import IdentityDocument
from accounts.privacy import reveal
from accounts.privacy.forms import ReasonForm
from accounts.privacy.views import admin_change_url, client_ip, no_store, reason_error_to_form

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
        request.user.has_perm(reveal.DOWNLOAD_PERMISSION) and request.user.has_perm("accounts.view_identitydocument")
    ):
        raise PermissionDenied
    document = get_object_or_404(IdentityDocument.objects.select_related("member"), pk=pk)
    if not document.file:
        raise Http404
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            content = reveal.identity_document_file_read(
                user=request.user,
                document=document,
                reason=form.cleaned_data["reason"],
                ip_address=client_ip(request),
            )
        except ValidationError as exc:
            reason_error_to_form(form, exc)
        else:
            # A neutral name: the record's id only, nothing about the person.
            filename = f"identity-document-{document.pk}{_extension_of(content)}"
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            response = HttpResponse(content, content_type=content_type)
            response["Content-Disposition"] = f'attachment; filename="{filename}"'
            return no_store(response)
    context = {
        **admin.site.each_context(request),
        "title": _("Download %(document)s") % {"document": document},
        "opts": IdentityDocument._meta,
        "obj": document,
        "member_number": document.member.member_number,
        "form": form,
        "change_url": admin_change_url(document),
    }
    return no_store(TemplateResponse(request, "accounts/document_download.html", context))
