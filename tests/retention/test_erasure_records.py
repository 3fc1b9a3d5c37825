"""Erasure records (issue 5, requirement 2; PP-02): proof of erasure that holds no personal data."""

from __future__ import annotations

import json

import pytest
from django.core import serializers
from django.db import connection

from retention.choices import ErasureTrigger
from retention.erasure import runner
from retention.erasure.records import ENGINE_VERSION, subject_hash, was_erased
from retention.models import ErasureRecord, LegalHold
from tests.retention.erasure_seed import seed_member

pytestmark = pytest.mark.django_db


@pytest.fixture
def erase(django_capture_on_commit_callbacks):
    def run(*seeded, trigger=ErasureTrigger.DELETION_REQUEST, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return runner.erase_members(member_ids=[s.member.pk for s in seeded], trigger=trigger, **options)

    return run


def test_pp02_one_record_per_erased_member_with_counts_trigger_and_version(erase):
    a, b = seed_member(institution=True), seed_member()
    erase(a, b, request_reference="DSR-ABCD2345")

    records = {r.subject_hash: r for r in ErasureRecord.objects.all()}
    assert set(records) == {subject_hash(a.number), subject_hash(b.number)}
    record = records[subject_hash(a.number)]
    assert record.trigger == ErasureTrigger.DELETION_REQUEST
    assert record.engine_version == ENGINE_VERSION
    assert record.request_reference == "DSR-ABCD2345"
    assert record.started_at <= record.finished_at
    # Counts per model are this member's own rows (b has no institution profile)
    assert record.counts["accounts.Member"] == 1
    assert record.counts["accounts.DeviceRecord"] == 2
    assert record.counts["accounts.InstitutionProfile"] == 1
    assert "accounts.InstitutionProfile" not in records[subject_hash(b.number)].counts


def test_pp02_records_hold_no_personal_data(erase):
    a = seed_member()
    erase(a)
    dumped = serializers.serialize("json", ErasureRecord.objects.all())
    for secret in (a.number, a.tag, a.member.email, a.member.legal_name):
        assert secret not in dumped
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {ErasureRecord._meta.db_table}")  # noqa: S608
        raw = json.dumps(cursor.fetchall(), default=str)
    assert a.number not in raw and a.tag not in raw


def test_was_erased_answers_without_keeping_the_number(erase):
    a, b = seed_member(), seed_member()
    erase(a)
    assert was_erased(a.number) is True
    assert was_erased(b.number) is False
    assert was_erased("M000000000") is False


def test_the_subject_hash_is_keyed(settings):
    first = subject_hash("M123456789")
    settings.BLIND_INDEX_KEY = "another-key-for-this-test-0123456789abcdef"
    assert subject_hash("M123456789") != first
    assert len(first) == 64 and "M123456789" not in first


def test_a_second_run_writes_no_second_record(erase):
    a = seed_member()
    erase(a)
    first = ErasureRecord.objects.get()
    erase(a)
    assert list(ErasureRecord.objects.all()) == [first]
    assert ErasureRecord.objects.get().finished_at == first.finished_at


def test_held_skipped_and_failed_members_get_no_record(erase, monkeypatch, compliance_officer):
    held, skipped = seed_member(), seed_member()
    LegalHold.objects.create(member=held.member, reason="litigation", owner=compliance_officer)
    result = erase(held, skipped, eligible=lambda members: members.exclude(pk=skipped.member.pk))
    assert result.held == [held.number] and result.skipped == [skipped.number]
    assert ErasureRecord.objects.count() == 0


def test_dry_run_writes_no_record(erase):
    a = seed_member()
    result = erase(a, dry_run=True)
    assert result.erased == [a.number]
    assert ErasureRecord.objects.count() == 0 and not was_erased(a.number)
