"""Issue 7, requirement 1: staff sign-in — second factor, lockout, session timeouts, passwords.

Tests marked ``otp`` run with the second-factor requirement enforced (tests/conftest.py).
"""

from __future__ import annotations

import logging
import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.staff import otp, security
from tests.config.test_settings import PROBE, production_env, run_django
from tests.factories import TEST_PASSWORD
from tests.otp import device_for, totp_token, verified_login

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
ADMIN = reverse("admin:index")
DESK = reverse("requests_desk:queue")
VERIFY = reverse("otp:verify")
PROBE_BYPASS = "import django; from django.conf import settings; django.setup(); print(settings.OTP_DEV_BYPASS)"
ENROL = reverse("otp:enrol")


def sign_in(client, user, *, password=TEST_PASSWORD, token="", next_url=ADMIN, **extra):
    data = {"username": user.email, "password": password, "otp_token": token, "next": next_url}
    return client.post(LOGIN, data, **extra)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


# --- Second factor: who needs it, and where ---------------------------------------------------------------------


@pytest.mark.otp
@pytest.mark.parametrize("who", ["compliance_officer", "supervisor", "superuser"])
@pytest.mark.parametrize("page", [ADMIN, DESK, reverse("admin:password_change"), reverse("accounts:data_map")])
def test_required_role_without_a_verified_session_gets_no_page(client, request, who, page):
    user = request.getfixturevalue(who)
    client.force_login(user)

    response = client.get(page)

    assert response.status_code == 302
    assert response["Location"].startswith(ENROL + "?next=")
    assert SESSION_KEY in client.session  # still signed in, but only the OTP step is reachable


@pytest.mark.otp
def test_required_role_with_a_device_is_sent_to_the_verify_step_with_a_clear_message(client, compliance_officer):
    device_for(compliance_officer)
    client.force_login(compliance_officer)

    response = client.get(DESK, follow=True)

    assert response.redirect_chain[0][0] == f"{VERIFY}?next=%2Fdesk%2F"
    assert response.status_code == 200
    assert "Your role requires two-factor sign-in: enter the code from your authenticator app" in " ".join(
        messages_of(response)
    )
    assert 'name="otp_token"' in response.content.decode()


@pytest.mark.otp
def test_unverified_post_to_the_desk_changes_nothing(client, compliance_officer):
    client.force_login(compliance_officer)

    response = client.post(reverse("requests_desk:take_next"))

    assert response.status_code == 302 and response["Location"] == ENROL


@pytest.mark.otp
@pytest.mark.parametrize("who", ["compliance_officer", "supervisor", "superuser"])
def test_required_role_signs_in_with_password_and_valid_code(client, request, who):
    user = request.getfixturevalue(who)
    device = device_for(user)

    response = sign_in(client, user, token=totp_token(device))

    assert response.status_code == 302 and response["Location"] == ADMIN
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    assert client.get(ADMIN).status_code == 200
    if who != "supervisor" or user.has_perm("requests_desk.work_queue"):
        assert client.get(DESK).status_code == 200


@pytest.mark.otp
def test_code_with_spaces_as_apps_show_it_is_accepted(client, supervisor):
    device = device_for(supervisor)
    token = totp_token(device)

    response = sign_in(client, supervisor, token=f"{token[:3]} {token[3:]}")

    assert response.status_code == 302 and client.get(DESK).status_code == 200


@pytest.mark.otp
@pytest.mark.parametrize("token", ["000000", "12345", "abcdef"])
def test_wrong_code_is_refused_and_counts_as_a_failed_sign_in(client, compliance_officer, token):
    device = device_for(compliance_officer)
    if token == totp_token(device):  # one chance in a million
        token = "999999" if token != "999999" else "000001"

    response = sign_in(client, compliance_officer, token=token)

    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert SESSION_KEY not in client.session
    assert AccessAttempt.objects.get().failures_since_start == 1


