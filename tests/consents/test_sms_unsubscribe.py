"""The SMS gateway's unsubscribe replies (issue 4, requirement 7; PP-12)."""

from __future__ import annotations

import datetime
import json
import logging
import time

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consents.choices import ActorKind, Channel, ConsentAction, SmsOutcome
from consents.legal_grounds import SMS_WITHDRAWN_PURPOSES
from consents.models import ConsentEvent, SmsReply
from consents.selectors import may_process
from consents.views import sms_signature
from tests.consents.ledger_helpers import initial_version, record
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

PHONE = "+86 138 0013 8000"
GATEWAY_PHONE = "+8613800138000"  # how the gateway writes the same number
DIGITS = "13800138000"
URL = "/consents/sms/inbound/"


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


@pytest.fixture
def member():
    member = MemberFactory(phone=PHONE, registered_at=timezone.now() - datetime.timedelta(days=90))
    earlier = timezone.now() - datetime.timedelta(days=1)
    for code in (*SMS_WITHDRAWN_PURPOSES, "cookies-analytics"):
        record(member, code, at=earlier)
    return member


def post(client, *, message_id="gw-1", sender=GATEWAY_PHONE, text="TD", signed_at=None, secret=None, body=None,
         signature=None):
    signed_at = str(int(time.time()) if signed_at is None else signed_at)
    raw = body if body is not None else json.dumps(
        {"message_id": message_id, "from": sender, "text": text, "timestamp": int(time.time())}
    ).encode()
    signature = signature or sms_signature(secret=secret or settings.SMS_GATEWAY_SECRET, timestamp=signed_at, body=raw)
    return client.post(URL, data=raw, content_type="application/json",
                       headers={"X-Signature": signature, "X-Timestamp": signed_at})


def sms_events(member):
    return ConsentEvent.objects.filter(member=member, channel=Channel.SMS)


def test_the_endpoint_is_mounted_under_consents():
    assert reverse("consents:sms-inbound") == URL


FULL_WIDTH_TD = "\uff34\uff24"


@pytest.mark.parametrize("text", ["TD", "td", " T ", "t", "STOP", "Stop\n", "退订", " 退 订 ", FULL_WIDTH_TD])
def test_pp12_an_unsubscribe_reply_withdraws_marketing_and_profiling(client, member, text):
    response = post(client, text=text)
    assert response.status_code == 200
    assert response.json() == {"message_id": "gw-1", "duplicate": False}
    events = list(sms_events(member))
    assert {e.purpose.code for e in events} == set(SMS_WITHDRAWN_PURPOSES)
    for event in events:
        assert (event.action, event.actor_kind, event.evidence) == (
            ConsentAction.WITHDRAW, ActorKind.MEMBER, "SMS reply gw-1"
        )
    for code in SMS_WITHDRAWN_PURPOSES:
        assert not may_process(member=member, purpose=code).allowed
    assert may_process(member=member, purpose="cookies-analytics").allowed  # only the SMS purposes
    reply = SmsReply.objects.get(message_id="gw-1")
    assert (reply.member, reply.outcome) == (member, SmsOutcome.WITHDRAWN)


def test_pp12_csrf_does_not_apply_to_the_signed_gateway(member):
    response = post(Client(enforce_csrf_checks=True))
    assert response.status_code == 200
    assert sms_events(member).count() == len(SMS_WITHDRAWN_PURPOSES)


def test_pp12_other_words_are_recorded_and_change_nothing(client, member):
    response = post(client, text="Thanks, see you")
    assert response.status_code == 200
    assert not sms_events(member).exists()
    reply = SmsReply.objects.get(message_id="gw-1")
    assert (reply.member, reply.outcome) == (member, SmsOutcome.IGNORED)


@pytest.mark.parametrize("sender", ["+86 139 9999 0000", "", "unknown"])
def test_pp12_an_unknown_number_is_recorded_and_changes_nothing(client, member, sender):
    MemberFactory(phone="n/a")  # a phone without digits must not match a sender without digits
    response = post(client, sender=sender, text="TD")
    assert response.status_code == 200
    assert not ConsentEvent.objects.filter(channel=Channel.SMS).exists()
    reply = SmsReply.objects.get(message_id="gw-1")
    assert (reply.member, reply.outcome, reply.keyword) == (None, SmsOutcome.UNKNOWN_NUMBER, "")


