"""The file-deletion outbox's drain (PP-02): files deleted by a bounded pool of threads, none lost."""

from __future__ import annotations

import threading

import pytest
from django.core.files.base import ContentFile

from accounts.models import IdentityDocument
from accounts.privacy.storage import protected_storage
from retention import outbox
from retention.models import FileDeletionOutbox

pytestmark = pytest.mark.django_db


def _queued_files(count: int) -> list[str]:
    """``count`` stored files queued in the outbox as an erasure chunk queues them."""
    names = [protected_storage.save(f"documents/outbox-{i}.bin", ContentFile(b"scan")) for i in range(count)]
    outbox.enqueue(outbox.entry_name(IdentityDocument, "file", name) for name in names)
    return names


def _storage_class():
    storage, _name = outbox._storage_for(outbox.entry_name(IdentityDocument, "file", "x.bin"))
    return type(storage)


def test_pp02_a_batch_of_files_is_deleted_by_several_threads(monkeypatch):
    names = _queued_files(12)
    threads = set()
    real_delete = _storage_class().delete

    def delete(storage, name):
        threads.add(threading.get_ident())
        real_delete(storage, name)

    monkeypatch.setattr(_storage_class(), "delete", delete)
    assert outbox.drain() == 12
    assert not any(protected_storage.exists(name) for name in names)
    assert outbox.pending_count() == 0
    assert 1 < len(threads) <= outbox.DRAIN_THREADS


def test_pp02_a_file_that_cannot_be_deleted_stays_queued_and_a_rerun_deletes_it(monkeypatch):
    names = _queued_files(6)
    stuck = names[2]
    real_delete = _storage_class().delete

    def delete(storage, name):
        if name == stuck:
            raise PermissionError("read-only for now")
        real_delete(storage, name)

    monkeypatch.setattr(_storage_class(), "delete", delete)
    outbox.drain()
    assert [name for name in names if protected_storage.exists(name)] == [stuck]
    assert list(FileDeletionOutbox.objects.filter(deleted_at__isnull=True).values_list("storage_name", flat=True)) == [
        outbox.entry_name(IdentityDocument, "file", stuck)
    ]

    monkeypatch.setattr(_storage_class(), "delete", real_delete)
    outbox.drain()  # the rerun
    assert not protected_storage.exists(stuck)
    assert outbox.pending_count() == 0


def test_pp02_a_drain_that_crashes_mid_batch_leaves_it_queued_and_a_rerun_finishes_it(monkeypatch):
    names = _queued_files(10)
    real_delete = _storage_class().delete
    calls = []

    def crash_after_three(storage, name):
        calls.append(name)
        if len(calls) > 3:
            raise RuntimeError("worker killed")
        real_delete(storage, name)

    monkeypatch.setattr(_storage_class(), "delete", crash_after_three)
    with pytest.raises(RuntimeError):
        outbox.drain()
    # Some files went, but no row was marked done: the whole batch is still queued.
    assert outbox.pending_count() == 10

    monkeypatch.setattr(_storage_class(), "delete", real_delete)
    assert outbox.drain() == 10  # files already gone count as deleted
    assert not any(protected_storage.exists(name) for name in names)
    assert outbox.pending_count() == 0


def test_the_drain_runs_a_constant_number_of_queries(django_assert_max_num_queries):
    """One short batch: savepoint, claim, mark done, release; no empty claim after the last batch."""
    _queued_files(40)
    with django_assert_max_num_queries(4):
        assert outbox.drain() == 40
