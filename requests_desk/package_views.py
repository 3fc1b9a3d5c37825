"""Download of an access package through its expiring link (PP-29).

The link carries a random token; only its SHA-256 is stored. An unknown or expired token gets a
404 and writes nothing. A valid one streams the decrypted ZIP (segment by segment) and logs the download (when, from
which IP address and browser, and the staff user if one is logged in).
"""

from __future__ import annotations

from django.http import Http404, StreamingHttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from requests_desk import access_package


def _client_ip(request) -> str | None:
    # Behind a proxy, Django sees the proxy's address unless the deployment rewrites REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR") or None


@require_GET
@never_cache
def package_download(request, token: str):
    package = access_package.package_for_token(token)
    if package is None:
        raise Http404(_("No such package, or the link has expired."))
    try:
        # Opened now (a missing file is a 404, not a broken response); decrypted a segment at a time
        # as the response is sent, so a package of a million orders never sits in memory whole.
        stream = access_package.package_stream(package)
    except FileNotFoundError:
        # The package was erased (or never written): nothing to download, nothing to log.
        raise Http404(_("No such package, or the link has expired.")) from None
    user = request.user if request.user.is_authenticated else None
    access_package.package_download_record(
        package=package, ip_address=_client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", ""),
        staff_user=user,
    )
    response = StreamingHttpResponse(stream, content_type="application/zip")  # closes the file when done
    response["Content-Length"] = str(stream.size)
    response["Content-Disposition"] = f'attachment; filename="access-package-{package.request.reference}.zip"'
    response["Cache-Control"] = "no-store, private"
    response["X-Content-Type-Options"] = "nosniff"
    response["Referrer-Policy"] = "no-referrer"
    return response
