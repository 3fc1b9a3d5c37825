"""Take next with 8 concurrent agents (issue 6, requirement 12): takes per second and double assignments.

    .venv/bin/python bench/take_next.py                    # 8 agents x 250 presses, database bench_desk
    .venv/bin/python bench/take_next.py --agents 8 --presses 500 --pool 20000

Each agent is a process (``--mode thread``: a thread) with its own database connection; all start
together at a barrier and press
"take next" (``requests_desk.queue.take_next``: ``SELECT … FOR UPDATE SKIP LOCKED LIMIT 1`` on
the partial index ``desk_request_unassigned_open``, then the assignment and its history row) as fast
as they can. Reported: takes per second for 1 agent and for N agents, and double assignments — a
request handed to two agents, counted both from what the threads received and from the table
(target: 0). The plan of the take-next query is printed to show the partial index serves it.

The database (``DATABASE_URL``, default ``bench_desk``) is topped up with unassigned open requests
(COPY) when fewer than ``--pool`` wait; the requests taken in the run are released afterwards
(assignee set back to empty), so reruns and ``bench/reminders.py`` see the same data.
"""

from __future__ import annotations

import argparse
import threading
import time

from _desk import copy_requests, desk_setup, request_count


def agents_ensure(count: int) -> list:
    from django.contrib.auth.models import Group

    from accounts.models import StaffUser
    from accounts.staff import roles

    emails = [f"taker{n}@bench.example" for n in range(count)]
    existing = set(StaffUser.objects.filter(email__in=emails).values_list("email", flat=True))
    StaffUser.objects.bulk_create([StaffUser(email=e) for e in emails if e not in existing])
    users = list(StaffUser.objects.filter(email__in=emails).order_by("pk"))
    Group.objects.get(name=roles.CUSTOMER_SERVICE_AGENT).user_set.add(*users)
    return [StaffUser.objects.get(pk=u.pk) for u in users]  # fresh objects: empty permission caches


def explain() -> str:
    from django.db import connection, transaction

    from requests_desk.queue import takeable_requests

    user = agents_ensure(1)[0]
    with transaction.atomic(), connection.cursor() as cursor:
        queryset = takeable_requests(user).select_for_update(skip_locked=True)[:1]
        sql, params = queryset.query.sql_with_params()
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        transaction.set_rollback(True)
    return plan


def _agent_loop(user, presses: int, barrier, results) -> None:
    """One agent: connect, wait for the others, press ``presses`` times, report what it got."""
    from django.db import connections

    from requests_desk.queue import take_next, takeable_requests

    taken: list[int] = []
    error = ""
    try:
        takeable_requests(user).exists()  # connect and warm the permission cache first
        barrier.wait()
        for _ in range(presses):
            request = take_next(user=user)
            if request is not None:
                taken.append(request.pk)
    except BaseException as exc:
        error = repr(exc)
    finally:
        connections.close_all()
    results.put((user.pk, taken, error))


def press(users: list, presses: int, *, mode: str) -> tuple[dict[int, list[int]], float, list[str]]:
    """All agents press at once, as threads (one process, one connection each) or as processes.

    Processes measure the database under concurrent agents; threads share one interpreter lock,
    so they mostly measure Python.
    """
    import multiprocessing
    import queue

    from django.db import connections

    if mode == "process":
        context = multiprocessing.get_context("fork")
        barrier, results = context.Barrier(len(users) + 1), context.Queue()
        connections.close_all()  # no connection may cross a fork
        workers = [context.Process(target=_agent_loop, args=(user, presses, barrier, results)) for user in users]
    else:
        barrier, results = threading.Barrier(len(users) + 1), queue.Queue()
        workers = [threading.Thread(target=_agent_loop, args=(user, presses, barrier, results)) for user in users]
    for worker in workers:
        worker.start()
    barrier.wait()
    start = time.perf_counter()
    collected = [results.get() for _ in users]
    seconds = time.perf_counter() - start
    for worker in workers:
        worker.join()
    taken = {user_pk: pks for user_pk, pks, _error in collected}
    return taken, seconds, [error for _pk, _pks, error in collected if error]


def double_assignments(taken: dict[int, list[int]]) -> tuple[int, int]:
    """(from the threads' results, from the table): requests given to more than one agent."""
    from requests_desk.models import Request

    pks = [pk for pks in taken.values() for pk in pks]
    seen_twice = len(pks) - len(set(pks))
    owner = dict(Request.objects.filter(pk__in=pks).values_list("pk", "assignee_id"))
    wrong_owner = sum(1 for user_pk, mine in taken.items() for pk in mine if owner.get(pk) != user_pk)
    return seen_twice, wrong_owner


def release(taken: dict[int, list[int]]) -> None:
    from requests_desk.models import Request

    pks = [pk for pks in taken.values() for pk in pks]
    for start in range(0, len(pks), 10_000):
        Request.objects.filter(pk__in=pks[start:start + 10_000]).update(assignee=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument("--presses", type=int, default=250, help="presses per agent")
    parser.add_argument("--pool", type=int, default=20_000, help="unassigned open requests waiting (at least)")
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--mode", choices=("process", "thread"), default="process",
                        help="agents as processes (default: the database's concurrency) or threads")
    args = parser.parse_args()

    desk_setup()
    from django.conf import settings

    waiting = request_count("WHERE assignee_id IS NULL AND status IN ('new', 'awaiting_identity', 'in_progress')")
    if waiting < args.pool:
        seconds = copy_requests(args.pool - waiting, assignees=[], assigned_share=0.0, seed=args.seed + waiting,
                                received_days=(0, 14))
        print(f"loaded {args.pool - waiting} unassigned requests in {seconds:.1f} s", flush=True)
    total = request_count()
    waiting = request_count("WHERE assignee_id IS NULL AND status IN ('new', 'awaiting_identity', 'in_progress')")
    print(f"database {settings.DATABASES['default']['NAME']}: {total:,} requests, {waiting:,} unassigned open")
    print("\nPlan of the take-next query:\n" + explain() + "\n", flush=True)

    users = agents_ensure(args.agents)
    rows = []
    for label, group in (("1 agent", users[:1]), (f"{args.agents} agents", users)):
        # What autovacuum does between bursts: dead index entries of earlier takes are cleared.
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE requests_desk_request")
        taken, seconds, errors = press(group, args.presses, mode=args.mode)
        if errors:
            raise SystemExit(f"{label}: {len(errors)} agent error(s): {errors[0]}")
        takes = sum(len(pks) for pks in taken.values())
        twice, wrong = double_assignments(taken)
        rows.append((label, takes, seconds, takes / seconds, twice, wrong))
        release(taken)
        print(f"{label:>9}: {takes} takes in {seconds:.2f} s = {takes / seconds:,.0f} takes/s; "
              f"double assignments: {twice} (threads) / {wrong} (table)", flush=True)

    print(f"\nagents as {dict(process='processes', thread='threads')[args.mode]}; each pressed {args.presses} times")
    print("| agents | takes | seconds | takes/s | double assignments |")
    print("|---|---|---|---|---|")
    for label, takes, seconds, rate, twice, wrong in rows:
        print(f"| {label} | {takes:,} | {seconds:.2f} | {rate:,.0f} | {twice + wrong} |")


if __name__ == "__main__":
    main()