@pytest.mark.otp
def test_missing_code_is_refused_for_a_user_with_an_authenticator(client, compliance_officer):
    device_for(compliance_officer)

    response = sign_in(client, compliance_officer, token="")

    assert response.status_code == 200
    assert "Enter the 6-digit code from your authenticator app." in response.content.decode()
    assert SESSION_KEY not in client.session


@pytest.mark.otp
def test_a_code_is_accepted_only_once(client, compliance_officer):
    """ASVS v4.0.3 2.8.4: a time-based code cannot be replayed within its validity period."""
    device = device_for(compliance_officer)
    token = totp_token(device)
    assert sign_in(client, compliance_officer, token=token).status_code == 302
    client.logout()

    response = sign_in(client, compliance_officer, token=token)

    assert response.status_code == 200 and "That code is not valid" in response.content.decode()


@pytest.mark.otp
def test_agent_without_an_authenticator_signs_in_with_the_password(client, agent):
    response = sign_in(client, agent, next_url=DESK)

    assert response.status_code == 302 and response["Location"] == DESK
    assert client.get(DESK).status_code == 200
    assert DEVICE_ID_SESSION_KEY not in client.session


@pytest.mark.otp
def test_agent_who_enrolled_an_authenticator_needs_its_code(client, agent):
    device = device_for(agent)

    assert sign_in(client, agent, next_url=DESK).status_code == 200
    assert SESSION_KEY not in client.session
    assert sign_in(client, agent, token=totp_token(device), next_url=DESK).status_code == 302
    assert client.get(DESK).status_code == 200


@pytest.mark.otp
def test_verify_step_with_a_valid_code_opens_the_desk_and_renews_the_session_key(client, compliance_officer):
    device = device_for(compliance_officer)
    client.force_login(compliance_officer)
    before = client.session.session_key

    response = client.post(VERIFY, {"otp_token": totp_token(device), "next": DESK})

    assert response.status_code == 302 and response["Location"] == DESK
    assert client.session.session_key != before
    assert client.get(DESK).status_code == 200


@pytest.mark.otp
def test_verify_step_refuses_a_wrong_code(client, compliance_officer):
    device = device_for(compliance_officer)
    client.force_login(compliance_officer)
    wrong = "000000" if totp_token(device) != "000000" else "111111"

    response = client.post(VERIFY, {"otp_token": wrong, "next": DESK})

    assert response.status_code == 200 and "That code is not valid" in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert client.get(DESK).status_code == 302


@pytest.mark.otp
def test_verify_step_ignores_an_offsite_next(client, compliance_officer):
    device = device_for(compliance_officer)
    client.force_login(compliance_officer)

    response = client.post(VERIFY, {"otp_token": totp_token(device), "next": "https://evil.example/"})

    assert response["Location"] == ADMIN


@pytest.mark.otp
def test_verified_login_helper_gives_a_session_that_passes(client, supervisor):
    verified_login(client, supervisor)

    assert client.get(ADMIN).status_code == 200


# --- Enrolment ----------------------------------------------------------------------------------------------------


@pytest.mark.otp
def test_enrolment_shows_the_secret_until_confirmed_with_password_and_code(client, compliance_officer):
    client.force_login(compliance_officer)

    page = client.get(f"{ENROL}?next={DESK}")
    device = TOTPDevice.objects.get(user=compliance_officer, confirmed=False)
    secret = otp.base32_secret(device)
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert secret in html and "<svg" in html
    assert client.get(ENROL).content.decode().count(secret) == 1  # a reload shows the same secret

    wrong_password = client.post(ENROL, {"password": "not-my-password", "otp_token": totp_token(device), "next": DESK})
    assert "That password is not correct." in wrong_password.content.decode()
    assert not TOTPDevice.objects.filter(user=compliance_officer, confirmed=True).exists()

    done = client.post(ENROL, {"password": TEST_PASSWORD, "otp_token": totp_token(device), "next": DESK})
    assert done.status_code == 302 and done["Location"] == DESK
    device.refresh_from_db()
    assert device.confirmed
    assert client.get(DESK).status_code == 200

    again = client.get(ENROL)
    assert again.status_code == 302 and secret not in again.content.decode()