@pytest.mark.parametrize(
    "tamper",
    [
        {"secret": "another-secret-of-at-least-thirty-two-chars"},
        {"signature": "0" * 64},
        {"signature": "not-hex"},
        {"signature": "é" * 64},
    ],
)
def test_pp12_a_bad_signature_gets_403_and_writes_nothing(client, member, tamper):
    response = post(client, **tamper)
    assert response.status_code == 403
    assert not SmsReply.objects.exists() and not sms_events(member).exists()


def test_pp12_a_body_changed_after_signing_gets_403(client, member):
    signed_at = str(int(time.time()))
    raw = json.dumps({"message_id": "gw-1", "from": GATEWAY_PHONE, "text": "hello", "timestamp": 1}).encode()
    signature = sms_signature(secret=settings.SMS_GATEWAY_SECRET, timestamp=signed_at, body=raw)
    forged = raw.replace(b"hello", b"TD")
    response = client.post(URL, data=forged, content_type="application/json",
                           headers={"X-Signature": signature, "X-Timestamp": signed_at})
    assert response.status_code == 403
    assert not SmsReply.objects.exists()


def test_pp12_missing_headers_get_403(client, member):
    raw = json.dumps({"message_id": "gw-1", "from": GATEWAY_PHONE, "text": "TD", "timestamp": 1}).encode()
    assert client.post(URL, data=raw, content_type="application/json").status_code == 403
    assert not SmsReply.objects.exists()


@pytest.mark.parametrize(("shift", "status"), [(-6 * 60, 403), (6 * 60, 403), (-4 * 60, 200), (4 * 60, 200)])
def test_pp12_replays_older_or_newer_than_five_minutes_are_refused(client, member, shift, status):
    response = post(client, signed_at=int(time.time()) + shift)
    assert response.status_code == status
    assert SmsReply.objects.exists() == (status == 200)
    assert sms_events(member).exists() == (status == 200)


def test_pp12_a_repeated_message_id_is_answered_and_changes_nothing(client, member):
    assert post(client).status_code == 200
    events, replies = sms_events(member).count(), SmsReply.objects.count()
    again = post(client, text="something else")
    assert again.status_code == 200
    assert again.json() == {"message_id": "gw-1", "duplicate": True}
    assert (sms_events(member).count(), SmsReply.objects.count()) == (events, replies)


def test_pp12_only_posts_are_accepted(client):
    assert client.get(URL).status_code == 405


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"message_id": "", "from": GATEWAY_PHONE, "text": "TD", "timestamp": 1}).encode(),
        json.dumps({"message_id": "gw-1", "from": GATEWAY_PHONE, "text": "TD"}).encode(),
    ],
)
def test_pp12_a_signed_but_malformed_body_gets_400_and_writes_nothing(client, member, body):
    assert post(client, body=body).status_code == 400
    assert not SmsReply.objects.exists()


def test_pp12_the_withdrawal_takes_effect_from_the_replys_time(client, member):
    sent = timezone.now() - datetime.timedelta(minutes=3)
    raw = json.dumps({"message_id": "gw-9", "from": GATEWAY_PHONE, "text": "STOP",
                      "timestamp": sent.isoformat()}).encode()
    post(client, body=raw)
    assert {e.occurred_at for e in sms_events(member)} == {sent}


def test_pp12_no_phone_number_in_logs_or_in_the_database(client, member, caplog):
    caplog.set_level(logging.DEBUG)
    post(client, message_id="gw-1", text="TD")
    post(client, message_id="gw-2", sender="+86 139 9999 0000", text="hello")
    post(client, message_id="gw-3", signature="0" * 64)
    assert DIGITS not in caplog.text and "99990000" not in caplog.text
    with connection.cursor() as cursor:
        for table in ("consents_smsreply", "consents_consentevent"):
            cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - fixed table names
            dump = " ".join(str(value) for row in cursor.fetchall() for value in row)
            assert DIGITS not in dump and "99990000" not in dump, table
