"""Shared by the request-desk benchmarks: the ``bench_desk`` database, staff users, and a COPY loader
for open requests. Not imported by the application."""

from __future__ import annotations

import datetime
import os
import random
import time

DEFAULT_DESK_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_desk"
AGENTS = 100
SUPERVISORS = 3


def desk_setup() -> None:
    os.environ.setdefault("DATABASE_URL", DEFAULT_DESK_DATABASE_URL)
    from _common import setup

    setup()


def staff_ensure(agents: int = AGENTS, supervisors: int = SUPERVISORS) -> tuple[list[int], list[int]]:
    """Agents and supervisors (by e-mail, idempotent); returns their ids."""
    from django.contrib.auth.models import Group

    from accounts.models import StaffUser
    from accounts.staff import roles

    def ensure(prefix: str, count: int, role: str) -> list[int]:
        emails = [f"{prefix}{n}@bench.example" for n in range(count)]
        existing = set(StaffUser.objects.filter(email__in=emails).values_list("email", flat=True))
        StaffUser.objects.bulk_create([StaffUser(email=e, full_name=f"{prefix} {e.split('@')[0]}")
                                       for e in emails if e not in existing])
        users = list(StaffUser.objects.filter(email__in=emails).order_by("pk"))
        group = Group.objects.get(name=role)
        group.user_set.add(*users)
        return [u.pk for u in users]

    return ensure("agent", agents, roles.CUSTOMER_SERVICE_AGENT), ensure("supervisor", supervisors, roles.SUPERVISOR)


_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _reference(serial: int) -> str:
    digits = []
    for _ in range(8):
        serial, digit = divmod(serial, len(_ALPHABET))
        digits.append(_ALPHABET[digit])
    return "DSR-" + "".join(reversed(digits))


def request_count(where: str = "") -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM requests_desk_request {where}")
        return cursor.fetchone()[0]


def copy_requests(count: int, *, assignees: list[int], assigned_share: float, seed: int,
                  received_days: tuple[float, float] = (0, 20), chunk: int = 50_000) -> float:
    """COPY ``count`` open requests (new / in progress) into the table; returns seconds.

    Received times are spread uniformly over ``received_days`` ago, so due dates fall from overdue to
    two weeks ahead; ``assigned_share`` of them go to ``assignees`` at random.
    """
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.progress import progress
    from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType
    from requests_desk.models import REMINDER_RECHECK, Request
    from requests_desk.states import Status

    rng = random.Random(seed)
    fields = [f for f in Request._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    now = timezone.now()
    due = datetime.timedelta(days=15)
    types = [t for t in RequestType.values if t not in (RequestType.COMPLAINT, RequestType.SECURITY_REPORT)]
    statuses = [Status.NEW, Status.IN_PROGRESS, Status.AWAITING_IDENTITY]
    defaults = {
        "requester_kind": RequesterKind.MEMBER, "requester_name": "", "requester_email": "",
        "requester_email_bidx": None, "channel": IntakeChannel.WEB, "severity": "", "member": None,
        "concerns": None, "subject": "", "description": "", "details": "{}", "is_repeat": False,
        "fee_amount": None, "fee_reason": "", "decision_note": "", "prepared_by": None, "approved_by": None,
        "closed_at": None, "reminder_due_at": REMINDER_RECHECK, "reminder_run": None, "language": "",
    }
    start = time.perf_counter()
    low, high = received_days
    serial = request_count()  # references from a counter: unique without a lookup (random ones could collide)
    with progress(total=count, desc="requests (COPY)", unit="request") as bar:
        for offset in range(0, count, chunk):
            size = min(chunk, count - offset)
            with transaction.atomic(), connection.cursor() as wrapper:
                statement = f"COPY requests_desk_request ({columns}) FROM STDIN"
                with wrapper.cursor.copy(statement) as copy:
                    for _ in range(size):
                        received = now - datetime.timedelta(days=rng.uniform(low, high))
                        status = rng.choice(statuses)
                        assigned = status != Status.NEW or rng.random() < assigned_share
                        row = {
                            **defaults,
                            "reference": _reference(serial), "type": rng.choice(types), "status": status,
                            "received_at": received, "due_at": received + due,
                            "priority": rng.choice([Priority.NORMAL] * 6 + [Priority.HIGH] * 3 + [Priority.URGENT]),
                            "assignee": rng.choice(assignees) if assigned and assignees else None,
                        }
                        copy.write_row([row[f.name] for f in fields])
                        serial += 1
            bar.update(size)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE requests_desk_request")
    return time.perf_counter() - start
