"""The run's bookkeeping: one item per member with its status and error, and the run's row counts.

An ``ErasureRun`` (prepared in the admin, or started by a job) lists its members as items. Each
chunk writes its items' statuses (erased, held, skipped) and adds its rows per model to the run's
counts in its own transaction; a member whose erasure failed is recorded as failed with the
engine's error (a model and a reason, never a value) in a transaction of its own, so a retry
reruns exactly the failed items.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Case, F, TextField, Value, When

from retention.choices import ItemStatus
from retention.erasure.expressions import where_in
from retention.models import ErasureRun, ErasureRunItem


def upsert_items(run: ErasureRun, numbers: dict[int, str]) -> None:
    ErasureRunItem.objects.bulk_create(
        [ErasureRunItem(run=run, member_id=pk, member_number=number) for pk, number in numbers.items()],
        ignore_conflicts=True,
    )


def merged_item_status(run: ErasureRun, status: str, now) -> dict[str, object]:
    """The assignments of ``set_item_status`` for an UPDATE over the members' items of *every* run.

    For ``ChunkState.merged``: the rewrite of the erased members' item numbers reaches their items in
    other runs too, so only this run's items change status; the others keep theirs.
    """
    def mine(value, name: str):
        return Case(When(run_id=run.pk, then=Value(value)), default=F(name),
                    output_field=ErasureRunItem._meta.get_field(name))

    return {"status": mine(status, "status"), "finished_at": mine(now, "finished_at"), "error": mine("", "error")}


def set_item_status(run: ErasureRun, members: dict[int, str], status: str, now, errors=None) -> None:
    if not members:
        return
    changes: dict[str, object] = {"status": status, "finished_at": now, "error": ""}
    if errors:
        changes["error"] = Case(
            *[When(member_id=pk, then=Value(errors[pk])) for pk in members], default=Value(""),
            output_field=TextField(),
        )
    ErasureRunItem.objects.filter(where_in("member_id", members), run=run).update(**changes)


def add_run_counts(run: ErasureRun, counts: dict[str, int]) -> None:
    if not counts:
        return
    # Row lock: two workers finishing chunks of the same run must not lose each other's counts.
    current = ErasureRun.objects.select_for_update().filter(pk=run.pk).values_list("counts", flat=True).first() or {}
    merged = dict(current)
    for label, n in counts.items():
        merged[label] = merged.get(label, 0) + n
    ErasureRun.objects.filter(pk=run.pk).update(counts=dict(sorted(merged.items())))


def record_failures(run: ErasureRun | None, failures: dict[int, tuple[str, str]], now) -> None:
    if run is None or not failures:
        return
    with transaction.atomic():
        upsert_items(run, {pk: number for pk, (number, _e) in failures.items()})
        set_item_status(run, {pk: number for pk, (number, _e) in failures.items()}, ItemStatus.FAILED, now,
                        errors={pk: error for pk, (_n, error) in failures.items()})
