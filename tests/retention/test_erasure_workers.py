"""An erasure run spread over workers (issue 15, requirement 5; PP-02).

Claimers take a run's pending items with ``SELECT … FOR UPDATE SKIP LOCKED`` chunk by chunk
(``retention.erasure.claims``); the run's record adds up every chunk; a killed claimer's items are
claimable again at once; four eyes is unchanged. Concurrency tests need PostgreSQL's row locks.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from accounts.dispatch.models import OutboxTask
from accounts.privacy.storage import protected_storage
from retention import outbox
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import claims
from retention.erasure.tasks import erase_run, erase_run_chunk, erase_run_now
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem, FileDeletionOutbox
from tests.retention.erasure_seed import member_is_untouched, seed_member

pytestmark = pytest.mark.django_db


def _run(seeded, status=RunStatus.APPROVED, **fields) -> ErasureRun:
    run = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=status, **fields)
    ErasureRunItem.objects.bulk_create(
        ErasureRunItem(run=run, member_id=s.member.pk, member_number=s.number) for s in seeded
    )
    return run


def _statuses(run) -> set[str]:
    return set(ErasureRunItem.objects.filter(run=run).values_list("status", flat=True))


class Holder(threading.Thread):
    """Another claimer in its own connection: claims ``size`` items and holds them until released.

    ``kill()`` ends its database session the way a killed worker's goes (its transaction rolls back).
    """

    def __init__(self, run_id: int, size: int):
        super().__init__()
        self.run_id, self.size = run_id, size
        self.claimed: list[int] = []
        self.holding, self.release = threading.Event(), threading.Event()
        self.pid = None

    def run(self):
        try:
            with transaction.atomic():
                self.claimed = claims.claim_items(self.run_id, self.size)
                self.pid = connection.connection.info.backend_pid
                self.holding.set()
                self.release.wait(30)
        except Exception:  # noqa: S110 - the killed session's error is the point
            pass
        finally:
            self.holding.set()
            connections.close_all()

    def kill(self):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [self.pid])


def _run_with_a_holder(members: int, held: int):
    """``members`` seeded members in a started run, and a claimer in another thread holding ``held`` of them."""
    seeded = [seed_member(files=False) for _ in range(members)]
    run = _run(seeded)
    assert claims.erase_run_start(run_id=run.pk, claimers=1)
    holder = Holder(run.pk, held)
    holder.start()
    assert holder.holding.wait(30) and len(holder.claimed) == held
    return seeded, run, holder


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_pp02_two_claimers_take_disjoint_items_and_the_run_adds_up():
    """A second claimer skips the items another holds (SKIP LOCKED); the run finishes only when both did."""
    seeded, run, other = _run_with_a_holder(6, 2)
    try:
        mine = claims.erase_run_claimed(run_id=run.pk, chunk_size=2)
        held = {s.member.pk for s in seeded if s.member.pk in other.claimed}
        assert len(mine.erased) == 4 and not set(other.claimed) & {s.member.pk for s in seeded
                                                                    if s.number in mine.erased}
        run.refresh_from_db()
        assert run.status == RunStatus.RUNNING  # the other claimer's items are still pending
        assert all(member_is_untouched(s) for s in seeded if s.member.pk in held)
    finally:
        other.release.set()
        other.join(30)
    # The other claimer's chunk rolled back without erasing: a later claimer finishes the run.
    later = claims.erase_run_claimed(run_id=run.pk, chunk_size=2)
    assert len(later.erased) == 2
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED and _statuses(run) == {ItemStatus.ERASED}
    assert run.counts["accounts.Member"] == 6 == mine.counts["accounts.Member"] + later.counts["accounts.Member"]
    assert ErasureRecord.objects.filter(run=run).count() == 6


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_pp02_a_killed_claimers_items_are_claimed_again_and_the_run_finishes():
    """A claimer killed mid-chunk (session terminated) leaves its items pending; another erases them."""
    seeded, run, victim = _run_with_a_holder(4, 4)
    try:
        victim.kill()
    finally:
        victim.release.set()
        victim.join(30)
    assert all(member_is_untouched(s) for s in seeded)
    result = claims.erase_run_claimed(run_id=run.pk, chunk_size=3)
    assert len(result.erased) == 4
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED and run.counts["accounts.Member"] == 4


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_pp02_items_a_killed_claimer_held_behind_the_cursor_are_erased_before_the_run_ends():
    """A claimer goes past items another holds; that one is killed mid-run; the first still finishes them."""
    _seeded, run, victim = _run_with_a_holder(6, 2)

    def kill_after_first_chunk(n):
        if victim.is_alive():
            victim.kill()  # its chunk rolls back: its two items are pending again, behind the cursor
            victim.release.set()
            victim.join(30)

    try:
        result = claims.erase_run_claimed(run_id=run.pk, chunk_size=2, progress=kill_after_first_chunk)
    finally:
        victim.release.set()
        victim.join(30)
    assert len(result.erased) == 6 and not result.failed
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED and _statuses(run) == {ItemStatus.ERASED}
    assert run.counts["accounts.Member"] == 6 and ErasureRecord.objects.filter(run=run).count() == 6


def test_pp02_the_run_record_adds_up_every_chunk(django_capture_on_commit_callbacks):
    """Counts of the run = the sum of its chunks' counts; the last claimer marks it finished."""
    seeded = [seed_member(files=False, devices=2) for _ in range(5)]
    run = _run(seeded)
    with django_capture_on_commit_callbacks(execute=True):
        outcome = erase_run_now(run.pk, chunk_size=2)
    run.refresh_from_db()
    assert outcome["erased"] == 5 and outcome["status"] == RunStatus.FINISHED
    assert run.counts == dict(sorted(outcome["rows"].items()))
    assert run.counts["accounts.Member"] == 5 and run.counts["accounts.DeviceRecord"] == 10
    # A second claimer arriving late finds nothing and changes nothing.
    assert erase_run_chunk.apply(args=[run.pk]).get()["erased"] == 0
    run.refresh_from_db()
    assert run.counts["accounts.Member"] == 5


