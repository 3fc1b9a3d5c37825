"""Reading a directory of ``*.eml`` files (``manage.py ingest_mail`` and the scheduled job
``requests_desk.ingest_mail``): one run at a time per directory, unreadable files quarantined,
ingested files removed once committed when asked.

Log lines carry counts and references only, never an address or a body (style rule 6).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from requests_desk.mail.ingest import mail_ingest
from requests_desk.mail.parse import UnreadableMail

logger = logging.getLogger(__name__)

QUARANTINE_DIR = "quarantine"


@dataclass
class IngestReport:
    files: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    quarantined: list[tuple[str, str]] = field(default_factory=list)
    #: Another run held the directory's lock: this one read nothing.
    busy: bool = False
    #: Files removed from the directory after their message was kept (``remove_processed``).
    removed: int = 0

    def add(self, action: str) -> None:
        self.counts[action] = self.counts.get(action, 0) + 1

    def as_dict(self) -> dict:
        """Counts only (a Celery result): no file names, which may name a person."""
        return {"files": self.files, **self.counts, "removed": self.removed, "busy": self.busy}


def _quarantine(path: Path, reason: str) -> Path:
    """Move an unreadable file aside with a ``.reason.txt`` beside it; nothing is lost."""
    folder = path.parent / QUARANTINE_DIR
    folder.mkdir(exist_ok=True)
    target = folder / path.name
    counter = 1
    while target.exists():
        target = folder / f"{path.stem}.{counter}{path.suffix}"
        counter += 1
    path.replace(target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")
    return target


LOCK_FILE = ".ingest_mail.lock"


@contextlib.contextmanager
def _directory_lock(directory: Path):
    """Hold the directory's lock file for a run; yields False when another run holds it.

    Race: the scheduled job every few minutes, a run that takes longer than that, and someone
    running the command by hand. Two runs reading the same file at once could both find its
    Message-ID not yet kept and open two requests for one e-mail. ``flock`` is released by the
    kernel when the process ends, so a killed worker leaves no stale lock.
    """
    with open(directory / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_after_commit(path: Path, report: IngestReport) -> None:
    """Delete an ingested file once the transaction that kept its message has committed."""

    def remove() -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            report.removed += 1

    transaction.on_commit(remove)


def mail_directory_ingest(
    directory: Path, *, acknowledge: bool = False, on_file: Callable[[], None] | None = None,
    remove_processed: bool = False,
) -> IngestReport:
    """Ingest every ``*.eml`` file of ``directory`` (not its quarantine) in name order.

    Unreadable files are moved to ``directory/quarantine/`` with a ``.reason.txt`` beside each.
    Log lines carry counts and references only, never an address or a body.

    Without ``remove_processed`` the files stay where they are and a rerun skips them by
    Message-ID (reported as duplicates). With it (the scheduled job), a file whose message is
    kept, or was kept already, is deleted once that is committed: the message and its attachments
    are then stored encrypted on the request, and a plaintext copy left in a folder would escape
    encryption at rest (PP-26) and erasure (PP-02). A file that fails for another reason stays for
    the next run. One run at a time per directory (a lock file); a run that finds the lock held
    reads nothing and reports ``busy``.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ValidationError(f"{directory} is not a directory.")
    report = IngestReport()
    with _directory_lock(directory) as locked:
        if not locked:
            report.busy = True
            logger.info("ingest_mail: another run is reading this directory; nothing done")
            return report
        _ingest_files(directory, report, acknowledge=acknowledge, on_file=on_file,
                      remove_processed=remove_processed)
    logger.info("ingest_mail: %s files, %s, %s removed", report.files, report.counts, report.removed)
    return report


def _ingest_files(directory: Path, report: IngestReport, *, acknowledge: bool, on_file, remove_processed: bool):
    paths = sorted(p for p in directory.iterdir() if p.is_file() and p.suffix.lower() == ".eml")
    for path in paths:
        report.files += 1
        try:
            raw = path.read_bytes()
            outcome = mail_ingest(raw, acknowledge=acknowledge)
        except UnreadableMail as exc:
            _quarantine(path, str(exc))
            report.quarantined.append((path.name, str(exc)))
            report.add("quarantined")
        except OSError as exc:
            reason = f"the file cannot be read ({type(exc).__name__})"
            if path.exists():
                _quarantine(path, reason)
            report.quarantined.append((path.name, reason))
            report.add("quarantined")
        else:
            report.add(outcome.action)
            logger.info("ingest_mail: message %s onto request %s", outcome.action, outcome.reference)
            if remove_processed:
                _remove_after_commit(path, report)
        if on_file:
            on_file()
