"""The access package (PP-29): a copy of everything the back office keeps about one member.

Split by step (design: a package per subject, a file per step):

- ``plan``: what the data map says to export, model by model (``export_plan``, ``category_columns``);
- ``records``: one streamed query per data-map model, rows as {label: value} (``iter_records``);
- ``writing``: the ZIP of per-category JSON and CSV files and the README (``package_write``);
- ``service``: build and store it encrypted, find it by its link, stream and log the download.

The worker's build (``requests_desk.package_build``) calls ``package_write`` into a temporary file
and stores it through the protected storage, which encrypts it in bounded segments: memory does not
grow with the member's rows (issue 15 requirement 4). The rows per round trip are
``records.CHUNK_SIZE`` (patch it there, not here).
"""

from requests_desk.access_package.plan import ExportField, ExportSource, category_columns, export_plan
from requests_desk.access_package.records import FILE_PLACEHOLDER, iter_records, source_counts
from requests_desk.access_package.service import (
    BUILDABLE_STATES,
    BuiltPackage,
    access_package_build,
    package_check,
    package_download_record,
    package_file_discard,
    package_for_token,
    package_link,
    package_open,
    package_stream,
    token_hash,
)
from requests_desk.access_package.writing import (
    GROUNDS_FILE,
    RECORD_ID,
    RECORD_TYPE,
    PackageContent,
    grounds_in_force,
    package_content,
    package_write,
    readme_text,
)

__all__ = [
    "BUILDABLE_STATES", "FILE_PLACEHOLDER", "GROUNDS_FILE", "RECORD_ID", "RECORD_TYPE", "BuiltPackage",
    "ExportField", "ExportSource", "PackageContent", "access_package_build", "category_columns", "export_plan",
    "grounds_in_force", "iter_records", "package_check", "package_content", "package_download_record",
    "package_file_discard", "package_for_token", "package_link", "package_open", "package_stream",
    "package_write", "readme_text", "source_counts", "token_hash",
]
