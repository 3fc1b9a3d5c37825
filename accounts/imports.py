"""Writes behind imports and exports of member records (issue 3, requirement 10).

The resources (``accounts.resources``) read and check a file; the admin mixins
(``accounts.admin_import``) and ``manage.py import_records`` call them through ``records_import``.
The writes live here: bulk inserts and updates with their audit history, and the access-log row
an unmasked export leaves behind (PP-25).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import models, transaction
from simple_history.models import HistoricalRecords

from accounts.fields import BlindIndexField
from accounts.models import ImportBatch, SensitiveAccessLog

if TYPE_CHECKING:
    import tablib

    from accounts.resources import ImportProblem, RecordResource

#: The change reason on history rows written by an import (no file name: it may name a person).
HISTORY_REASON = "Imported from a file"


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


def import_batch_record(
    *, source: str, user, model: type[models.Model], total_rows: int, new: int, updated: int, unchanged: int
) -> ImportBatch:
    """Record one import with its source, who ran it and its counts (PP-16), in the import's transaction.

    Called by the resources when the rows are written (``accounts.resources.RecordResource``), so the
    rows can point to it; a refused or dry-run import rolls it back with the rows.
    """
    problem = source_problem(source)
    if problem:
        raise ValueError(problem)
    return ImportBatch.objects.create(
        model_label=model._meta.label, source=source.strip(), imported_by=user, total_rows=total_rows,
        new_rows=new, updated_rows=updated, unchanged_rows=unchanged,
    )


class UnreadableFile(ValueError):
    """A file that cannot be read as the format it claims; the message says what and where, never a value."""


def dataset_from_file(*, content: bytes, file_name: str = "", file_format: str = "") -> tablib.Dataset:
    """Read CSV or XLSX bytes into a dataset that remembers each record's line in the file.

    Raises ``UnreadableFile`` for a file that is not what its format says (fuzz finding, see
    ``accounts.resources.CSV`` and ``accounts.resources.XLSX``).
    """
    from accounts.resources import FORMATS

    name = (file_format or Path(file_name).suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise UnreadableFile(f"Unsupported file format {name or '(none)'!r}: use one of {', '.join(FORMATS)}.")
    fmt = FORMATS[name](encoding="utf-8-sig") if name == "csv" else FORMATS[name]()
    return fmt.create_dataset(content)


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


def records_bulk_save(
    *,
    model: type[models.Model],
    new_objs: list[models.Model],
    changed_objs: list[models.Model],
    update_fields: list[str],
    user=None,
    many_to_many: dict[str, list[tuple[models.Model, list[models.Model]]]] | None = None,
) -> None:
    """Insert and update checked rows in bulk, keeping blind indexes and audit history in step.

    ``bulk_create`` runs the fields' ``pre_save`` (blind indexes); ``bulk_update`` does not, so the
    indexes of changed rows are computed here. History rows (design decision 7) are written in bulk
    after the many-to-many values, so each history row records the product lines it was saved with.
    ``many_to_many`` maps a field name to ``(object, related objects)`` pairs for the rows whose
    file gave that column; the set is replaced.
    """
    manager = model._default_manager
    with transaction.atomic():
        if new_objs:
            manager.bulk_create(new_objs)
        if changed_objs and update_fields:
            fields = list(update_fields)
            for model_field in model._meta.concrete_fields:
                if isinstance(model_field, BlindIndexField) and model_field.source in fields:
                    for obj in changed_objs:
                        model_field.pre_save(obj, add=False)
                    if model_field.name not in fields:
                        fields.append(model_field.name)
            manager.bulk_update(changed_objs, fields)
        for name, pairs in (many_to_many or {}).items():
            _replace_many_to_many(model, name, pairs)
        if hasattr(model, "history"):
            _bulk_history(model, new_objs, changed_objs, user)


def _replace_many_to_many(model, name: str, pairs) -> None:
    """Set each object's related objects in three queries for the whole file."""
    if not pairs:
        return
    m2m = model._meta.get_field(name)
    through = m2m.remote_field.through
    own, other = f"{m2m.m2m_field_name()}_id", f"{m2m.m2m_reverse_field_name()}_id"
    wanted = {obj.pk: {related.pk for related in values} for obj, values in pairs}
    current: dict[int, set[int]] = defaultdict(set)
    stale = []
    for link_id, owner, linked in through.objects.filter(**{f"{own}__in": list(wanted)}).values_list("pk", own, other):
        current[owner].add(linked)
        if linked not in wanted[owner]:
            stale.append(link_id)
    if stale:
        through.objects.filter(pk__in=stale).delete()
    through.objects.bulk_create(
        [
            through(**{own: owner, other: added})
            for owner, ids in wanted.items()
            for added in sorted(ids - current[owner])
        ]
    )


def _bulk_history(model, new_objs, changed_objs, user) -> None:
    history = model.history
    rows = []
    if new_objs:
        rows += history.bulk_history_create(new_objs, default_user=user, default_change_reason=HISTORY_REASON)
    if changed_objs:
        rows += history.bulk_history_create(
            changed_objs, update=True, default_user=user, default_change_reason=HISTORY_REASON
        )
    objs = [*new_objs, *changed_objs]
    for m2m in getattr(history.model, "_history_m2m_fields", ()):
        m2m_history = HistoricalRecords.m2m_models[m2m]
        through = m2m.remote_field.through
        own = m2m.m2m_field_name()
        links = defaultdict(list)
        for link in through.objects.filter(**{f"{own}__in": [obj.pk for obj in objs]}):
            links[getattr(link, f"{own}_id")].append(link)
        names = [f.attname for f in through._meta.fields]
        m2m_history.objects.bulk_create(
            [
                m2m_history(history=row, **{name: getattr(link, name) for name in names})
                for obj, row in zip(objs, rows, strict=True)
                for link in links[obj.pk]
            ]
        )


# --- Export -------------------------------------------------------------------------------------
def sensitive_export_log(
    *, user, model: type[models.Model], field_names: list[str], row_count: int, ip_address: str | None
) -> SensitiveAccessLog:
    """PP-25: one access-log row for an export with unmasked sensitive columns. Holds no value."""
    return SensitiveAccessLog.objects.create(
        staff_user=user,
        action=SensitiveAccessLog.Action.EXPORT,
        model_label=model._meta.label,
        field_name=", ".join(field_names)[:100],
        reason=f"Export of {row_count} {model._meta.verbose_name_plural} with unmasked columns.",
        ip_address=ip_address,
    )
