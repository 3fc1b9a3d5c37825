"""Take next (issue 6, requirement 5): the most urgent unassigned open request, atomically, to one agent."""

import datetime
import threading

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import connection, connections
from django.urls import reverse
from django.utils import timezone

from accounts.staff import roles
from requests_desk import lifecycle, workflow
from requests_desk.choices import IntakeChannel, Priority, RequesterKind, RequestType
from requests_desk.models import Request
from requests_desk.queue import take_next
from tests.factories import StaffUserFactory


def create(*, priority=Priority.NORMAL, received_days_ago=0, type_=RequestType.ACCESS) -> Request:
    return lifecycle.request_create(
        type=type_, requester_kind=RequesterKind.MEMBER, channel=IntakeChannel.WEB, priority=priority,
        received_at=timezone.now() - datetime.timedelta(days=received_days_ago),
    )


def agents(count: int) -> list:
    group = Group.objects.get(name=roles.CUSTOMER_SERVICE_AGENT)
    users = [StaffUserFactory(email=f"take-next-{n}@test.example") for n in range(count)]
    for user in users:
        user.groups.add(group)
    return users


@pytest.mark.django_db
def test_take_next_takes_by_priority_then_due_date_then_age(agent):
    normal_old = create(received_days_ago=3)
    normal_new = create(received_days_ago=1)
    urgent_new = create(priority=Priority.URGENT)
    low_oldest = create(priority=Priority.LOW, received_days_ago=10)
    # Already assigned or awaiting approval: not in the pool.
    lifecycle.request_assign(request=create(priority=Priority.URGENT), assignee=agent, user=agent)
    taken = [take_next(user=agent) for _ in range(5)]
    assert taken == [urgent_new, normal_old, normal_new, low_oldest, None]
    assert all(r.assignee == agent for r in Request.objects.filter(pk__in=[t.pk for t in taken[:4]]))


@pytest.mark.django_db
def test_closed_requests_are_never_taken(agent):
    request = create()
    workflow.transition(request=request, name="close_duplicate", user=agent, note="duplicate")
    assert take_next(user=agent) is None


@pytest.mark.django_db
def test_take_next_button_assigns_and_opens_the_request(client, agent):
    request = create()
    client.force_login(agent)
    response = client.post(reverse("requests_desk:take_next"))
    assert response.status_code == 302
    assert response["Location"] == reverse("requests_desk:request_detail", args=[request.reference])
    assert Request.objects.get(pk=request.pk).assignee == agent
    response = client.post(reverse("requests_desk:take_next"), follow=True)
    assert b"No unassigned open request is waiting" in response.content
    assert client.get(reverse("requests_desk:take_next")).status_code == 405  # a GET changes nothing


@pytest.mark.django_db
def test_take_next_needs_the_queue_permission(auditor):
    create()
    with pytest.raises(PermissionDenied):
        take_next(user=auditor)


def _press_at_once(users, presses: int) -> dict[int, list[int]]:
    """Each user presses "take next" ``presses`` times; all start together. Returns user pk -> request pks."""
    barrier = threading.Barrier(len(users))
    taken: dict[int, list[int]] = {user.pk: [] for user in users}
    errors: list[BaseException] = []

    def work(user):
        try:
            barrier.wait(timeout=30)
            for _ in range(presses):
                request = take_next(user=user)
                if request is not None:
                    taken[user.pk].append(request.pk)
        except BaseException as exc:  # reported below; a thread's exception would otherwise vanish
            errors.append(exc)
        finally:
            connections.close_all()  # each thread had its own connection

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return taken


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_eight_agents_pressing_take_next_at_once_never_get_the_same_request():
    """On PostgreSQL: eight threads, eight connections, at once. SQLite serialises every writer, so
    there the same presses run one after another (the sequential variant of the same property)."""
    users = agents(8)
    pool = [create(received_days_ago=n % 5, priority=Priority.HIGH if n % 4 == 0 else Priority.NORMAL)
            for n in range(20)]
    if connection.vendor == "postgresql":
        taken = _press_at_once(users, presses=3)
    else:
        taken = {user.pk: [] for user in users}
        for _ in range(3):
            for user in users:
                request = take_next(user=user)
                if request is not None:
                    taken[user.pk].append(request.pk)
    all_taken = [pk for pks in taken.values() for pk in pks]
    assert len(all_taken) == len(set(all_taken)) == 20  # 24 presses, 20 requests: each taken once
    assignees = dict(Request.objects.filter(pk__in=[r.pk for r in pool]).values_list("pk", "assignee_id"))
    for user_pk, pks in taken.items():
        assert all(assignees[pk] == user_pk for pk in pks)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_more_agents_than_requests_at_once_assigns_each_request_once():
    users = agents(8)
    pool = [create() for _ in range(3)]
    if connection.vendor == "postgresql":
        taken = _press_at_once(users, presses=1)
    else:
        taken = {user.pk: [r.pk] if (r := take_next(user=user)) else [] for user in users}
    all_taken = [pk for pks in taken.values() for pk in pks]
    assert sorted(all_taken) == sorted(r.pk for r in pool)
    assert sum(1 for pks in taken.values() if not pks) == 5
