"""The erasure engine (issue 5, requirement 1): every data-map action, set-based, idempotent, crash-safe."""

from __future__ import annotations

import datetime
import logging
import re
import threading

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.members.choices import MemberStatus
from accounts.models import (
    DeviceRecord,
    IdentityDocument,
    InstitutionProfile,
    Member,
    PaymentInstrument,
    RelatedPerson,
    SensitiveAccessLog,
    TransactionRecord,
    Verification,
)
from accounts.privacy.datamap import models_about_members
from accounts.privacy.storage import protected_storage
from retention import locks, outbox
from retention.choices import ErasureTrigger, ItemStatus, RunStatus
from retention.erasure import cache_keys, expiry, records, runner
from retention.erasure.plan import plan, plan_problems
from retention.erasure.tasks import erase_run
from retention.models import ErasureRecord, ErasureRun, ErasureRunItem, FileDeletionOutbox
from tests.retention.erasure_seed import consents_model, member_is_untouched, seed_member

pytestmark = pytest.mark.django_db

TOMBSTONE = re.compile(r"^X[0-9a-z]{15}$")
HEX_TOKEN = re.compile(r"^[0-9a-f]{32}$")
ROW_DELETED = (InstitutionProfile, RelatedPerson, IdentityDocument, Verification, PaymentInstrument, DeviceRecord)
CONSENT_ROWS = ("Guardian", "ConsentEvent", "ConsentState", "ReconsentNotice", "SmsReply")


@pytest.fixture
def erase(django_capture_on_commit_callbacks):
    """Run the engine and the after-commit work (file drain) as a real transaction would."""

    def run(*seeded, trigger=ErasureTrigger.CANCELLATION, **options):
        with django_capture_on_commit_callbacks(execute=True):
            return runner.erase_members(member_ids=[s.member.pk for s in seeded], trigger=trigger, **options)

    return run


def _orders_numbered(member, prefix: str) -> int:
    """The member's orders whose (encrypted) order number starts with ``prefix``, decrypted here."""
    return sum(t.order_number.startswith(prefix) for t in TransactionRecord.objects.filter(member=member))


def history(model_name: str, app: str = "accounts"):
    return apps.get_model(app, f"Historical{model_name}")


def test_pp02_erasure_applies_every_data_map_action(erase, superuser):
    a = seed_member(institution=True, staff=superuser)
    b = seed_member(staff=superuser)
    original_txns = list(TransactionRecord.objects.filter(member=a.member).order_by("pk").values())

    result = erase(a)

    assert result.erased == [a.number] and not result.failed and not result.held
    m = Member.objects.get(pk=a.member.pk)
    # RETAIN: the row stays as a tombstone with a random number, closed, closure date kept
    assert TOMBSTONE.match(m.member_number)
    assert m.status == MemberStatus.CLOSED
    assert m.cancelled_at == a.member.cancelled_at
    assert m.product_lines.count() == 1
    # TOKEN: random tokens; SET_NULL: empty; GENERALISE_YEAR: the year stays, the encrypted date goes
    assert HEX_TOKEN.match(m.legal_name) and HEX_TOKEN.match(m.local_name)
    assert (m.email, m.phone, m.nationality, m.email_bidx, m.phone_bidx) == ("", "", "", None, None)
    assert m.date_of_birth is None and m.birth_year == 1990
    # DELETE_ROW: gone, in every app
    for model in ROW_DELETED:
        assert not model.objects.filter(member_id=a.member.pk).exists(), model
    for name in CONSENT_ROWS:
        assert not consents_model(name).objects.filter(member_id=a.member.pk).exists(), name
    # Transactions are kept for legal retention, attached to the tombstone, without counterparties
    txns = list(TransactionRecord.objects.filter(member=a.member).order_by("pk").values())
    assert [(t["order_number"], t["order_time"], t["amount"]) for t in txns] == [
        (t["order_number"], t["order_time"], t["amount"]) for t in original_txns
    ]
    # The nickname is encrypted (issue 14): emptied, as the plan does for encrypted TOKEN columns.
    assert all(t["counterparty_nickname"] == "" for t in txns)
    # History: rows of deleted objects are gone, the member's own history is scrubbed
    for name in ("InstitutionProfile", "RelatedPerson", "IdentityDocument", "Verification", "PaymentInstrument"):
        assert not history(name).objects.filter(member_id=a.member.pk).exists(), name
    assert not history("Guardian", "consents").objects.filter(member_id=a.member.pk).exists()
    rows = list(history("Member").objects.filter(id=a.member.pk).values())
    assert len(rows) >= 2
    for row in rows:
        assert row["member_number"] == m.member_number
        assert a.tag not in row["legal_name"] and row["email"] == "" and row["date_of_birth"] is None
    # The other member is untouched
    assert member_is_untouched(b)
    others = TransactionRecord.objects.filter(member=b.member)
    assert sum(t.counterparty_nickname.startswith("peer-") for t in others) == 3