@pytest.mark.otp
def test_enrolment_refuses_a_wrong_code(client, supervisor):
    client.force_login(supervisor)
    client.get(ENROL)
    device = TOTPDevice.objects.get(user=supervisor)
    wrong = "000000" if totp_token(device) != "000000" else "111111"

    response = client.post(ENROL, {"password": TEST_PASSWORD, "otp_token": wrong})

    assert "That code is not valid" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed


@pytest.mark.otp
def test_self_enrolment_off_points_to_the_administrator(client, settings, compliance_officer):
    settings.OTP_SELF_ENROLMENT = False
    client.force_login(compliance_officer)

    response = client.get(ENROL)

    assert "Ask an administrator" in response.content.decode()
    assert not TOTPDevice.objects.filter(user=compliance_officer).exists()


def test_enrol_otp_command_issues_prints_refuses_replaces_and_removes(supervisor, capsys):
    call_command("enrol_otp", supervisor.email)
    out = capsys.readouterr().out
    device = TOTPDevice.objects.get(user=supervisor)
    assert device.confirmed and device.config_url in out
    assert otp.base32_secret(device) in out

    with pytest.raises(CommandError, match="already has an authenticator"):
        call_command("enrol_otp", supervisor.email)

    call_command("enrol_otp", supervisor.email.upper(), "--replace")
    new = TOTPDevice.objects.get(user=supervisor)
    assert new.pk != device.pk and new.key != device.key

    call_command("enrol_otp", supervisor.email, "--remove")
    assert not TOTPDevice.objects.filter(user=supervisor).exists()

    with pytest.raises(CommandError, match="No staff user"):
        call_command("enrol_otp", "nobody@test.example")


# --- Development bypass -------------------------------------------------------------------------------------------


def test_dev_bypass_lets_required_roles_in_with_the_password(client, settings, compliance_officer):
    settings.OTP_DEV_BYPASS = True

    response = sign_in(client, compliance_officer, next_url=DESK)

    assert response.status_code == 302 and client.get(DESK).status_code == 200


def test_dev_bypass_with_debug_off_stops_start_up_naming_the_variable():
    result = run_django(["-c", PROBE], production_env(OTP_DEV_BYPASS="true"))

    assert result.returncode != 0
    assert "OTP_DEV_BYPASS is for development only" in result.stderr


