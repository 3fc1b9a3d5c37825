"""200 transitions on one request at once lose none (issue 7, requirement 6; design decision 4).

Half the threads extend the deadline by one hour (PP-34), half move the request between "in
progress" and "awaiting approval" (submit for approval / send back). Each thread reads the request
without a lock, picks its transition from what it read, and retries when the state machine refuses
it because another thread changed the request first. ``workflow.transition`` locks the row
(``select_for_update``) before checking and writing, so afterwards:

- there is one ``Transition`` row per successful call, and the rows form one chain (each starts
  where the previous one ended);
- the due date moved by exactly one hour per extension: an extension computed from a stale due date
  is refused, never applied over another one (a lost update would leave the date short);
- the status and ``prepared_by`` are those the last transitions left, and the audit history has one
  row per transition.
"""

import datetime
import threading

import pytest
from django.contrib.auth.models import Group
from django.db import connection, connections
from django.utils import timezone

from accounts.models import StaffUser
from accounts.staff import roles
from requests_desk.choices import IntakeChannel, RequesterKind, RequestType, VerificationMethod
from requests_desk.models import IdentityCheck, Request, Transition
from requests_desk.states import Status
from requests_desk.workflow import TransitionError, due_date_for, transition
from tests.factories import StaffUserFactory

THREADS = 200
# PostgreSQL's default max_connections is 100, shared with the test database's own connection:
# the 200 threads start together and take turns on this many connections.
CONNECTIONS = 20
STEP = datetime.timedelta(hours=1)
MAX_ATTEMPTS = 1_000  # a thread that never gets its transition in is a failure, not a hang
STATUS_MOVES = {Status.IN_PROGRESS: "submit_for_approval", Status.AWAITING_APPROVAL: "send_back"}


@pytest.fixture(scope="module", autouse=True)
def _restore_migration_data_after_flush(django_db_blocker):
    """A transactional test ends with a flush that empties every table, including what the data
    migrations wrote (role groups, legal grounds, purposes). Put it back for the tests that follow."""
    yield
    from django.contrib.contenttypes.models import ContentType

    contents = getattr(connection, "_test_serialized_contents", None)
    with django_db_blocker.unblock():
        if contents and not ContentType.objects.exists():
            connection.creation.deserialize_db_from_string(contents)


def officers(count: int) -> list[StaffUser]:
    """Compliance officers: they may both work the queue and decide (extend, send back)."""
    group = Group.objects.get(name=roles.COMPLIANCE_OFFICER)
    users = [StaffUserFactory(email=f"concurrent-{n}@test.example") for n in range(count)]
    for user in users:
        user.groups.add(group)
    return users


def access_request_in_progress(user) -> Request:
    """An access request, started and with the requester's identity verified (PP-30), so that it may
    be submitted for approval."""
    now = timezone.now()
    request = Request.objects.create(
        type=RequestType.ACCESS, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB,
        received_at=now, due_at=due_date_for(now),
    )
    transition(request=request, name="start", user=user)
    IdentityCheck.objects.create(request=request, method=VerificationMethod.DOCUMENT_MATCH,
                                 evidence="passport matched", verified_by=user)
    return Request.objects.get(pk=request.pk)


def make_one(kind: str, *, request_pk: int, user) -> int:
    """Get exactly one transition of ``kind`` ("extend" or "status") accepted; returns the attempts.

    The request is read without a lock, as a page would show it; when another thread's transition
    lands between that read and the locked re-read in ``transition``, the state machine refuses this
    one (the due date is no longer later, or the status no longer a source) and the thread tries again
    from a fresh read.
    """
    for attempt in range(1, MAX_ATTEMPTS + 1):
        seen = Request.objects.get(pk=request_pk)
        try:
            if kind == "extend":
                transition(request=request_pk, name="extend", user=user, note="More time needed.",
                           due_at=seen.due_at + STEP)
            else:
                transition(request=request_pk, name=STATUS_MOVES[seen.status], user=user, note="Once more.")
        except TransitionError:
            continue
        return attempt
    raise AssertionError(f"no {kind} transition accepted in {MAX_ATTEMPTS} attempts")


def run_at_once(kinds: list[str], *, request_pk: int, user_pks: list[int]) -> list[int]:
    """One thread per entry of ``kinds``, all released together, ``CONNECTIONS`` at a time on the
    database. Returns each thread's attempts; raises the first error a thread met."""
    barrier = threading.Barrier(len(kinds))
    slots = threading.BoundedSemaphore(CONNECTIONS)
    attempts: list[int] = []
    errors: list[BaseException] = []

    def work(kind: str, user_pk: int) -> None:
        try:
            barrier.wait(timeout=60)
            with slots:
                try:
                    user = StaffUser.objects.get(pk=user_pk)  # its own object: its own permission cache
                    attempts.append(make_one(kind, request_pk=request_pk, user=user))
                finally:
                    connections.close_all()  # each thread had its own connection; give the slot back
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(kind, user_pks[n % len(user_pks)]))
               for n, kind in enumerate(kinds)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish in 300 s"
    assert not errors, errors[:3]
    return attempts


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pp34_two_hundred_concurrent_transitions_on_one_request_lose_none():
    """On PostgreSQL: 200 threads on their own connections, at once. SQLite serialises every writer,
    so there the same 200 calls run one after another (the sequential variant of the same property)."""
    users = officers(4)
    request = access_request_in_progress(users[0])
    start_due = request.due_at
    history_before = request.history.count()
    transitions_before = list(Transition.objects.filter(request=request).values_list("pk", flat=True))
    kinds = ["extend", "status"] * (THREADS // 2)

    if connection.vendor == "postgresql":
        attempts = run_at_once(kinds, request_pk=request.pk, user_pks=[u.pk for u in users])
    else:
        attempts = [make_one(kind, request_pk=request.pk, user=users[n % len(users)])
                    for n, kind in enumerate(kinds)]

    assert len(attempts) == THREADS  # every thread got its one transition accepted
    rows = list(Transition.objects.filter(request=request).exclude(pk__in=transitions_before).order_by("pk"))
    assert len(rows) == THREADS
    names = [row.name for row in rows]
    assert names.count("extend") == THREADS // 2
    assert names.count("submit_for_approval") == names.count("send_back") == THREADS // 4
    # One chain: each transition starts in the state the previous one left (ids are drawn under the
    # row lock, so id order is the order the transitions were applied in), and times never go back.
    status = Status.IN_PROGRESS
    for previous, row in zip([None, *rows], rows, strict=False):
        assert row.from_status == status, f"transition #{row.pk} starts from a state it was not in"
        if previous is not None:
            assert row.at >= previous.at
        status = row.to_status

    request.refresh_from_db()
    assert request.status == status == Status.IN_PROGRESS  # an even number of moves from "in progress"
    assert request.due_at == start_due + STEP * (THREADS // 2)  # no extension lost or applied twice
    last_submit = next(row for row in reversed(rows) if row.name == "submit_for_approval")
    assert request.prepared_by_id == last_submit.actor_id
    assert request.history.count() == history_before + THREADS
    extended_to = sorted(request.history.filter(history_change_reason="extend").values_list("due_at", flat=True))
    assert extended_to == [start_due + STEP * k for k in range(1, THREADS // 2 + 1)]
    if connection.vendor == "postgresql":
        # The threads really raced: some read a state another thread changed before they locked it.
        assert sum(attempts) > THREADS, attempts
