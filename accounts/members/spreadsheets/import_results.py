"""What an import found, in the file's terms: line as in the file, column and reason, never the value."""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS
from django.utils.translation import gettext as _
from import_export.results import Error, Result

from accounts.members.spreadsheets.problems import ImportFileProblem, ImportProblem


class ImportResult(Result):
    """The library's result plus file line numbers and column names for the error report."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        #: File line of each data row (index 0 = first data row).
        self.line_numbers: list[int] = []
        #: Model attribute or field name -> column name in the file.
        self.columns: dict[str, str] = {}

    def add_file_problem(self, problem: ImportProblem) -> None:
        # A base error makes ``has_errors()`` true, which is what makes the library roll back.
        self.append_base_error(Error(ImportFileProblem(problem)))

    def line_of(self, number: int) -> int:
        """File line of the library's 1-based data row number."""
        if 0 < number <= len(self.line_numbers):
            return self.line_numbers[number - 1]
        return number + 1

    @property
    def problems(self) -> list[ImportProblem]:
        found: list[ImportProblem] = []
        for error in self.base_errors:
            if isinstance(error.error, ImportFileProblem):
                found.append(error.error.problem)
            else:
                # Database errors can quote values: name the kind of error only.
                kind = type(error.error).__name__
                found.append(ImportProblem(0, "", _("The import failed (%(kind)s); nothing was written.")
                                           % {"kind": kind}))
        for row in self.error_rows:
            for error in row.errors:
                found.append(
                    ImportProblem(self.line_of(row.number), "", _("Unexpected error (%(kind)s).")
                                 % {"kind": type(error.error).__name__})
                )
        for row in self.invalid_rows:
            line = self.line_of(row.number)
            for name, messages in row.error_dict.items():
                column = "" if name == NON_FIELD_ERRORS else self.columns.get(name, name)
                found.extend(ImportProblem(line, column, str(message)) for message in messages)
        return sorted(found)
