"""Writes behind imports and exports of member records (issue 3, requirement 10).

The resources (``accounts.members.spreadsheets.resource``) read and check a file and call these when the
rows are written: bulk inserts and updates with their audit history, the import's record with its
source (PP-16), and the access-log row an unmasked export leaves behind (PP-25).
``accounts.members.spreadsheets.imports`` runs an import end to end.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import models, transaction
from simple_history.models import HistoricalRecords

from accounts.members import bulk_copy, history_copy
from accounts.members.names import NameSearchField
from accounts.members.spreadsheets.problems import source_problem
from accounts.models import ImportBatch, SensitiveAccessLog
from accounts.privacy.fields import BlindIndexField, Ciphertext

#: The change reason on history rows written by an import (no file name: it may name a person).
HISTORY_REASON = "Imported from a file"


# --- The import's record (PP-16) ----------------------------------------------------------------
def import_batch_record(
    *, source: str, user, model: type[models.Model], total_rows: int, new: int, updated: int, unchanged: int
) -> ImportBatch:
    """Record one import with its source, who ran it and its counts (PP-16), in the import's transaction.

    Called by the resources when the rows are written
    (``accounts.members.spreadsheets.resource.RecordResource``), so the rows can point to it; a
    refused or dry-run import rolls it back with the rows.
    """
    problem = source_problem(source)
    if problem:
        raise ValueError(problem)
    return ImportBatch.objects.create(
        model_label=model._meta.label, source=source.strip(), imported_by=user, total_rows=total_rows,
        new_rows=new, updated_rows=updated, unchanged_rows=unchanged,
    )


def import_batch_counts(*, batch: ImportBatch, total_rows: int, new: int) -> None:
    """The final counts of an import of new records, whose record was made before its rows (one query)."""
    ImportBatch.objects.filter(pk=batch.pk).update(total_rows=total_rows, new_rows=new)
    batch.total_rows, batch.new_rows = total_rows, new


# --- Bulk writes --------------------------------------------------------------------------------
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

    ``bulk_create`` runs the fields' ``pre_save`` (blind indexes, name search); ``bulk_update`` does not, so
    the indexes and name-search columns of changed rows are computed here. History rows (design
    decision 7) are written in bulk after the many-to-many values, so each history row records the
    product lines it was saved with.
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
                derived = (isinstance(model_field, BlindIndexField) and model_field.source in fields) or (
                    isinstance(model_field, NameSearchField) and set(model_field.sources) & set(fields)
                )
                if derived:
                    for obj in changed_objs:
                        model_field.pre_save(obj, add=False)
                    if model_field.name not in fields:
                        fields.append(model_field.name)
            manager.bulk_update(changed_objs, fields)
        for name, pairs in (many_to_many or {}).items():
            _replace_many_to_many(model, name, pairs)
        if hasattr(model, "history"):
            _bulk_history(model, new_objs, changed_objs, user)


def records_copy_insert(*, model: type[models.Model], objs: list[models.Model]) -> None:
    """Insert new rows of a model without history with PostgreSQL's COPY (``accounts.members.bulk_copy``)."""
    bulk_copy.copy_insert(model=model, objs=objs)


def records_copy_insert_with_history(
    *, model: type[models.Model], objs: list[models.Model], user=None,
    many_to_many: dict[str, list[tuple[models.Model, list[models.Model]]]] | None = None, behind=None,
) -> None:
    """New rows of an audited model, their history and many-to-many links by COPY (``accounts.members.history_copy``).

    What ``records_bulk_save`` writes for new rows (the same values, history rows and links), on
    PostgreSQL, for a model ``history_copy.available`` accepts. With ``behind``
    (``accounts.members.spreadsheets.write_behind.WriteBehind``) the COPYs are sent in the background.
    """
    if behind is None:
        history_copy.copy_insert_with_history(model=model, objs=objs, user=user, reason=HISTORY_REASON,
                                              many_to_many=many_to_many)
    else:
        behind.submit(history_copy.prepare_copies(model=model, objs=objs, user=user, reason=HISTORY_REASON,
                                                  many_to_many=many_to_many))


def records_encrypt_for_insert(*, model: type[models.Model], objs: list[models.Model]) -> None:
    """Blind indexes computed, then encrypted values replaced by their tokens (``Ciphertext``), a column at a time.

    Before a ``bulk_create`` of new rows (the streamed import): the rows and their history rows then
    store these tokens as they are, instead of one Fernet call per value. The objects hold tokens
    afterwards, not plaintext: only for objects that are written and dropped.
    """
    for model_field in model._meta.concrete_fields:
        if isinstance(model_field, BlindIndexField):
            for obj in objs:
                model_field.pre_save(obj, add=True)
    for attname, column in bulk_copy.encrypted_columns(model, objs).items():
        for obj, token in zip(objs, column, strict=True):
            if token not in (None, ""):
                setattr(obj, attname, Ciphertext(token))


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
