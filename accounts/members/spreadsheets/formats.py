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

import openpyxl
import tablib
from import_export.formats import base_formats

from accounts.members.spreadsheets.cells import is_blank
from accounts.members.spreadsheets.problems import ImportProblem, UnreadableFile, column_label


class RecordStream:
    """The records of a file, read as they are needed: the header first, then ``(file line, cells)``.

    Blank lines are skipped (but counted), so the line numbers in the error report are the ones a
    person sees in a text editor or spreadsheet. Cells beyond the header and NUL characters are
    reported in ``read_problems`` as the records are read, not dropped or sent to the database.
    Streaming keeps Python's memory bounded whatever the size of the file (issue 15).
    """

    def __init__(self, rows):
        self.read_problems: list[ImportProblem] = []
        self._rows = iter(rows)
        self.header_line, header = next(self._rows, (1, []))
        headers = ["" if h is None else str(h).strip().lstrip("\ufeff").lower() for h in header]
        while headers and not headers[-1]:
            headers.pop()
        self.headers: list[str] = headers

    def __iter__(self):
        headers = self.headers
        width = len(headers)
        for line, cells in self._rows:
            cells = list(cells)
            if all(is_blank(cell) for cell in cells):
                continue
            extra = cells[width:]
            if any(not is_blank(cell) for cell in extra):
                self.read_problems.append(
                    ImportProblem(line, "", f"This line has more cells than the header has columns ({width}).")
                )
            cells = cells[:width] + [None] * (width - len(cells))
            if not width:
                self.read_problems.append(ImportProblem(self.header_line, "", "The file has no header line."))
                return
            for position, cell in enumerate(cells):
                if isinstance(cell, str) and "\x00" in cell:
                    # Fuzz finding (tests/accounts/test_fuzz_import.py): PostgreSQL text cannot hold NUL,
                    # and the look-up of existing records failed with a DataError. Said here, not sent.
                    self.read_problems.append(ImportProblem(
                        line, column_label(headers[position], position + 1),
                        "This cell holds a NUL character, which no column accepts.",
                    ))
                    cells[position] = None
            yield line, cells


def dataset_from_rows(rows) -> tablib.Dataset:
    """Build a dataset from ``(file line, cells)`` pairs, remembering each record's file line."""
    return dataset_from_stream(RecordStream(rows))


def dataset_from_stream(stream: RecordStream) -> tablib.Dataset:
    """Read a whole stream into a dataset (the general import path and the admin's preview)."""
    dataset = tablib.Dataset()
    dataset.line_numbers = []
    if stream.headers:
        dataset.headers = stream.headers
    for line, cells in stream:
        dataset.append(cells)
        dataset.line_numbers.append(line)
    dataset.read_problems = stream.read_problems
    return dataset


def stream_from_dataset(dataset) -> RecordStream:
    """A dataset read by ``dataset_from_rows`` as a stream again (its lines and read problems kept)."""
    lines = list(getattr(dataset, "line_numbers", None) or range(2, len(dataset) + 2))
    stream = RecordStream(iter([(1, list(dataset.headers or []))]))
    stream._rows = zip(lines, (list(row) for row in dataset), strict=False)
    stream.read_problems = list(getattr(dataset, "read_problems", []))
    return stream


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


def _text_lines(binary, encoding: str):
    """The lines of a binary file as text, one at a time; ``UnreadableFile`` names the line and byte."""
    for number, raw in enumerate(binary, start=1):
        try:
            yield raw.decode(encoding if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(
                f"line {number}: byte {exc.start + 1} of the line is not UTF-8 text; save the file as CSV UTF-8 "
                "and import it again."
            ) from None


def _file_lines(path):
    with open(path, "rb") as binary:
        yield from binary


def file_stream(path, file_format: str) -> RecordStream:
    """The records of a CSV or XLSX file on disk, read as they are needed."""
    if file_format == "csv":
        return csv_stream(_file_lines(path))
    return xlsx_stream(str(path))


def csv_stream(binary, encoding: str = "utf-8-sig") -> RecordStream:
    """The records of a CSV file read line by line from a binary file object (bounded memory)."""
    reader = csv.reader(_text_lines(binary, encoding))

    def rows():
        last = 0
        try:
            for cells in reader:
                yield last + 1, cells
                last = reader.line_num
        except csv.Error as exc:
            raise UnreadableFile(f"line {reader.line_num}: this line cannot be read as CSV ({exc}).") from None

    return RecordStream(rows())


def xlsx_stream(binary) -> RecordStream:  # a file object or a path
    """The records of the first sheet of an XLSX workbook, row by row (openpyxl's read-only mode)."""
    try:
        book = openpyxl.load_workbook(binary, read_only=True, data_only=True)
        rows = book.active.iter_rows(values_only=True)
    except XLSX_READ_ERRORS as exc:
        raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None

    def read():
        try:
            yield from enumerate(rows, start=1)
        except XLSX_READ_ERRORS as exc:
            raise UnreadableFile(_DAMAGED_XLSX.format(kind=type(exc).__name__)) from None
        finally:
            book.close()

    return RecordStream(read())


#: What openpyxl raises for a file that is not a workbook, or a damaged one (fuzz finding: these
#: reached the caller as such, e.g. BadZipFile or KeyError, without saying that the file is damaged).
XLSX_READ_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, TypeError, IndexError, AttributeError, EOFError,
                    OSError, ElementTree.ParseError, zlib.error)


class XLSX(base_formats.XLSX):
    """XLSX (first sheet) that keeps each record's row number in the sheet."""

    def create_dataset(self, in_stream):
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