def test_pp02_starting_a_run_fans_it_out_to_chunk_tasks(settings):
    """The start enqueues ERASURE_WORKERS - 1 chunk tasks by name, and claims the rest itself."""
    settings.ERASURE_WORKERS = 3
    run = _run([seed_member(files=False)])
    assert claims.erase_run_start(run_id=run.pk)
    rows = list(OutboxTask.objects.filter(task=claims.ERASE_RUN_CHUNK_TASK).values_list("args", flat=True))
    assert rows == [[run.pk, None], [run.pk, None]]
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING and run.started_at


def test_pp02_four_eyes_unchanged_a_prepared_or_rejected_run_is_not_claimed(compliance_officer):
    """Neither the start nor a chunk task erases a run awaiting approval or rejected."""
    a = seed_member(files=False)
    prepared = _run([a], status=RunStatus.PREPARED, prepared_by=compliance_officer)
    rejected = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.REJECTED)
    for run in (prepared, rejected):
        assert erase_run.apply(args=[run.pk]).get()["erased"] == 0
        assert erase_run_chunk.apply(args=[run.pk]).get()["erased"] == 0
        assert not claims.erase_run_start(run_id=run.pk)
    prepared.refresh_from_db()
    assert prepared.status == RunStatus.PREPARED and _statuses(prepared) == {ItemStatus.PENDING}
    assert member_is_untouched(a)
    assert not OutboxTask.objects.filter(task=claims.ERASE_RUN_CHUNK_TASK).exists()


def test_pp02_failed_items_are_pending_again_when_the_run_is_restarted():
    """Restarting a run with failures puts exactly the failed items back to pending for the claimers."""
    a, b = seed_member(files=False), seed_member(files=False)
    run = _run([a, b], status=RunStatus.FINISHED_WITH_FAILURES)
    ErasureRunItem.objects.filter(run=run, member=a.member).update(status=ItemStatus.FAILED, error="x: y")
    ErasureRunItem.objects.filter(run=run, member=b.member).update(status=ItemStatus.ERASED)
    assert claims.erase_run_start(run_id=run.pk, claimers=1)
    assert list(ErasureRunItem.objects.filter(run=run, status=ItemStatus.PENDING).values_list("member_id", "error")) \
        == [(a.member.pk, "")]


