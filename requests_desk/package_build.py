"""Building an approved access package in the Celery worker (PP-29, issue 15 requirement 4).

The supervisor's approval (``requests_desk.fulfilment.access``) commits the decision and an
``AccessPackage`` row in state ``building``, and enqueues ``requests_desk.build_access_package``
by name. The worker then runs ``access_package_run``:

1. **Claim** the row (compare-and-set on its status and heartbeat): a second delivery of the task,
   or a second worker, finds it claimed and leaves. A build whose heartbeat is older than ``STALE``
   died with its worker (killed, out of memory, redeployed): the next run claims it again and
   rebuilds from the start, so a crashed build is rerun and finishes.
2. **Write** the ZIP into a temporary file (``access_package.package_write``: rows streamed in
   chunks, per-category temporary files), refreshing ``rows_done`` and the heartbeat after every
   chunk in its own short statement (autocommit), so the request page shows "N of M rows".
3. **Store** the file encrypted (``protected_storage``, in segments of ``PROTECTED_FILE_SEGMENT_BYTES``:
   memory stays bounded however many rows the member has), its name recorded on the row first so a
   killed build's file is removed by the rerun (or the member's erasure); then in one transaction: the link's token
   (only its hash is kept), the expiry, ``ready``, and the requester's letter with the link. A
   letter that cannot be sent rolls that back: the package fails and its file is removed (the
   token was never kept anywhere else).
4. On any error the row becomes ``failed`` with a message naming the step and the exception's
   class, never its text (a database error can quote the values it refused). ``access_package_retry``
   puts it back to ``building`` and enqueues it again.
"""

from __future__ import annotations

import datetime
import logging
import secrets
import tempfile
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.dispatch.outbox import enqueue_on_commit
from accounts.models import Member
from requests_desk import access_package
from requests_desk.choices import IntakeChannel, PackageStatus
from requests_desk.fulfilment.base import reply
from requests_desk.models import AccessPackage, Message, Request, Transition
from requests_desk.permissions import DECIDE

logger = logging.getLogger(__name__)

#: The task that builds a package, enqueued by name (services never import tasks).
BUILD_TASK = "requests_desk.build_access_package"
#: A build not heard from for this long died with its worker: a rerun may take it over.
STALE = datetime.timedelta(minutes=3)


@dataclass(frozen=True)
class BuildResult:
    package: int
    outcome: str  # "ready", "failed", "busy" (another worker holds it), "done" (already ready or failed)
    rows: int = 0

    def as_dict(self) -> dict:
        return {"package": self.package, "outcome": self.outcome, "rows": self.rows}


def access_package_start(*, request: Request, user) -> AccessPackage:
    """In the approval's transaction: the ``building`` row, and its build enqueued for after commit."""
    package = AccessPackage.objects.create(request=request, member_id=request.member_id,
                                           status=PackageStatus.BUILDING, requested_by=user)
    enqueue_on_commit(BUILD_TASK, package.pk)
    return package


def access_package_retry(*, package: AccessPackage | int, user) -> AccessPackage:
    """A failed build, back to ``building`` and enqueued again (the request page's "Retry" button)."""
    if not user.has_perm(DECIDE):
        raise PermissionDenied(_("Your role may not build access packages."))
    pk = package.pk if isinstance(package, AccessPackage) else package
    with transaction.atomic():
        changed = AccessPackage.objects.filter(pk=pk, status=PackageStatus.FAILED).update(
            status=PackageStatus.BUILDING, error="", rows_done=0, heartbeat_at=None)
        if not changed:
            raise ValidationError(_("Only a failed package can be built again."))
        enqueue_on_commit(BUILD_TASK, pk)
    return AccessPackage.objects.get(pk=pk)


def _claim(pk: int, now: datetime.datetime) -> bool:
    """Compare-and-set: building, and no live build holds it (never claimed, or its heartbeat is stale)."""
    return bool(
        AccessPackage.objects.filter(pk=pk, status=PackageStatus.BUILDING)
        .filter(Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=now - STALE))
        .update(heartbeat_at=now, attempts=F("attempts") + 1, rows_done=0, error="")
    )


def _progress(pk: int):
    def on_rows(done: int) -> None:
        # Its own statement (autocommit in the worker): the request page sees it at once.
        AccessPackage.objects.filter(pk=pk, status=PackageStatus.BUILDING).update(
            rows_done=done, heartbeat_at=timezone.now())
    return on_rows


