import pytest
from django.core.management import CommandError, call_command

from accounts.models import StaffUser
from accounts.staff import roles
from accounts.staff.demo_logins import DEMO_LOGINS

pytestmark = pytest.mark.django_db


def run_seed(**kwargs) -> str:
    from io import StringIO

    out, err = StringIO(), StringIO()
    call_command("seed_demo", stdout=out, stderr=err, **kwargs)
    return out.getvalue() + err.getvalue()


def test_seed_demo_creates_a_login_for_every_role_and_prints_them(settings):
    settings.DEMO_DATA_ALLOWED = True
    output = run_seed(print_logins=True)
    for role_name in roles.ALL_ROLES:
        user = StaffUser.objects.filter(groups__name=role_name).first()
        assert user is not None, role_name
        assert user.check_password("privacy-demo-2026!")
        assert user.email in output
    assert StaffUser.objects.get(email="admin@demo.example").is_superuser


def test_seed_demo_is_idempotent(settings):
    settings.DEMO_DATA_ALLOWED = True
    run_seed(no_progress=True)
    first = list(StaffUser.objects.order_by("pk").values_list("pk", "email"))
    run_seed(no_progress=True)
    assert list(StaffUser.objects.order_by("pk").values_list("pk", "email")) == first
    assert len(first) == len(DEMO_LOGINS)


def test_seed_demo_draws_a_progress_bar(settings):
    settings.DEMO_DATA_ALLOWED = True
    output = run_seed()
    assert f"{len(DEMO_LOGINS)}/{len(DEMO_LOGINS)}" in output


def test_seed_demo_is_refused_in_production(settings):
    settings.DEMO_DATA_ALLOWED = False
    with pytest.raises(CommandError, match="DEMO_DATA_ALLOWED"):
        run_seed()
    assert not StaffUser.objects.exists()