def _claimer_queries(count: int) -> int:
    run = _run([seed_member(files=False, devices=2) for _ in range(count)])
    claims.erase_run_start(run_id=run.pk, claimers=1)
    with CaptureQueriesContext(connection) as ctx:
        result = claims.erase_run_claimed(run_id=run.pk, chunk_size=count)
    assert len(result.erased) == count
    return len(ctx.captured_queries)


def test_pp02_a_claimers_queries_per_chunk_do_not_grow_with_its_members(django_assert_max_num_queries):
    """One chunk claimed and erased costs the same queries for 2 members as for 6."""
    _claimer_queries(1)  # warm caches (content types, plan)
    few = _claimer_queries(2)
    many = _claimer_queries(6)
    assert few == many
    run = _run([seed_member(files=False) for _ in range(4)])
    claims.erase_run_start(run_id=run.pk, claimers=1)
    with django_assert_max_num_queries(many):
        claims.erase_run_claimed(run_id=run.pk, chunk_size=4)



def test_pp02_a_claimed_chunk_marks_its_items_in_the_update_that_rewrites_their_numbers():
    """The erased items take their status and the tombstone's number in one UPDATE per chunk; the
    same member's item in an earlier run takes the new number and keeps its own status."""
    a, b = seed_member(files=False), seed_member(files=False)
    earlier = _run([a], status=RunStatus.FINISHED)
    ErasureRunItem.objects.filter(run=earlier).update(status=ItemStatus.HELD)
    run = _run([a, b])
    claims.erase_run_start(run_id=run.pk, claimers=1)

    with CaptureQueriesContext(connection) as ctx:
        claims.erase_run_claimed(run_id=run.pk, chunk_size=10)

    # A write counted per member in SQL is wrapped: ``WITH changed AS (UPDATE … RETURNING …) SELECT …``.
    statements = [q["sql"].removeprefix("WITH changed AS (") for q in ctx.captured_queries]
    writes = [sql for sql in statements if sql.startswith(("UPDATE", "INSERT"))]
    item_writes = [sql for sql in writes if '"retention_erasurerunitem"' in sql.split()[:3]]
    assert len(item_writes) == 1, item_writes  # no upsert of claimed items, no second status UPDATE
    a.member.refresh_from_db()
    b.member.refresh_from_db()
    mine = list(ErasureRunItem.objects.filter(run=run))
    assert {i.status for i in mine} == {ItemStatus.ERASED}
    assert all(i.finished_at is not None and i.error == "" for i in mine)
    assert {i.member_number for i in mine} == {a.member.member_number, b.member.member_number}
    old = ErasureRunItem.objects.get(run=earlier)
    assert old.status == ItemStatus.HELD and old.finished_at is None
    assert old.member_number == a.member.member_number
    assert not ErasureRunItem.objects.filter(member_number__in=[a.number, b.number]).exists()


@pytest.mark.django_db(transaction=True)
def test_pp02_a_claimers_background_drain_has_deleted_every_file_when_it_returns():
    """Outside a transaction the files go in a background thread; the claimer waits for the last one."""
    seeded = [seed_member() for _ in range(3)]
    files = [name for s in seeded for name in s.files]
    assert files and all(protected_storage.exists(name) for name in files)
    run = _run(seeded)
    claims.erase_run_start(run_id=run.pk, claimers=1)

    result = claims.erase_run_claimed(run_id=run.pk, chunk_size=1)  # three chunks, three drains

    assert len(result.erased) == 3
    assert not any(protected_storage.exists(name) for name in files)
    assert outbox.pending_count() == 0
    assert FileDeletionOutbox.objects.count() == len(files)
