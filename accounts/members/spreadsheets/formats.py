"""Reading an import file: CSV and XLSX into a dataset that remembers each record's line in the file.

Blank lines are skipped but counted, so the line numbers in an error report are the ones a person
sees in a text editor or spreadsheet; cells beyond the header and NUL characters are reported, not
dropped or sent to the database. A file that cannot be read at all (another encoding, a damaged
workbook, a cell over the csv module's limit) raises ``UnreadableFile`` saying what and where,
never a value (fuzz findings, tests/accounts/test_fuzz_import.py).
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from xml.etree import ElementTree

import tablib
from import_export.formats import base_formats

from accounts.members.spreadsheets.cells import is_blank
from accounts.members.spreadsheets.problems import ImportProblem, UnreadableFile, column_label


def dataset_from_rows(rows) -> tablib.Dataset:
    """Build a dataset from ``(file line, cells)`` pairs, remembering each record's file line.

    Blank lines are skipped (but counted), so the line numbers in the error report are the ones a
    person sees in a text editor or spreadsheet. Cells beyond the header are reported, not dropped.
    """
    dataset = tablib.Dataset()
    dataset.line_numbers = []
    dataset.read_problems = []
    rows = iter(rows)
    header_line, header = next(rows, (1, []))
    headers = ["" if h is None else str(h).strip().lstrip("\ufeff").lower() for h in header]
    while headers and not headers[-1]:
        headers.pop()
    width = len(headers)
    if width:
        dataset.headers = headers
    for line, cells in rows:
        cells = list(cells)
        if all(is_blank(cell) for cell in cells):
            continue
        extra = cells[width:]
        if any(not is_blank(cell) for cell in extra):
            dataset.read_problems.append(
                ImportProblem(line, "", f"This line has more cells than the header has columns ({width}).")
            )
        cells = cells[:width] + [None] * (width - len(cells))
        if not width:
            dataset.read_problems.append(ImportProblem(header_line, "", "The file has no header line."))
            break
        for position, cell in enumerate(cells):
            if isinstance(cell, str) and "\x00" in cell:
                # Fuzz finding (tests/accounts/test_fuzz_import.py): PostgreSQL text cannot hold NUL,
                # and the look-up of existing records failed with a DataError. Said here, not sent.
                dataset.read_problems.append(ImportProblem(
                    line, column_label(headers[position], position + 1),
                    "This cell holds a NUL character, which no column accepts.",
                ))
                cells[position] = None
        dataset.append(cells)
        dataset.line_numbers.append(line)
    return dataset


def decoded(content: bytes, encoding: str) -> str:
    """``content`` as text, or ``UnreadableFile`` naming the line and byte that is not UTF-8."""
    try:
        return content.decode(encoding)
    except UnicodeDecodeError as exc:
        # Fuzz finding (tests/accounts/test_fuzz_import.py): a file in another encoding (UTF-16,
        # GB18030, Latin-1) raised a bare UnicodeDecodeError that said neither what nor where.
        line = content.count(b"\n", 0, exc.start) + 1
        byte = exc.start - (content.rfind(b"\n", 0, exc.start) + 1) + 1
        raise UnreadableFile(
            f"line {line}: byte {byte} of the line is not UTF-8 text; save the file as CSV UTF-8 and import it again."
        ) from None


class CSV(base_formats.CSV):
    """CSV that keeps each record's line in the file (quoted line breaks and blank lines included)."""

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = decoded(in_stream, self.encoding or "utf-8-sig")
        reader = csv.reader(io.StringIO(in_stream, newline=""))

        def rows():
            last = 0
            for cells in reader:
                yield last + 1, cells
                last = reader.line_num

        try:
            return dataset_from_rows(rows())
        except csv.Error as exc:
            # Fuzz finding: a cell over the csv module's limit (131,072 characters) raised _csv.Error.
            # Its text names the rule, never the cell.
            raise UnreadableFile(f"line {reader.line_num}: this line cannot be read as CSV ({exc}).") from None


#: What openpyxl raises for a file that is not a workbook, or a damaged one (fuzz finding: these
#: reached the caller as such, e.g. BadZipFile or KeyError, without saying that the file is damaged).
XLSX_READ_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, AttributeError, EOFError,
                    OSError, ElementTree.ParseError, zlib.error)


class XLSX(base_formats.XLSX):
    """XLSX (first sheet) that keeps each record's row number in the sheet."""

    def create_dataset(self, in_stream):
        import openpyxl

        try:
            book = openpyxl.load_workbook(io.BytesIO(in_stream), read_only=True, data_only=True)
        except XLSX_READ_ERRORS as exc:
            raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None
        try:
            rows = list(enumerate(book.active.iter_rows(values_only=True), start=1))
        except XLSX_READ_ERRORS as exc:
            raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None
        finally:
            book.close()
        return dataset_from_rows(rows)


_DAMAGED_XLSX = "The file is not a readable XLSX workbook ({kind}); save it again from the spreadsheet program."


FORMATS = {"csv": CSV, "xlsx": XLSX}