def test_pp42_tokens_are_random_not_derived_from_the_value(erase):
    a, b = seed_member(tag="same"), seed_member(tag="same")
    erase(a, b)
    names = list(Member.objects.filter(pk__in=[a.member.pk, b.member.pk]).values_list("legal_name", flat=True))
    numbers = list(Member.objects.filter(pk__in=[a.member.pk, b.member.pk]).values_list("member_number", flat=True))
    assert names[0] != names[1] and all(HEX_TOKEN.match(n) for n in names)
    assert numbers[0] != numbers[1]
    nicknames = list(TransactionRecord.objects.filter(member=a.member).values_list("counterparty_nickname", flat=True))
    # Encrypted since issue 14: emptied rather than tokenised (no token to derive from the value).
    assert nicknames == ["", "", ""]


def test_pp02_second_run_changes_nothing_and_writes_no_second_record(erase):
    a = seed_member()
    erase(a)
    after_first = Member.objects.filter(pk=a.member.pk).values().get()
    txns_first = list(TransactionRecord.objects.filter(member=a.member).values())

    again = erase(a)

    assert again.counts == {} and again.erased == []
    assert again.skipped == [after_first["member_number"]]
    assert Member.objects.filter(pk=a.member.pk).values().get() == after_first
    assert list(TransactionRecord.objects.filter(member=a.member).values()) == txns_first
    assert ErasureRecord.objects.count() == 1


def _queries_for_one_chunk(seeded, erase) -> int:
    with CaptureQueriesContext(connection) as ctx:
        erase(*seeded, chunk_size=100)
    return len(ctx.captured_queries)


def test_queries_per_chunk_depend_on_models_not_on_members_or_rows(erase, superuser):
    erase(seed_member(staff=superuser, institution=True))  # warm caches (content types, plan)
    small = [seed_member(staff=superuser, institution=True, transactions=1, devices=1) for _ in range(2)]
    large = [seed_member(staff=superuser, institution=True, transactions=6, devices=5) for _ in range(8)]

    few = _queries_for_one_chunk(small, erase)
    many = _queries_for_one_chunk(large, erase)

    assert few == many
    # At most two statements per model, plus a fixed number for the chunk itself.
    assert many <= 2 * len(plan()) + 10


def test_chunks_are_separate_transactions_with_the_same_query_count(erase):
    members = [seed_member(files=False) for _ in range(6)]
    with CaptureQueriesContext(connection) as ctx:
        result = erase(*members, chunk_size=2)
    assert len(result.erased) == 6
    per_chunk = len(ctx.captured_queries) / 3
    assert per_chunk <= 2 * len(plan()) + 10


def test_dry_run_reports_and_changes_nothing(django_capture_on_commit_callbacks):
    a = seed_member()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = runner.erase_members(member_ids=[a.member.pk], trigger=ErasureTrigger.CANCELLATION, dry_run=True)
    assert result.erased == [a.number]
    assert result.counts["accounts.DeviceRecord"] == 2 and result.counts["accounts.Member"] == 1
    assert callbacks == []
    assert member_is_untouched(a)
    assert ErasureRecord.objects.count() == 0 and FileDeletionOutbox.objects.count() == 0
    assert all(protected_storage.exists(name) for name in a.files)


