"""Job (PP-02): copy the erasure records off the database every day.

The copy (``retention.records_io``) lives outside the database, so a database restored from an
older backup, or lost outright, can get back the records of erasures made since and
``reapply_erasures`` finds those members again.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from django.conf import settings

from retention import records_io
from retention.jobs.results import JobResult, recorded
from retention.models import ErasureRecord

logger = logging.getLogger(__name__)


@recorded("copy_erasure_records")
def copy_erasure_records(*, dry_run: bool = False, directory: str | Path | None = None,
                         now: datetime.datetime | None = None) -> JobResult:
    """Write today's copy of the erasure records to ``ERASURE_RECORDS_COPY_DIR`` (PP-02).

    The copy lives outside the database (another volume, a bucket mount), so a database restored
    from an older backup, or lost outright, can get back the records of erasures made since
    (``manage.py erasure_records import``) and ``reapply_erasures`` finds the members again.
    """
    target = directory or getattr(settings, "ERASURE_RECORDS_COPY_DIR", "")
    total = ErasureRecord.objects.count()
    if not target:
        logger.warning("copy_erasure_records: ERASURE_RECORDS_COPY_DIR is not set; no copy written")
        return JobResult(selected=total, changed=0, dry_run=dry_run, details={"skipped": "no directory set"})
    if dry_run:
        return JobResult(selected=total, changed=0, dry_run=True)
    path, written = records_io.copy_to_directory(Path(target), now=now,
                                                 keep=getattr(settings, "ERASURE_RECORDS_COPIES_KEPT", 30))
    return JobResult(selected=total, changed=written, dry_run=False, details={"path": str(path)})
