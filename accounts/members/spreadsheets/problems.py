"""Why an import of member records is refused (issue 3, requirement 10; PP-16).

Shared by the file formats and resources that read and check a file
(``accounts.members.spreadsheets.formats``, ``accounts.members.spreadsheets.resource``), the writes behind them
(``accounts.members.spreadsheets.writes``) and the callers (``accounts.members.spreadsheets.imports``, the admin's
import forms, ``manage.py import_records``): a problem with a line or column of the file, a file
that cannot be read at all, and a missing or unusable source. None of them ever holds a value from
the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from accounts.models import ImportBatch


@dataclass(frozen=True, order=True)
class ImportProblem:
    """One reason an import was refused: where (file line, column) and why. Never the value."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        if self.column:
            return _("line %(line)s, column %(column)s: %(message)s") % {
                "line": self.line, "column": self.column, "message": self.message}
        return _("line %(line)s: %(message)s") % {"line": self.line, "message": self.message}


class ImportFileProblem(Exception):
    """A problem with the file as a whole (header) or with a line that is not a record.

    Raised into the library's result as a base error, which is what makes it roll the import back.
    """

    def __init__(self, problem: ImportProblem):
        super().__init__(str(problem))
        self.problem = problem


class UnreadableFile(ValueError):
    """A file that cannot be read as the format it claims; the message says what and where, never a value."""


#: A header cell that reads like a column name, and may be quoted in a problem.
_COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def column_label(name: str, position: int) -> str:
    """How a problem names a header cell: by its text if that looks like a column name, else by position.

    Fuzz finding (tests/accounts/test_fuzz_import.py): a file without its header line has a record
    there, and "Unknown column" quoted each of its cells (names, e-mails) in the report; a cell with
    a line break also split the command's one-problem-a-line output.
    """
    return name if _COLUMN_NAME.fullmatch(name) else f"#{position}"


# --- Where imported data came from (PP-16) ------------------------------------------------------
SOURCE_MAX_LENGTH = ImportBatch._meta.get_field("source").max_length
MIN_SOURCE_LENGTH = 3


def source_problem(source: str) -> str | None:
    """Why ``source`` cannot name the origin of an import, or None when it can (PP-16)."""
    text = (source or "").strip()
    if len(text) < MIN_SOURCE_LENGTH:
        return _("Name the source of the data: the third party it came from and the agreement or consent it was "
                 "received under (PP-16). Nothing was imported.")
    if len(text) > SOURCE_MAX_LENGTH:
        return _("The source is longer than %(max)s characters.") % {"max": SOURCE_MAX_LENGTH}
    return None
