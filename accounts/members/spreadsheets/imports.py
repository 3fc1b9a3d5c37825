"""Imports of member records, end to end (issue 3, requirement 10).

``dataset_from_file`` reads CSV or XLSX bytes with the file formats (``accounts.members.spreadsheets.formats``)
and ``records_import`` checks every row with a resource (``accounts.members.spreadsheets.resource`` and one
module per record kind) and writes all of them or none; ``manage.py import_records`` and the tests
call them. The writes themselves live in ``accounts.members.spreadsheets.writes``; what an import is
refused for in ``accounts.members.spreadsheets.problems``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tablib
from django.utils.translation import gettext as _

from accounts.members.spreadsheets import columnar, encodings, streaming
from accounts.members.spreadsheets.formats import (
    FORMATS,
    TEXT_FORMATS,
    RecordStream,
    dataset_from_stream,
    file_stream,
    stream_from_dataset,
)
from accounts.members.spreadsheets.problems import ImportProblem, UnreadableFile, source_problem
from accounts.members.spreadsheets.resource import RecordResource
from accounts.models import ImportBatch


# --- Import -------------------------------------------------------------------------------------
@dataclass
class ImportReport:
    """What an import did, or why it did nothing."""

    total_rows: int
    new: int = 0
    updated: int = 0
    skipped: int = 0
    dry_run: bool = False
    problems: list[ImportProblem] = field(default_factory=list)
    #: The import's record with its source (PP-16); None for a dry run or a refused import.
    batch: ImportBatch | None = None

    @property
    def committed(self) -> bool:
        return not self.problems and not self.dry_run


def file_format_of(*, file_name: str = "", file_format: str = "") -> str:
    """The format of a file (``csv``, ``tsv``/``txt`` or ``xlsx``) from the option or the name's extension."""
    name = (file_format or Path(file_name).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise UnreadableFile(_("Unsupported file format %(format)s: use one of %(formats)s.")
                             % {"format": repr(name or _("(none)")), "formats": ", ".join(FORMATS)})
    return name


def dataset_from_file(*, content: bytes, file_name: str = "", file_format: str = "",
                      encoding: str = encodings.AUTO) -> tablib.Dataset:
    """Read CSV, TSV or XLSX bytes into a dataset that remembers each record's line in the file.

    Text is decoded in ``encoding`` (``auto``: detected; ``accounts.members.spreadsheets.encodings``).
    Raises ``UnreadableFile`` for a file that is not what its format says (fuzz finding, see
    ``accounts.members.spreadsheets.formats.CSV`` and ``accounts.members.spreadsheets.formats.XLSX``).
    """
    name = file_format_of(file_name=file_name, file_format=file_format)
    fmt = FORMATS[name](encoding=encoding) if name in TEXT_FORMATS else FORMATS[name]()
    return fmt.create_dataset(content)


def records_in_file(path, file_format: str) -> int | None:
    """About how many records a file holds, for a progress bar: its line breaks less the header (text), or None."""
    if file_format not in TEXT_FORMATS:
        return None
    lines = 0
    with open(path, "rb") as binary:
        while block := binary.read(1 << 20):
            lines += block.count(b"\n")
    return max(lines - 1, 0)


def records_import(
    *, resource_class: type[RecordResource], dataset: tablib.Dataset, source: str, user=None, dry_run: bool = False,
    on_row=None,
) -> ImportReport:
    """Check every row of ``dataset`` and write all of them, or none if any row has a problem.

    ``source`` names where the file came from (PP-16): the third party and the agreement or consent
    it was received under. It is required: without it nothing is imported. A committed import
    records an ``ImportBatch`` with it, and the rows written point to that batch.

    ``dry_run`` checks and writes inside a transaction that is rolled back, so database rules are
    checked too. ``on_row`` is called once per row (progress bars).
    """
    return records_import_stream(
        resource_class=resource_class, open_stream=lambda: stream_from_dataset(dataset), source=source, user=user,
        dry_run=dry_run, on_row=on_row, dataset=dataset,
    )


def records_import_file(
    *, resource_class: type[RecordResource], path, file_format: str, source: str, user=None, dry_run: bool = False,
    on_row=None, encoding: str = encodings.AUTO,
) -> ImportReport:
    """``records_import`` of a file on disk, streamed: Python's memory stays bounded (issue 15).

    Text is decoded incrementally in ``encoding`` (``auto``: detected from the file's first bytes).
    Raises ``UnreadableFile`` (nothing written) for a file that is not what its format says, or whose
    bytes do not decode, wherever in the file that happens (the import's transaction rolls back).
    """
    return records_import_stream(
        resource_class=resource_class, open_stream=lambda: file_stream(path, file_format, encoding), source=source,
        user=user, dry_run=dry_run, on_row=on_row,
    )


def records_import_stream(
    *, resource_class: type[RecordResource], open_stream: Callable[[], RecordStream], source: str, user=None,
    dry_run: bool = False, on_row=None, dataset: tablib.Dataset | None = None,
) -> ImportReport:
    """The import behind ``records_import`` and ``records_import_file``.

    A file of new records (members, transactions) takes the streamed fast path
    (``accounts.members.spreadsheets.streaming``); a file that names stored records, or has a
    problem with its header or source, takes the general path (django-import-export's
    ``import_data``, ``RecordResource``): the same checks, messages and all-or-nothing.
    """
    if resource_class.streams:
        stream = open_stream()
        resource = resource_class(user=user, on_row=on_row, source=source)
        if stream.headers and not (source_problem(source) or resource.header_problems(stream.headers)):
            resource._columns = set(stream.headers)
            try:
                plan = columnar.plan_for(resource, stream.headers)  # no model instance per good row
                if plan is not None:
                    fast = columnar.records_columnar_import(resource=resource, plan=plan, stream=stream,
                                                            dry_run=dry_run)
                else:
                    fast = streaming.records_stream_import(resource=resource, stream=stream, dry_run=dry_run)
            except streaming.StoredRecords:
                pass
            else:
                return ImportReport(total_rows=fast.total_rows, new=fast.new, dry_run=dry_run,
                                    problems=fast.problems, batch=fast.batch)
    if dataset is None:
        dataset = dataset_from_stream(open_stream())
    resource = resource_class(user=user, on_row=on_row, source=source)
    result = resource.import_data(dataset, dry_run=dry_run, user=user)
    problems = result.problems
    return ImportReport(
        total_rows=result.total_rows,
        new=result.totals["new"],
        updated=result.totals["update"],
        skipped=result.totals["skip"],
        dry_run=dry_run,
        problems=problems,
        batch=None if dry_run or problems else resource.batch,
    )