def test_pp02_files_are_deleted_after_commit_through_the_outbox(erase):
    a = seed_member()
    assert a.files and all(protected_storage.exists(name) for name in a.files)
    erase(a)
    assert not any(protected_storage.exists(name) for name in a.files)
    assert FileDeletionOutbox.objects.filter(deleted_at__isnull=True).count() == 0
    assert FileDeletionOutbox.objects.count() == len(a.files)


def test_crash_between_commit_and_drain_is_finished_by_the_next_run(django_capture_on_commit_callbacks, erase):
    a, b = seed_member(), seed_member()
    # The chunk commits but its after-commit drain never runs (the worker died in between).
    with django_capture_on_commit_callbacks(execute=False):
        runner.erase_members(member_ids=[a.member.pk], trigger=ErasureTrigger.CANCELLATION)
    assert not IdentityDocument.objects.filter(member=a.member).exists()  # no row points at the files …
    assert all(protected_storage.exists(name) for name in a.files)  # … which are still there, queued
    assert outbox.pending_count() == len(a.files)

    erase(b)  # any later run drains what is pending

    assert not any(protected_storage.exists(name) for name in a.files + b.files)
    assert outbox.pending_count() == 0


def test_crash_before_commit_leaves_rows_files_and_outbox_untouched(monkeypatch, erase, caplog):
    a = seed_member()

    def crash(*args, **kwargs):
        raise RuntimeError("worker died")

    monkeypatch.setattr(records, "write_records", crash)  # the last write of the chunk's transaction
    with caplog.at_level(logging.WARNING, logger="retention"):
        result = erase(a)

    assert result.erased == [] and set(result.failed) == {a.number}
    assert result.failed[a.number] == "retention.ErasureRecord: RuntimeError"
    # PP-02: the log says which erasure failed and why, never the member number it outlives.
    assert "retention.ErasureRecord: RuntimeError" in caplog.text
    assert a.number not in caplog.text and a.tag not in caplog.text
    assert member_is_untouched(a)
    assert IdentityDocument.objects.filter(member=a.member).count() == len(a.files)
    assert all(protected_storage.exists(name) for name in a.files)
    assert FileDeletionOutbox.objects.count() == 0


def test_one_failing_member_does_not_stop_the_others_and_a_rerun_retries_it(erase, supervisor):
    a, b, c = seed_member(), seed_member(), seed_member()
    # b's consent event names a's guardian: deleting a's guardian is refused (PROTECT), so a fails.
    ConsentEvent = consents_model("ConsentEvent")
    template = ConsentEvent.objects.filter(member=b.member).values().get()
    guardian = consents_model("Guardian").objects.get(member=a.member)
    ConsentEvent(**{**template, "id": None, "guardian_id": guardian.pk}).save()
    run = ErasureRun.objects.create(trigger=ErasureTrigger.DELETION_REQUEST, status=RunStatus.APPROVED)

    result = erase(a, c, trigger=ErasureTrigger.DELETION_REQUEST, run=run)

    assert result.erased == [c.number]
    assert set(result.failed) == {a.number}
    error = result.failed[a.number]
    assert "consents.Guardian" in error and "consents.ConsentEvent" in error
    assert a.tag not in error and "@" not in error
    assert member_is_untouched(a)
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED_WITH_FAILURES
    item = ErasureRunItem.objects.get(run=run, member_id=a.member.pk)
    assert (item.status, item.error) == (ItemStatus.FAILED, error)

    erase(b)  # the blocking event goes with b
    outcome = erase_run.apply(args=[run.pk]).get()

    assert outcome["erased"] == 1 and outcome["failed"] == 0
    assert a.number not in str(outcome)
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED
    assert set(ErasureRunItem.objects.filter(run=run).values_list("status", flat=True)) == {ItemStatus.ERASED}


def test_members_are_reselected_inside_the_lock(erase):
    a, b = seed_member(), seed_member()
    Member.objects.filter(pk=b.member.pk).update(status=MemberStatus.ACTIVE, cancelled_at=None)  # reinstated

    result = erase(a, b, eligible=lambda members: members.filter(status=MemberStatus.CANCELLED))

    assert result.erased == [a.number] and result.skipped == [b.number]
    assert member_is_untouched(b)


