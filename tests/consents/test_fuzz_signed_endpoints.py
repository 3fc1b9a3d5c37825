"""Fuzzed signed JSON endpoints: the SMS gateway's replies (PP-12) and the member site's consent intake
(``consents/api.py:site_events``: PP-05, PP-38, PP-39, PP-40).

Property-based tests (hypothesis) post through the Django test client: random JSON bodies, mutated
valid bodies (correctly signed, so they reach the parsing), wrong, missing or stale signatures and
timestamps, bodies that are not JSON or not UTF-8, deeply nested and huge bodies, JSON's non-standard
``NaN``/``Infinity``, wrong content types and methods.

Every request is answered with a 2xx or 4xx JSON answer, never a server error (the test client
re-raises an unhandled exception); a refused request writes nothing; neither the answer nor the log
repeats the phone number or the text of the request.
"""

from __future__ import annotations

import datetime
import json
import logging
import time

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from hypothesis import event, given
from hypothesis import strategies as st

from consents import signing
from consents.legal_grounds import SMS_WITHDRAWN_PURPOSES
from consents.models import ConsentEvent, ConsentState, ReconsentNotice, SiteEvent, SmsReply
from tests import fuzzing
from tests.consents.ledger_helpers import initial_version, record, verified_guardian
from tests.factories import MemberFactory
from tests.fuzzing import rolled_back

pytestmark = pytest.mark.django_db

SMS_URL = "/consents/sms/inbound/"
SITE_URL = "/consents/api/events/"
PHONE = "+86 138 0013 8000"
GATEWAY_PHONE = "+8613800138000"
#: Sent in the requests; no answer or log line may repeat them.
CANARY_TEXT = "CanaryReplyText"
MEMBER_NUMBER = "FZ00000001"
MINOR_NUMBER = "FZ00000002"
COUNTED = [SmsReply, ConsentEvent, ConsentState, SiteEvent, ReconsentNotice]
ANSWERS = {200, 400, 403, 405, 413, 415, 422}


@pytest.fixture
def members(db):
    """A member with a phone number and earlier grants (so an unsubscribe withdraws), and a minor with a guardian."""
    version = initial_version()
    member = MemberFactory(member_number=MEMBER_NUMBER, phone=PHONE,
                           registered_at=timezone.now() - datetime.timedelta(days=90))
    for code in SMS_WITHDRAWN_PURPOSES:
        record(member, code, at=timezone.now() - datetime.timedelta(days=1))
    minor = MemberFactory(member_number=MINOR_NUMBER, date_of_birth=timezone.localdate().replace(
        year=timezone.localdate().year - 15, day=1))
    guardian = verified_guardian(minor)
    return {"version": version, "guardian": guardian.pk}


def row_counts() -> tuple[int, ...]:
    return fuzzing.row_counts(COUNTED)



# --- Strategies --------------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
#: Raw JSON text for a value: what ``json.dumps`` would never write, too.
RAW_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "9" * 5000, "1" * 30, "-1", "0", "1.5", "true",
              "null", '"\\u0000"', '"M0\\u0000"', '"\\ud800"', '"²"', '"\\u0661\\u0662\\u0663"',
              '"2025-13-45T25:61:00Z"', '"0001-01-01T00:00:00+23:59"', '"9999-12-31T23:59:59-23:59"',
              '"2025-06-10T12:00:00"', '""', "[]", "{}",
              '"99999999999999999999"', "1e20", "-62135596801", "253402300800"]


def now_iso(delta_minutes: int = 0) -> str:
    return (timezone.now() + datetime.timedelta(minutes=delta_minutes)).isoformat()


@st.composite
def raw_value(draw, *good: str) -> str:
    """JSON text for one field: a good value, a raw oddity, or any JSON value."""
    kind = draw(st.integers(0, 5))
    if kind <= 2 and good:
        return json.dumps(draw(st.sampled_from(good)))
    if kind <= 4:
        return draw(st.sampled_from(RAW_VALUES))
    return json.dumps(draw(json_values))


def json_object(fields: dict[str, str]) -> str:
    return "{" + ", ".join(f"{json.dumps(name)}: {value}" for name, value in fields.items()) + "}"