@pytest.mark.parametrize(("env", "expected"), [
    ({"DEBUG": "true"}, "True"),
    ({"DEBUG": "true", "OTP_DEV_BYPASS": "false"}, "False"),
])
def test_dev_bypass_follows_debug_unless_set(env, expected):
    result = run_django(["-c", PROBE_BYPASS], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == expected


def test_dev_bypass_is_off_by_default_in_production():
    result = run_django(["-c", PROBE_BYPASS], production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_dev_bypass_with_debug_on_starts_with_a_visible_warning():
    result = run_django(["manage.py", "check"], {"DEBUG": "true", "OTP_DEV_BYPASS": "true"})

    assert result.returncode == 0, result.stderr
    assert "accounts.W001" in result.stdout + result.stderr


# --- Lockout (django-axes) ----------------------------------------------------------------------------------------


@pytest.mark.otp
def test_five_failed_sign_ins_lock_out_with_a_message_and_refuse_the_right_password(client, settings, agent, auditor):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _attempt in range(4):
        response = sign_in(client, agent, password="wrong-password-123")
        assert response.status_code == 200 and "Please enter the correct" in response.content.decode()

    locked = sign_in(client, agent, password="wrong-password-123")
    assert locked.status_code == 429
    body = locked.content.decode()
    assert "Sign-in is locked: too many failed attempts." in body
    assert "30 minutes" in body and "Traceback" not in body
    assert agent.email not in body

    right = sign_in(client, agent)
    assert right.status_code == 429 and "Sign-in is locked" in right.content.decode()
    assert SESSION_KEY not in client.session

    # Locked by user name and address together: the same user elsewhere, and another user from the
    # same address, are not locked out.
    assert list(AccessAttempt.objects.values_list("username", "ip_address")) == [(agent.email, "127.0.0.1")]
    assert sign_in(Client(), auditor).status_code == 302
    assert sign_in(client, agent, REMOTE_ADDR="10.1.2.3").status_code == 302


@pytest.mark.otp
def test_wrong_codes_on_the_verify_step_lock_out_and_end_the_session(client, compliance_officer):
    device = device_for(compliance_officer)
    client.force_login(compliance_officer)
    wrong = "000000" if totp_token(device) != "000000" else "111111"
    TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_count=0)

    responses = []
    for _attempt in range(5):
        # django-otp's own throttle delays the next try after a wrong code; clear it to reach the lockout.
        TOTPDevice.objects.filter(pk=device.pk).update(throttling_failure_timestamp=None)
        responses.append(client.post(VERIFY, {"otp_token": wrong}))

    assert [r.status_code for r in responses] == [200, 200, 200, 200, 429]
    assert SESSION_KEY not in client.session


@pytest.mark.otp
def test_lockout_log_lines_name_no_e_mail_or_address(client, agent, caplog):
    with caplog.at_level(logging.INFO):
        for _attempt in range(5):
            sign_in(client, agent, password="wrong-password-123")

    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "Locking out client" in text
    assert agent.email not in text and "127.0.0.1" not in text


# --- Session timeouts ---------------------------------------------------------------------------------------------


def _age_session(client, *, idle: int, since_login: int | None = None) -> None:
    session = client.session
    now = int(time.time())
    session[security.LAST_SEEN_KEY] = now - idle
    session[security.LOGIN_AT_KEY] = now - (since_login if since_login is not None else idle)
    session.save()


def test_idle_session_is_signed_out_with_a_message(client, settings, agent):
    assert settings.SESSION_IDLE_TIMEOUT == 900
    client.force_login(agent)
    _age_session(client, idle=901)

    response = client.get(DESK, follow=True)

    assert response.redirect_chain[0][0].startswith(LOGIN)
    assert SESSION_KEY not in client.session
    assert "You were signed out after 15 minutes without activity." in response.content.decode()


def test_activity_keeps_the_session_and_moves_the_idle_clock(client, agent):
    client.force_login(agent)
    _age_session(client, idle=850, since_login=3000)

    assert client.get(DESK).status_code == 200
    assert int(time.time()) - client.session[security.LAST_SEEN_KEY] <= 1
    assert client.get(DESK).status_code == 200


def test_idle_timeout_follows_the_setting(client, settings, agent):
    settings.SESSION_IDLE_TIMEOUT = 120
    client.force_login(agent)
    _age_session(client, idle=121)

    assert client.get(DESK).status_code == 302
    assert SESSION_KEY not in client.session


def test_session_ends_after_its_absolute_lifetime_even_when_active(client, settings, agent):
    client.force_login(agent)
    _age_session(client, idle=5, since_login=settings.SESSION_COOKIE_AGE + 1)

    response = client.get(DESK, follow=True)

    assert SESSION_KEY not in client.session
    assert "Sessions last at most 8 hours." in response.content.decode()


def test_session_without_timestamps_is_treated_as_ended(client, agent):
    client.force_login(agent)
    session = client.session
    del session[security.LAST_SEEN_KEY]
    session.save()

    assert client.get(DESK).status_code == 302
    assert SESSION_KEY not in client.session


# --- Passwords ----------------------------------------------------------------------------------------------------


def test_password_validators_reject_a_short_or_common_password(agent):
    with pytest.raises(ValidationError, match="at least 12 characters"):
        validate_password("Sh0rt-pass!", user=agent)
    with pytest.raises(ValidationError, match="too common"):
        validate_password("password1234", user=agent)
    validate_password("a-long-enough-passphrase", user=agent)
