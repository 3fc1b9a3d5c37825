"""Job (PP-18): write the de-identified research dataset, and list every export written.

The dataset is built by ``retention.deidentify``; the file's path is kept in the job run's counts
so that an erasure can find every export generated.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from retention import deidentify
from retention.jobs.results import JobResult, recorded
from retention.models import JobRun


@recorded("export_deidentified")
def export_deidentified(
    *, dry_run: bool = False, path: str | Path | None = None, today: datetime.date | None = None,
    k: int | None = None,
) -> JobResult:
    """Write the de-identified research dataset (``retention.deidentify``) as CSV.

    The file's path is kept in the job run's counts so an erasure can find every export generated
    (they carry no direct identifiers, and suppressed rows never reach them).
    """
    dataset = deidentify.build_dataset(today=today, k=k)
    details = {"rows": len(dataset.rows), "generalised": dataset.generalised, "suppressed": dataset.suppressed,
               "k": dataset.k}
    if not dry_run:
        target = deidentify.write_csv(dataset, Path(path) if path else deidentify.default_export_path())
        details["path"] = str(target)
    return JobResult(selected=dataset.selected, changed=len(dataset.rows) if not dry_run else 0, dry_run=dry_run,
                     details=details)


def generated_export_paths() -> list[str]:
    """Every de-identified export file this back office wrote (for the erasure's reach)."""
    counts = JobRun.objects.filter(job="export_deidentified", error="").values_list("counts", flat=True)
    return [c["path"] for c in counts if isinstance(c, dict) and c.get("path")]
