"""The access package service (PP-29): build, store, find by link, stream the download, log it.

**Storage.** The ZIP is stored through ``protected_storage`` (encrypted at rest, PP-26; in bounded
segments once it is larger than ``PROTECTED_FILE_SEGMENT_BYTES``) on an ``AccessPackage`` row that
keeps only the SHA-256 of its random link token. The data map declares that row about the member
and its file ``DELETE_FILE``, so the erasure engine removes both. The download decrypts and sends
one segment at a time (``package_stream``).
"""

from __future__ import annotations

import datetime
import hashlib
import secrets
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Member
from accounts.privacy.storage import PlainFile, protected_storage
from requests_desk.access_package import writing
from requests_desk.choices import PackageStatus, RequestType
from requests_desk.models import AccessPackage, PackageDownload, Request
from requests_desk.permissions import DECIDE
from requests_desk.states import Status

BUILDABLE_STATES = frozenset({Status.IN_PROGRESS, Status.AWAITING_APPROVAL, Status.FULFILLED})


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def package_link(token: str) -> str:
    """The download link sent to the requester: ``PUBLIC_BASE_URL`` (if set) + ``/packages/<token>/``."""
    base = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").rstrip("/")
    return base + reverse("packages:download", kwargs={"token": token})


@dataclass(frozen=True)
class BuiltPackage:
    package: AccessPackage
    token: str  # shown once (in the letter); only its hash is stored

    @property
    def link(self) -> str:
        return package_link(self.token)


def package_check(*, request: Request, user) -> None:
    """What a package needs: the decide permission, an access request about an identified member in a
    buildable state, and a recorded identity verification (PP-30)."""
    if user is not None and not user.has_perm(DECIDE):
        raise PermissionDenied(_("Your role may not generate access packages."))
    if request.type != RequestType.ACCESS:
        raise ValidationError(_("Only an access request yields an access package."))
    if request.member_id is None:
        raise ValidationError({"member": _("Identify the member first: the package is that member's data.")})
    if request.status not in BUILDABLE_STATES:
        raise ValidationError(_("Cannot build a package: request %(reference)s is %(status)s.") % {
            "reference": request.reference, "status": request.get_status_display().lower()})
    if not request.identity_checks.exists():
        raise ValidationError(_("The requester's identity has not been verified: record a verification first (PP-30)."))


def access_package_build(*, request: Request, user) -> BuiltPackage:
    """Generate, encrypt and store the access package of ``request``'s member (PP-29).

    Needs the decide permission (compliance), an access request about an identified member, a
    recorded identity verification (PP-30), and the request in progress, awaiting approval or
    fulfilled. Returns the package and its link token; the token is not stored (only its SHA-256),
    so this is the one moment it can be sent. The file is removed again if the row is not saved.
    """
    package_check(request=request, user=user)
    member = Member.objects.get(pk=request.member_id)
    now = timezone.now()
    expires_at = now + datetime.timedelta(hours=settings.ACCESS_PACKAGE_LINK_HOURS)
    token = secrets.token_urlsafe(32)
    package = AccessPackage(request=request, member=member, status=PackageStatus.READY,
                            token_hash=token_hash(token), created_at=now, expires_at=expires_at)
    with tempfile.TemporaryFile() as out:
        content = writing.package_write(member=member, reference=request.reference, out=out,
                                        expires_at=expires_at, generated_at=now)
        package.row_counts = content.row_counts
        out.seek(0)
        package.file.save("package.zip", File(out), save=False)  # encrypted by the storage, in segments
    try:
        package.save()
    except BaseException:
        # No row points at the file: remove it now. (A caller whose own transaction rolls back later
        # removes it with ``package_file_discard``, see ``requests_desk.fulfilment.access``.)
        package_file_discard(package)
        raise
    return BuiltPackage(package=package, token=token)


def package_file_discard(package: AccessPackage) -> None:
    """Delete the encrypted file of a package whose row was rolled back (no row may point at it)."""
    if package.file.name:
        protected_storage.delete(package.file.name)


def package_for_token(token: str, *, now: datetime.datetime | None = None) -> AccessPackage | None:
    """The unexpired package whose link token is ``token``; None for unknown or expired links."""
    if not token or len(token) > 200:
        return None
    now = now or timezone.now()
    return (
        AccessPackage.objects.select_related("request")
        .filter(token_hash=token_hash(token), expires_at__gt=now, status=PackageStatus.READY)
        .first()
    )


def package_open(package: AccessPackage) -> bytes:
    """The decrypted ZIP, whole (tests and small packages; the download streams ``package_stream``)."""
    with protected_storage.open(package.file.name, "rb") as handle:
        return handle.read()


def package_stream(package: AccessPackage) -> PlainFile:
    """The decrypted ZIP a segment at a time, with its size (``FileNotFoundError`` if it was erased)."""
    return protected_storage.open_plaintext(package.file.name)


def package_download_record(*, package: AccessPackage, ip_address: str | None, user_agent: str, staff_user=None):
    """Log one download: when, from which IP address and browser, and the staff user if one was logged in."""
    return PackageDownload.objects.create(
        package=package, ip_address=ip_address or None, user_agent=(user_agent or "")[:300], staff_user=staff_user,
    )