@st.composite
def mutated_object(draw, fields: dict[str, str]) -> str:
    """Drop a field, add an unknown one, or repeat one (JSON allows duplicate names)."""
    fields = dict(fields)
    for _ in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["drop", "add", "keep"]))
        if how == "drop" and fields:
            fields.pop(draw(st.sampled_from(sorted(fields))))
        elif how == "add":
            fields[draw(st.sampled_from(["phone", "email", "x" * 50, "", "__proto__"]))] = json.dumps(PHONE)
    return json_object(fields)


def bad_bodies() -> st.SearchStrategy[bytes]:
    """Bodies that are not a JSON object at all, or not JSON, or too deep or too large."""
    return st.one_of(
        st.binary(max_size=100),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.sampled_from([b"", b"{", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"nul\x00l", b'{"a": NaN}',
                         "{\"text\": \"\u202e\"}".encode("utf-16")]),
        st.integers(1, 40).map(lambda n: b"[" * (n * 500)),  # deeply nested: up to 20,000 levels
        st.integers(1, 3).map(lambda n: b'{"x": "' + b"a" * (n * 150_000) + b'"}'),  # huge
    )


@st.composite
def sms_body(draw) -> bytes:
    if draw(st.integers(0, 3)) == 0:
        return draw(bad_bodies())
    fields = {
        "message_id": draw(raw_value("gw-1", "gw-2", " gw-3 ", "x" * 101, "")),
        "from": draw(raw_value(GATEWAY_PHONE, PHONE, "unknown", "")),
        "text": draw(raw_value("TD", "td", "STOP", "退订", CANARY_TEXT, "")),
        "timestamp": draw(raw_value(int(time.time()), str(int(time.time())), now_iso(), now_iso(-600))),
    }
    return draw(mutated_object(fields)).encode("utf-8", "surrogatepass")


@st.composite
def site_event(draw, members) -> str:
    kind = draw(st.sampled_from(["grant", "withdraw", "seen", "accepted"]))
    fields = {
        "id": draw(raw_value("evt-1", "evt-2", "e:1.a_b-c", "x" * 101, "-bad", "é")),
        "type": draw(raw_value(kind, "revoke")) if draw(st.integers(0, 5)) == 0 else json.dumps(kind),
        "member": draw(raw_value(MEMBER_NUMBER, MINOR_NUMBER, "NOPE", " " + MEMBER_NUMBER)),
        "occurred_at": draw(raw_value(now_iso(-60), now_iso(60), str(int(time.time()) - 60), "2020-01-01T00:00:00Z",
                                      "1999-01-01T00:00:00+08:00")),
    }
    if kind in ("grant", "withdraw"):
        fields["purpose"] = draw(raw_value("marketing-sms", "profiling-push", "cookies-analytics", "nope"))
        fields["channel"] = draw(raw_value("web", "app", "sms"))
        if draw(st.booleans()):
            fields["guardian"] = draw(raw_value(members["guardian"], members["guardian"] + 99, 0))
        if draw(st.booleans()):
            fields["policy_version"] = draw(raw_value(members["version"].version, "9.9"))
    else:
        fields["policy_version"] = draw(raw_value(members["version"].version, "9.9"))
    return draw(mutated_object(fields))


@st.composite
def site_body(draw, members) -> bytes:
    if draw(st.integers(0, 3)) == 0:
        return draw(bad_bodies())
    count = draw(st.sampled_from([1, 1, 2, 3, 0, 101]))
    events = [draw(site_event(members)) for _ in range(min(count, 3))]
    if count == 101 and events:
        events = events * 101
    listed = "[" + ", ".join(events) + "]"
    outer = draw(st.sampled_from(['{"events": %s}', '{"events": %s, "more": 1}', "%s", '{"events": {"0": %s}}']))
    return (outer % listed).encode("utf-8", "surrogatepass")


@st.composite
def signed_headers(draw, secret: str, body: bytes) -> dict[str, str]:
    """Mostly a good signature (so the body is parsed); else missing, wrong, stale or odd headers."""
    now = int(time.time())
    timestamp = draw(st.sampled_from([str(now)] * 6 + [
        str(now - 301), str(now + 301), "", "yesterday", "\u0661\u0662\u0663", "²", "9" * 400, "-1", " 1 ",
        f"{now}.5",
    ]))
    good = signing.signature(secret=secret, timestamp=timestamp, body=body)
    signature = draw(st.sampled_from([good] * 6 + [
        good.upper(), f" {good} ", "", "0" * 64, "é" * 64, good[:-1], signing.signature(
            secret="another-secret-of-at-least-thirty-two-chars", timestamp=timestamp, body=body),
    ]))
    headers = {"X-Timestamp": timestamp, "X-Signature": signature}
    for name in draw(st.sets(st.sampled_from(["X-Timestamp", "X-Signature"]), max_size=1)):
        del headers[name]
    return headers


