"""Helpers for signing staff in with the second factor (issue 7), for any test module.

The suite runs with OTP enforcement off unless a test is marked ``@pytest.mark.otp``
(tests/conftest.py). With it on, ``verified_login`` gives a session that has passed the OTP step, as
the real sign-in does, and ``totp_token`` computes the code an authenticator app would show.
"""

from __future__ import annotations

import time

from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.staff import otp


def device_for(user) -> TOTPDevice:
    """The user's confirmed authenticator, issued if missing."""
    return otp.confirmed_device(user) or TOTPDevice.objects.create(user=user, name=otp.DEVICE_NAME, confirmed=True)


def verified_login(client, user, *, device: TOTPDevice | None = None) -> TOTPDevice:
    """``client.force_login(user)`` and mark the session OTP-verified with ``device`` (issued if missing)."""
    device = device or device_for(user)
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return device


def totp_token(device: TOTPDevice, *, step_offset: int = 0, at: float | None = None) -> str:
    """The code ``device`` shows now (or at ``at``), ``step_offset`` time steps later.

    A code is accepted once: a second sign-in in the same 30 seconds needs ``step_offset=1``
    (django-otp accepts one step of clock drift either way).
    """
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = (time.time() if at is None else at) + step_offset * device.step
    return f"{totp.token():0{device.digits}d}"