@pytest.mark.django_db(transaction=True)
def test_two_runs_never_erase_the_same_member_at_once():
    a, b = seed_member(files=False), seed_member(files=False)
    holding, release = threading.Event(), threading.Event()

    def other_run():  # another worker, inside its chunk, holding member a
        try:
            with transaction.atomic():
                locks.lock_members(Member.objects.filter(pk=a.member.pk))
                holding.set()
                release.wait(30)
        finally:
            connections.close_all()

    thread = threading.Thread(target=other_run)
    thread.start()
    try:
        assert holding.wait(30)
        if connection.vendor == "postgresql":
            # Row locks, SKIP LOCKED: this run leaves a to the other one and erases b.
            result = runner.erase_members(member_ids=[a.member.pk, b.member.pk],
                                          trigger=ErasureTrigger.CANCELLATION)
            assert result.skipped == [a.number] and result.erased == [b.number]
            assert member_is_untouched(a)
        else:
            # SQLite: one writer at a time; the lock is taken before the members are re-read.
            with pytest.raises(OperationalError), transaction.atomic():
                locks.lock_members(Member.objects.filter(pk=b.member.pk))
    finally:
        release.set()
        thread.join(30)
    assert member_is_untouched(a)


def _disclose(member, staff):
    Recipient = consents_model("Recipient")
    Disclosure = consents_model("Disclosure")
    recipient = Recipient.objects.create(name="Regulator", kind="authority")
    disclosure = Disclosure.objects.create(kind="share", recipient=recipient, basis="law", description="audit",
                                           prepared_by=staff)
    return consents_model("DisclosedMember").objects.create(disclosure=disclosure, member=member)


def test_pp37_under_14_erasure_keeps_nothing_for_legal_retention(erase, superuser):
    child = seed_member(born=datetime.date(2015, 3, 1))
    link = _disclose(child.member, superuser)

    erase(child, trigger=ErasureTrigger.UNDER_14)

    m = Member.objects.get(pk=child.member.pk)
    assert m.cancelled_at is None and m.product_lines.count() == 0
    assert (m.registered_at.month, m.registered_at.day) == (1, 1)
    for txn in TransactionRecord.objects.filter(member=m):
        assert not txn.order_number.startswith("ORD-")
        assert (txn.order_time.month, txn.order_time.day, txn.order_time.hour) == (1, 1, 0)
    assert not consents_model("DisclosedMember").objects.filter(pk=link.pk).exists()
    assert not history("Member").objects.filter(id=m.pk, cancelled_at__isnull=False).exists()


def test_pp13_retained_rows_are_kept_then_anonymised_when_retention_passes(erase, superuser):
    a = seed_member(cancelled_days_ago=60)
    link = _disclose(a.member, superuser)
    erase(a)
    assert _orders_numbered(a.member, "ORD-") == 3
    assert consents_model("DisclosedMember").objects.filter(pk=link.pk).exists()

    # Five years and a day later the catch-up anonymises what was kept, exactly once.
    later = timezone.now() + datetime.timedelta(days=5 * 365 + 1)
    assert list(expiry.tombstones_due_for_retention(later).values_list("pk", flat=True)) == [a.member.pk]
    with transaction.atomic():
        result = expiry.expire_retention(now=later)
    assert result.counts["accounts.TransactionRecord"] == 3 and result.erased == []
    assert _orders_numbered(a.member, "ORD-") == 0
    assert not consents_model("DisclosedMember").objects.filter(pk=link.pk).exists()
    assert Member.objects.get(pk=a.member.pk).cancelled_at is None
    assert expiry.expire_retention(now=later).counts == {}
    assert ErasureRecord.objects.count() == 1


def test_member_number_copies_follow_the_tombstone(erase, superuser):
    a, b = seed_member(staff=superuser), seed_member(staff=superuser)
    erase(a)
    tombstone = Member.objects.get(pk=a.member.pk).member_number
    assert list(SensitiveAccessLog.objects.filter(member_number=a.number)) == []
    assert SensitiveAccessLog.objects.filter(member_number=tombstone).count() == 1
    assert SensitiveAccessLog.objects.filter(member_number=b.number).count() == 1


