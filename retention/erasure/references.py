"""Beyond the planned rows: admin log entries of the erased objects and copies of the member number.

``scrub_log_entries`` empties the object label and change message of the admin ``LogEntry`` rows
of every erased object (the staff user who acted is kept: that is not the member's data).
``rewrite_member_numbers`` rewrites copies of the member number kept as text elsewhere (any
``member_number`` column, e.g. the access log and erasure-run items) to the tombstone's number.
Both run inside the chunk's transaction, in a constant number of queries per chunk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from functools import cache

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Q, Subquery, TextField, Value, When
from django.db.models.functions import Cast

from accounts.models import Member
from accounts.privacy.datamap import Category, declaration
from retention.erasure.expressions import where_in
from retention.erasure.plan import ModelPlan, history_base, is_m2m_history
from retention.erasure.state import ChunkState
from retention.erasure.statements import execute


def scrub_log_entries(chunk: ChunkState, plans: Iterable[ModelPlan]) -> None:
    """Admin log entries of the erased objects lose their object label and change message.

    One cheap query first (an index probe per content type) finds the content types that have log
    entries at all; only those are searched for the chunk's objects.
    """
    chunk.current = LogEntry._meta.label
    dm = declaration(LogEntry)
    changes = {}
    for name, personal in (dm.personal.items() if dm else ()):
        if personal.category == Category.STAFF:
            continue  # the staff user who acted is not the member's data
        f = LogEntry._meta.get_field(name)
        changes[name] = None if f.null else ""
    if not changes:
        return
    live = [p for p in plans if not p.is_history and not is_m2m_history(p.model)]
    types = ContentType.objects.get_for_models(*[p.model for p in live], for_concrete_models=False)
    logged = set(
        ContentType.objects.filter(pk__in=[t.pk for t in types.values()])
        .filter(Exists(LogEntry.objects.filter(content_type=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )
    live = [p for p in live if types[p.model].pk in logged]
    if not live:
        return
    ids = sorted(chunk.fresh)
    condition = Q()
    for p in live:
        keys = p.queryset(ids).annotate(_key=Cast("pk", TextField())).values("_key")
        condition |= Q(content_type=types[p.model], object_id__in=keys)
    unchanged = Q(**{name: value for name, value in changes.items()})
    hits = list(LogEntry.objects.filter(condition).exclude(unchanged).values_list("pk", "content_type_id", "object_id"))
    if not hits:
        return
    by_type: dict[int, list[str]] = defaultdict(list)
    for _pk, type_id, object_id in hits:
        by_type[type_id].append(object_id)
    plan_by_type = {types[p.model].pk: p for p in live}
    per_member: dict[int, int] = defaultdict(int)
    for type_id, object_ids in by_type.items():
        p = plan_by_type[type_id]
        owner = dict(p.model._base_manager.filter(pk__in=object_ids).values_list("pk", p.lookup))
        for object_id in object_ids:
            per_member[owner.get(p.model._meta.pk.to_python(object_id))] += 1
    chunk.add(LogEntry._meta.label, per_member)
    LogEntry.objects.filter(pk__in=[h[0] for h in hits]).update(**changes)


def rewrite_member_numbers(chunk: ChunkState) -> None:
    """Copies of the member number elsewhere (access log, run items, …) follow the tombstone.

    A model linked to the member by a foreign key also takes ``chunk.merged[model]`` in the same UPDATE.
    """
    if not chunk.tombstones:
        return
    old_to_new = {chunk.fresh[pk]: new for pk, new in chunk.tombstones.items()}
    owner = {chunk.fresh[pk]: pk for pk in chunk.tombstones}
    for model, link in _member_number_references():
        chunk.current = model._meta.label
        if link:
            qs = model._base_manager.filter(where_in(link, sorted(chunk.tombstones)))
            new = Subquery(Member._base_manager.filter(pk=OuterRef(link)).order_by().values("member_number")[:1])
            # Whatever else the chunk writes into these rows (the run's item statuses) rides along.
            execute(chunk, model, qs, link, "update", {"member_number": new, **chunk.merged.get(model, {})})
            continue
        qs = model._base_manager.filter(where_in("member_number", old_to_new))
        by_number = dict(qs.order_by().values_list("member_number").annotate(n=Count("pk")))
        if not chunk.add(model._meta.label, {owner[number]: n for number, n in by_number.items()}):
            continue
        whens = [When(member_number=old, then=Value(old_to_new[old])) for old in by_number]
        qs.update(member_number=Case(*whens, default=F("member_number"), output_field=CharField()))


@cache
def _member_number_references() -> tuple[tuple[type[models.Model], str | None], ...]:
    """Models keeping a member number as text (a ``member_number`` column) other than the member row.

    With each, the name of its foreign key to the member if it has one: rows are then found through
    that indexed key (erasure-run items), otherwise by the number itself (the access log's index).
    """
    found = []
    for model in apps.get_models():
        if model is Member or history_base(model) is Member:
            continue
        try:
            f = model._meta.get_field("member_number")
        except FieldDoesNotExist:
            continue
        if not (isinstance(f, models.CharField) and f.concrete):
            continue
        link = next(
            (fk.name for fk in model._meta.concrete_fields
             if fk.is_relation and fk.related_model is Member and not fk.many_to_many),
            None,
        )
        found.append((model, link))
    return tuple(sorted(found, key=lambda pair: pair[0]._meta.label))

