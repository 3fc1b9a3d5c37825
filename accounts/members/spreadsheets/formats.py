"""Reading an import file: CSV, tab-separated text and XLSX into a dataset that remembers each record's line.

Blank lines are skipped but counted, so the line numbers in an error report are the ones a person
sees in a text editor or spreadsheet; cells beyond the header and NUL characters are reported, not
dropped or sent to the database. A file that cannot be read at all (bytes that do not decode, a damaged
workbook, a cell over the csv module's limit) raises ``UnreadableFile`` saying what and where,
never a value (fuzz findings, tests/accounts/test_fuzz_import.py).
"""

from __future__ import annotations

import csv
import io
import itertools
import zipfile
import zlib
from xml.etree import ElementTree

import openpyxl
import tablib
from import_export.formats import base_formats

from accounts.members.spreadsheets import encodings
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


class CSV(base_formats.CSV):
    """CSV that keeps each record's line in the file (quoted line breaks and blank lines included).

    Bytes are decoded in the encoding given (``encoding``; ``auto`` detects it, see
    ``accounts.members.spreadsheets.encodings``). A tab-separated header (Excel's "Unicode text")
    makes the file tab-separated.
    """

    #: None: a comma, or a tab when the header line is tab-separated.
    delimiter: str | None = None

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, bytes):
            in_stream = encodings.decode_bytes(in_stream, self.encoding or encodings.AUTO)
        delimiter = self.delimiter or encodings.delimiter_of(in_stream.split("\n", 1)[0])
        reader = csv.reader(io.StringIO(in_stream, newline=""), delimiter=delimiter)

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


class TSV(CSV):
    """Tab-separated text (Excel's "Unicode text", UTF-16): read as CSV with tabs."""

    delimiter = "\t"

    def get_title(self):
        return "tsv"

    def get_extension(self):
        return "tsv"


def _file_text(path, encoding: str):
    with open(path, "rb") as binary:
        yield from encodings.decoded_text(binary, encoding)


def file_stream(path, file_format: str, encoding: str = encodings.AUTO) -> RecordStream:
    """The records of a CSV, TSV or XLSX file on disk, read as they are needed."""
    if file_format in TEXT_FORMATS:
        return csv_stream(_file_text(path, encoding), delimiter=FORMATS[file_format].delimiter)
    return xlsx_stream(str(path))


def csv_stream(text, delimiter: str | None = None) -> RecordStream:
    """The records of CSV text read line by line from decoded chunks (bounded memory).

    ``UnreadableFile`` (from ``encodings``) names the line where the text stops decoding, as it is read.
    """
    lines = encodings.text_lines(text)
    first = next(lines, "")
    reader = csv.reader(itertools.chain([first] if first else [], lines),
                        delimiter=delimiter or encodings.delimiter_of(first))

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


#: By the command's ``--format`` or the file name's extension; ``txt`` is what Excel names "Unicode text".
FORMATS = {"csv": CSV, "tsv": TSV, "txt": TSV, "xlsx": XLSX}
TEXT_FORMATS = frozenset({"csv", "tsv", "txt"})