def test_admin_log_entries_of_erased_objects_lose_their_label(erase, superuser):
    a, b = seed_member(staff=superuser), seed_member(staff=superuser)
    erase(a)
    entry = LogEntry.objects.get(object_id=str(a.member.pk))
    assert (entry.object_repr, entry.change_message, entry.user_id) == ("", "", superuser.pk)
    other = LogEntry.objects.get(object_id=str(b.member.pk))
    assert other.object_repr == b.number and b.tag in other.change_message


def test_registered_cache_keys_are_deleted(erase):
    a = seed_member()

    def keys(members):
        return [f"member-card:{pk}" for pk in members]

    cache.set(f"member-card:{a.member.pk}", a.tag)
    cache_keys.register_cache_keys(keys)
    try:
        erase(a)
    finally:
        cache_keys.unregister_cache_keys(keys)
    assert cache.get(f"member-card:{a.member.pk}") is None


def test_consent_events_are_erased_and_the_ledger_stays_append_only(erase):
    a, b = seed_member(), seed_member()
    erase(a)
    ConsentEvent = consents_model("ConsentEvent")
    assert not ConsentEvent.objects.filter(member=a.member).exists()
    if connection.vendor == "postgresql":
        # The engine's permission does not leak: outside it the trigger still refuses raw SQL.
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {ConsentEvent._meta.db_table} WHERE member_id = %s", [b.member.pk])  # noqa: S608
    assert ConsentEvent.objects.filter(member=b.member).exists()


def test_every_model_about_members_is_planned_and_every_declaration_is_possible():
    planned = {p.model for p in plan()}
    assert set(models_about_members()) <= planned
    assert plan_problems() == []
    # Simple-history tables of those models are planned too.
    for model in models_about_members():
        historical = getattr(model, "history", None)
        if historical is not None:
            assert historical.model in planned, model


def test_a_prepared_run_is_refused_until_approved(erase, compliance_officer):
    a = seed_member()
    run = ErasureRun.objects.create(trigger=ErasureTrigger.DELETION_REQUEST, prepared_by=compliance_officer)
    with pytest.raises(ValidationError):
        runner.erase_members(member_ids=[a.member.pk], trigger=run.trigger, run=run)
    preview = runner.erase_members(member_ids=[a.member.pk], trigger=run.trigger, run=run, dry_run=True)
    assert preview.erased == [a.number]
    assert member_is_untouched(a)
    assert erase_run.apply(args=[run.pk]).get()["erased"] == 0


def test_run_items_and_counts_are_written_without_the_old_numbers(erase):
    a, b = seed_member(), seed_member()
    run = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.APPROVED)
    result = erase(a, b, run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.FINISHED and run.started_at and run.finished_at
    assert run.counts == dict(sorted(result.counts.items()))
    items = list(ErasureRunItem.objects.filter(run=run).values_list("member_number", "status"))
    assert len(items) == 2 and all(TOMBSTONE.match(n) and s == ItemStatus.ERASED for n, s in items)


def test_erase_members_command_dry_run_then_real(capsys):
    a = seed_member()
    call_command("erase_members", a.number, "--dry-run", "--no-progress")
    out = capsys.readouterr().out
    assert "1 member(s) would be erased" in out and "Dry run: nothing was changed." in out
    assert member_is_untouched(a)

    call_command("erase_members", a.number, "--trigger", "deletion_request", "--request", "DSR-TEST0001",
                 "--no-progress")
    assert "1 member(s) erased" in capsys.readouterr().out
    assert TOMBSTONE.match(Member.objects.get(pk=a.member.pk).member_number)
    assert ErasureRecord.objects.get().request_reference == "DSR-TEST0001"


def test_pp02_the_admin_log_is_indexed_by_object_for_the_engines_scrub(db):
    """Scrubbing log entries per chunk is an index lookup, not a read of the whole admin log."""
    from django.db import connection

    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "django_admin_log")
    assert any(c["index"] and c["columns"] == ["content_type_id", "object_id"] for c in constraints.values())
