"""Why an import of member records is refused (issue 3, requirement 10; PP-16).

Shared by the resources that read and check a file (``accounts.resources``), the writes behind
them (``accounts.record_writes``) and the callers (``accounts.imports``, the admin's import forms,
``manage.py import_records``): a problem with a line or column of the file, a file that cannot be
read at all, and a missing or unusable source. None of them ever holds a value from the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import ImportBatch


@dataclass(frozen=True, order=True)
class ImportProblem:
    """One reason an import was refused: where (file line, column) and why. Never the value."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}"


class UnreadableFile(ValueError):
    """A file that cannot be read as the format it claims; the message says what and where, never a value."""


# --- Where imported data came from (PP-16) ------------------------------------------------------
SOURCE_MAX_LENGTH = ImportBatch._meta.get_field("source").max_length
MIN_SOURCE_LENGTH = 3


def source_problem(source: str) -> str | None:
    """Why ``source`` cannot name the origin of an import, or None when it can (PP-16)."""
    text = (source or "").strip()
    if len(text) < MIN_SOURCE_LENGTH:
        return ("Name the source of the data: the third party it came from and the agreement or consent it was "
                "received under (PP-16). Nothing was imported.")
    if len(text) > SOURCE_MAX_LENGTH:
        return f"The source is longer than {SOURCE_MAX_LENGTH} characters."
    return None