def _fail(package: AccessPackage, step: str, exc: BaseException) -> None:
    message = (f"The package could not be built: {step} failed ({type(exc).__name__}). Nothing was sent to the "
               "requester. Retry; if it fails again, tell the administrators (the worker's log has the details).")
    AccessPackage.objects.filter(pk=package.pk).update(status=PackageStatus.FAILED, error=message,
                                                       heartbeat_at=None)
    access_package.package_file_discard(package)
    # The exception's class and the package id only: its text may quote personal values.
    logger.error("access package %s: %s failed (%s)", package.pk, step, type(exc).__name__)


def _letter_note(request: Request) -> str:
    note = (Transition.objects.filter(request=request, name="fulfil").order_by("-at", "-pk")
            .values_list("note", flat=True).first())
    return note or ""


def _deliver(package: AccessPackage, request: Request, *, expires_at: datetime.datetime) -> None:
    """Ready and the letter with the link, together: a letter that fails leaves the package not ready."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        changed = AccessPackage.objects.filter(pk=package.pk, status=PackageStatus.BUILDING).update(
            status=PackageStatus.READY, token_hash=access_package.token_hash(token), expires_at=expires_at,
            file=package.file.name, row_counts=package.row_counts, rows_done=package.rows_total,
            ready_at=now, heartbeat_at=None)
        if not changed:
            raise ValidationError(_("The package is no longer being built."))
        sent = reply(request, package.requested_by, note=_letter_note(request), notify=True, template="access_package",
                     extra={"hours": settings.ACCESS_PACKAGE_LINK_HOURS, "expires_at": timezone.localtime(expires_at),
                            "link": access_package.package_link(token)})
        if sent is not None and sent.channel == IntakeChannel.EMAIL:
            # Only the token's hash is kept (PP-29): the copy kept on the request shows where the link was.
            body = sent.body.replace(token, "<link token withheld: only its hash is kept>")
            Message.objects.filter(pk=sent.pk).update(body=body)


def _store(package: AccessPackage, out) -> None:
    """Encrypt the ZIP into the protected storage (a segment at a time), its name kept on the row first.

    The name is on the (still ``building``) row before the first byte is written, so a worker killed
    while storing leaves a file that the rerun, or the member's erasure (``DELETE_FILE``), finds.
    """
    storage = package.file.storage
    name = storage.get_available_name(package.file.field.generate_filename(package, "package.zip"))
    AccessPackage.objects.filter(pk=package.pk).update(file=name)
    package.file.name = name
    stored = storage.save(name, File(out))
    if stored != name:  # another file took the name meanwhile: the storage chose a free one
        AccessPackage.objects.filter(pk=package.pk).update(file=stored)
        package.file.name = stored


def access_package_run(package_id: int, *, now: datetime.datetime | None = None) -> BuildResult:
    """Build package ``package_id``, mark it ready and send the letter (the task's one call)."""
    now = now or timezone.now()
    package = AccessPackage.objects.select_related("request", "requested_by").filter(pk=package_id).first()
    if package is None or package.status != PackageStatus.BUILDING:
        return BuildResult(package=package_id, outcome="done")
    if not _claim(package_id, now):
        return BuildResult(package=package_id, outcome="busy")
    request = package.request
    step = "removing the file of the build that died"
    try:
        if package.file.name:
            # A build killed after it named its file: that file (whole or partial) is ciphertext no
            # ready row points at. Removed before the rebuild, so nothing of the member is left behind.
            access_package.package_file_discard(package)
            AccessPackage.objects.filter(pk=package_id).update(file="")
            package.file.name = ""
        step = "counting the member's rows"
        member = Member.objects.get(pk=package.member_id)
        package.rows_total = access_package.source_counts(member.pk)
        AccessPackage.objects.filter(pk=package_id).update(rows_total=package.rows_total)
        step = "writing the package"
        generated_at = timezone.now()
        expires_at = generated_at + datetime.timedelta(hours=settings.ACCESS_PACKAGE_LINK_HOURS)
        with tempfile.TemporaryFile() as out:
            content = access_package.package_write(
                member=member, reference=request.reference, out=out, expires_at=expires_at,
                generated_at=generated_at, on_rows=_progress(package_id))
            step = "storing the encrypted file"
            out.seek(0)
            _store(package, out)
        package.row_counts = content.row_counts
        step = "sending the letter"
        _deliver(package, request, expires_at=expires_at)
    except Exception as exc:
        _fail(package, step, exc)
        return BuildResult(package=package_id, outcome="failed")
    return BuildResult(package=package_id, outcome="ready", rows=package.rows_total)


__all__ = ["BUILD_TASK", "STALE", "BuildResult", "access_package_retry", "access_package_run",
           "access_package_start"]
