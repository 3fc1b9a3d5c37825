"""Job (PP-11): delete device and security records older than their retention period.

Device records older than ``SECURITY_DATA_RETENTION_DAYS`` go chunk by chunk, each chunk its own
short transaction (members under legal hold keep theirs), and so do the staff sign-in records
django-axes keeps (e-mail, IP address, browser). Staff sessions are cleared by
``retention.jobs.sessions``.
"""

from __future__ import annotations

import datetime

from django.apps import apps
from django.db import transaction
from django.utils import timezone

from accounts.models import DeviceRecord
from retention import selectors
from retention.jobs.results import JobResult, recorded

#: Device records deleted per statement by ``expire_security_data``.
SECURITY_DATA_CHUNK = 5000


@recorded("expire_security_data")
def expire_security_data(
    *, dry_run: bool = False, now: datetime.datetime | None = None, chunk_size: int = SECURITY_DATA_CHUNK,
    bar=None,
) -> JobResult:
    """Delete device and security records older than ``SECURITY_DATA_RETENTION_DAYS`` (PP-11).

    Set-based: one SELECT of ids and one DELETE per chunk, each chunk its own short transaction so
    a large backlog never holds a long lock. Members under legal hold keep theirs. Staff sign-in
    records of django-axes (e-mail, IP address, browser) older than the same retention go too.
    Staff sessions are cleared by ``clear_expired_sessions``.
    """
    now = now or timezone.now()
    expired = selectors.expired_device_records(now=now)
    if dry_run:
        cutoff = selectors.security_data_cutoff(now=now)
        sign_ins = sum(queryset.count() for _model, queryset in _sign_in_records(cutoff))
        return JobResult(selected=expired.count(), changed=0, dry_run=True, details={"sign_in_records": sign_ins})
    if bar is not None:
        bar.total = expired.count()
        bar.refresh()
    deleted = 0
    while True:
        with transaction.atomic():
            ids = list(expired.order_by("pk").values_list("pk", flat=True)[:chunk_size])
            if not ids:
                break
            # DeviceRecord has no dependants nor signals: Django issues one fast DELETE.
            count, _ = DeviceRecord.objects.filter(pk__in=ids).delete()
        deleted += count
        if bar is not None:
            bar.update(count)
        if len(ids) < chunk_size:
            break
    sign_ins = _expire_sign_in_records(cutoff=selectors.security_data_cutoff(now=now),
                                       chunk_size=chunk_size)
    return JobResult(selected=deleted, changed=deleted, dry_run=False, details={"sign_in_records": sign_ins})


#: django-axes keeps staff sign-in attempts (e-mail, IP address, browser): security data too (PP-11).
SIGN_IN_RECORD_MODELS = (("axes", "AccessAttempt"), ("axes", "AccessLog"), ("axes", "AccessFailureLog"))


def _sign_in_records(cutoff: datetime.datetime):
    for app_label, name in SIGN_IN_RECORD_MODELS:
        if apps.is_installed(app_label):
            model = apps.get_model(app_label, name)
            yield model, model.objects.filter(attempt_time__lt=cutoff)


def _expire_sign_in_records(*, cutoff: datetime.datetime, chunk_size: int) -> int:
    """Delete staff sign-in records older than the security-data retention, chunk by chunk."""
    deleted = 0
    for model, expired in _sign_in_records(cutoff):
        while True:
            with transaction.atomic():
                ids = list(expired.order_by("pk").values_list("pk", flat=True)[:chunk_size])
                if not ids:
                    break
                count, _ = model.objects.filter(pk__in=ids).delete()
            deleted += count
            if len(ids) < chunk_size:
                break
    return deleted
