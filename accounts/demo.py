"""Demo data for ``manage.py seed_demo``: the staff users, one per role, then the demo members.

Each app may provide a ``demo.py`` with ``register(steps)``; the command runs the steps in
``INSTALLED_APPS`` order, so accounts (members) come before consents and requests.
"""

from __future__ import annotations

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils.translation import gettext_noop

from accounts.members.seeding.seed import DEFAULT_SEED, demo_members_seed
from accounts.models import StaffUser
from accounts.staff import roles
from accounts.staff.demo_logins import DEMO_LOGINS, DEMO_PASSWORD

# `make run` seeds this many (Makefile DEMO_MEMBERS); `seed_demo --members N` for more.
DEFAULT_MEMBERS = 200


@transaction.atomic
def seed_staff(*, bar=None) -> dict[str, int]:
    """Create or refresh the demo logins; idempotent (matched by e-mail)."""
    groups = {g.name: g for g in Group.objects.filter(name__in=roles.ALL_ROLES)}
    missing = set(roles.ALL_ROLES) - set(groups)
    if missing:
        raise RuntimeError(f"Role groups missing ({', '.join(sorted(missing))}); run migrate first.")
    created = 0
    for login in DEMO_LOGINS:
        user = StaffUser.objects.filter(email=login.email).first()
        if user is None:
            user = StaffUser(email=login.email)
            created += 1
        user.full_name = login.full_name
        user.is_staff = True
        user.is_superuser = login.superuser
        user.is_active = True
        user.set_password(DEMO_PASSWORD)
        user.save()
        user.groups.set([groups[login.role]] if login.role else [])
        if bar is not None:
            bar.update(1)
    return {gettext_noop("staff users created"): created, gettext_noop("staff users"): len(DEMO_LOGINS)}


def seed_members(*, bar=None, members: int = DEFAULT_MEMBERS, seed: int = DEFAULT_SEED, **options) -> dict[str, int]:
    """Members with documents, verifications, instruments, devices and transactions.

    See ``accounts.members.seeding.seed``.
    """
    return demo_members_seed(count=members, seed=seed, bar=bar)


def register(steps) -> None:
    steps.append(("staff users", len(DEMO_LOGINS), seed_staff))
    # After the staff users: the demo compliance officer is the reviewer of demo documents.
    steps.append((gettext_noop("members"), None, seed_members))