@st.composite
def request_of(draw, body_strategy, secret: str):
    body = draw(body_strategy)
    headers = draw(signed_headers(secret, body))
    content_type = draw(st.sampled_from(["application/json"] * 4 + [
        "text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-8", ""]))
    method = draw(st.sampled_from(["post"] * 12 + ["get", "put"]))
    return method, body, headers, content_type


# --- Checks --------------------------------------------------------------------------------------------
def send(client, url: str, request):
    method, body, headers, content_type = request
    if method == "get":
        return client.get(url, headers=headers)
    return getattr(client, method)(url, data=body, content_type=content_type, headers=headers)


def assert_answered(response, caplog) -> None:
    assert response.status_code in ANSWERS, response.status_code
    if response.status_code != 405:
        assert response["Content-Type"] == "application/json"
        response.json()
    said = response.content.decode("utf-8", "replace") + caplog.text
    for value in (PHONE, GATEWAY_PHONE, "13800138000", CANARY_TEXT):
        assert value not in said, "the request's data in the answer or the log"


# --- Properties ----------------------------------------------------------------------------------------
@fuzzing.fuzz
@given(data=st.data())
def test_pp12_fuzzed_sms_replies_are_answered_2xx_or_4xx_and_a_refused_one_writes_nothing(
    client, members, caplog, data
):
    request = data.draw(request_of(sms_body(), django_settings.SMS_GATEWAY_SECRET))
    caplog.clear()
    with caplog.at_level(logging.INFO), rolled_back():
        before = row_counts()
        response = send(client, SMS_URL, request)
        assert_answered(response, caplog)
        event(str(response.status_code))
        if response.status_code == 200:
            assert row_counts()[0] == before[0] + (not response.json()["duplicate"])
        else:
            assert row_counts() == before, f"a refused reply ({response.status_code}) wrote rows"


@fuzzing.fuzz
@given(data=st.data())
def test_pp05_pp38_pp39_fuzzed_site_event_batches_are_answered_2xx_or_4xx_and_refused_ones_write_nothing(
    client, members, caplog, data
):
    request = data.draw(request_of(site_body(members), django_settings.MEMBER_SITE_SECRET))
    caplog.clear()
    with caplog.at_level(logging.INFO), rolled_back():
        before = row_counts()
        response = send(client, SITE_URL, request)
        assert_answered(response, caplog)
        event(str(response.status_code))
        answer = response.json() if response.status_code != 405 else {}
        if response.status_code == 200:
            assert len(answer["results"]) >= 1
        else:
            assert row_counts() == before, f"a refused batch ({response.status_code}) wrote rows"
            if response.status_code == 400:
                assert set(answer) in ({"error"}, {"errors"})
                for refused in answer.get("errors", []):
                    assert isinstance(refused["index"], int) and refused["fields"]


@pytest.mark.parametrize("text", ('"TD\\u0000"', '"\\ud800"'))
@pytest.mark.parametrize("url, secret_name, body", (
    (SMS_URL, "SMS_GATEWAY_SECRET",
     '{"message_id": "gw-1", "from": "' + GATEWAY_PHONE + '", "text": %s, "timestamp": %d}'),
    (SITE_URL, "MEMBER_SITE_SECRET",
     '{"events": [{"id": "evt-1", "type": "seen", "member": %s, "occurred_at": %d, "policy_version": "1"}]}'),
))
def test_pp12_pp39_text_a_database_cannot_hold_is_a_clear_400_on_both_endpoints(
    client, members, url, secret_name, body, text
):
    """A NUL or a lone surrogate escaped in the JSON: refused before any row is read or written."""
    now = int(time.time())
    raw = (body % (text, now)).encode()
    secret = getattr(django_settings, secret_name)
    before = row_counts()
    response = client.post(url, data=raw, content_type="application/json", headers={
        "X-Timestamp": str(now), "X-Signature": signing.signature(secret=secret, timestamp=str(now), body=raw)})
    assert response.status_code == 400
    assert "NUL character or a lone surrogate" in response.json()["error"]
    assert row_counts() == before
