"""The member-facing web site's and app's intake of consent events (PP-05, PP-20, PP-38, PP-39, PP-40).

Closes the cross-cutting gap of docs/obligations.md: grants, withdrawals, guardians' grants and
answers to re-consent notices reach the ledger and the campaigns through a signed endpoint.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from consents import api
from consents.api import MAX_EVENTS, events_parse, site_events_record, site_signature
from consents.campaigns import campaign_progress, policy_version_publish
from consents.choices import ActorKind, ChangeKind, Channel, ConsentAction
from consents.models import ConsentEvent, ConsentState, PolicyVersion, ReconsentNotice, SiteEvent
from consents.selectors import may_process
from tests.consents.ledger_helpers import aware, born, initial_version, record, verified_guardian
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db

URL = "/consents/api/events/"
OLD = aware(2020, 1, 1)
SMS = "marketing-sms"


@pytest.fixture(autouse=True)
def v1():
    return initial_version()


@pytest.fixture
def member():
    return MemberFactory(registered_at=OLD)


def an_hour_ago() -> datetime.datetime:
    return timezone.now() - datetime.timedelta(hours=1)


def grant(member, key="evt-1", *, purpose=SMS, channel="web", occurred_at=None, **extra) -> dict:
    return {"id": key, "type": "grant", "member": member.member_number, "purpose": purpose, "channel": channel,
            "occurred_at": (occurred_at or an_hour_ago()).isoformat(), **extra}


def answer(member, version, kind, key, occurred_at=None) -> dict:
    return {"id": key, "type": kind, "member": member.member_number, "policy_version": version.version,
            "occurred_at": (occurred_at or timezone.now()).isoformat()}


def post(client, events=None, *, body=None, secret=None, signed_at=None, signature=None, headers=None):
    raw = body if body is not None else json.dumps({"events": events}).encode()
    signed_at = str(int(time.time()) if signed_at is None else signed_at)
    signature = signature or site_signature(secret=secret or settings.MEMBER_SITE_SECRET, timestamp=signed_at,
                                            body=raw)
    sent = {"X-Signature": signature, "X-Timestamp": signed_at} if headers is None else headers
    return client.post(URL, data=raw, content_type="application/json", headers=sent)


def nothing_written():
    return not ConsentEvent.objects.exists() and not ConsentState.objects.exists() and not SiteEvent.objects.exists()


def test_pp05_the_endpoint_is_mounted_under_consents():
    assert reverse("consents:site-events") == URL


# --- Authentication --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "how",
    ["no headers", "no signature", "wrong secret", "signed another body", "stale", "from the future",
     "not a timestamp", "non-ascii signature"],
)
def test_pp05_a_missing_wrong_or_stale_signature_is_refused_and_writes_nothing(client, member, how):
    events = [grant(member)]
    raw = json.dumps({"events": events}).encode()
    now = int(time.time())
    kwargs = {
        "no headers": {"headers": {}},
        "no signature": {"headers": {"X-Timestamp": str(now)}},
        "wrong secret": {"secret": "someone-else-s-secret-0123456789abcdef"},
        "signed another body": {"signature": site_signature(
            secret=settings.MEMBER_SITE_SECRET, timestamp=str(now), body=raw.replace(b"web", b"app"))},
        "stale": {"signed_at": now - 301},
        "from the future": {"signed_at": now + 301},
        "not a timestamp": {"headers": {"X-Timestamp": "yesterday", "X-Signature": site_signature(
            secret=settings.MEMBER_SITE_SECRET, timestamp="yesterday", body=raw)}},
        "non-ascii signature": {"signature": "é" * 64},
    }[how]
    response = post(client, body=raw, **kwargs)
    assert response.status_code == 403
    assert "error" in response.json()
    assert nothing_written()


def test_pp05_the_sms_gateways_secret_does_not_sign_for_the_site(client, member):
    response = post(client, [grant(member)], secret=settings.SMS_GATEWAY_SECRET)
    assert response.status_code == 403
    assert nothing_written()


def test_pp05_a_signed_request_needs_no_session_or_csrf_token(member):
    response = post(Client(enforce_csrf_checks=True), [grant(member)])
    assert response.status_code == 200
    assert "sessionid" not in response.cookies


def test_only_post_is_allowed(client):
    assert client.get(URL).status_code == 405


def test_a_body_over_the_limit_is_refused_before_anything_else(client):
    response = post(client, body=b"x" * (256 * 1024 + 1), headers={})
    assert response.status_code == 413


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"events": []}', b'{"events": {}}', b'{"events": [], "x": 1}'])
def test_a_body_that_is_not_a_batch_is_refused(client, body):
    response = post(client, body=body)
    assert response.status_code == 400
    assert "error" in response.json()


def test_a_batch_holds_at_most_the_limit(client, member):
    events = [grant(member, f"evt-{i}") for i in range(MAX_EVENTS + 1)]
    assert post(client, events).status_code == 400
    assert nothing_written()


# --- Grants and withdrawals ------------------------------------------------------------------------------
def test_pp05_a_members_web_grant_is_recorded_with_channel_actor_version_and_time(client, member, v1):
    when = an_hour_ago().replace(microsecond=0)
    response = post(client, [grant(member, "3f0c-web-1", occurred_at=when)])
    assert response.status_code == 200, response.content
    assert response.json() == {"results": [{"index": 0, "id": "3f0c-web-1", "result": "recorded"}]}
    event = ConsentEvent.objects.get(member=member)
    assert (event.purpose.code, event.action, event.channel, event.actor_kind) == (
        SMS, ConsentAction.GRANT, Channel.WEB, ActorKind.MEMBER)
    assert event.guardian_id is None and event.staff_user_id is None
    assert event.policy_version == v1  # the version in force at the time
    assert event.occurred_at == when
    assert event.evidence == "Web event 3f0c-web-1"
    assert ConsentState.objects.get(member=member, purpose=event.purpose).granted
    assert may_process(member=member, purpose=SMS).allowed
    receipt = SiteEvent.objects.get(key="3f0c-web-1")
    assert (receipt.member, receipt.kind, receipt.outcome) == (member, "grant", "recorded")


def test_pp20_an_app_withdrawal_of_cookies_and_analytics_ends_the_grant(client, member):
    record(member, "cookies-analytics", at=timezone.now() - datetime.timedelta(days=3))
    response = post(client, [{
        "id": "app-2", "type": "withdraw", "member": member.member_number, "purpose": "cookies-analytics",
        "channel": "app", "occurred_at": int(an_hour_ago().timestamp()),
    }])
    assert response.status_code == 200, response.content
    withdrawal = ConsentEvent.objects.get(member=member, action=ConsentAction.WITHDRAW)
    assert (withdrawal.channel, withdrawal.actor_kind) == (Channel.APP, ActorKind.MEMBER)
    assert may_process(member=member, purpose="cookies-analytics").code == "withdrawn"


def test_pp05_a_named_policy_version_is_used(client, member, v1):
    newer = PolicyVersion.objects.create(version="2025.1", text="t", change_kinds=["minor"],
                                         published_at=aware(2025, 1, 1), effective_at=aware(2025, 1, 1))
    assert post(client, [grant(member, policy_version="2024.1")]).status_code == 200
    assert ConsentEvent.objects.get().policy_version == v1
    assert post(client, [grant(member, "evt-2", purpose="profiling-push")]).status_code == 200
    assert ConsentEvent.objects.get(purpose__code="profiling-push").policy_version == newer


def test_pp38_a_verified_guardians_grant_is_recorded_with_the_guardian_as_actor(client):
    minor = MemberFactory(registered_at=OLD, date_of_birth=born(16, timezone.localdate()))
    guardian = verified_guardian(minor)
    response = post(client, [grant(minor, "own-1"), grant(minor, "guardian-1", guardian=guardian.pk)])
    assert response.status_code == 200, response.content
    by_guardian = ConsentEvent.objects.get(actor_kind=ActorKind.GUARDIAN)
    assert (by_guardian.member, by_guardian.guardian, by_guardian.channel) == (minor, guardian, Channel.WEB)
    assert may_process(member=minor, purpose=SMS).allowed  # the member's and a guardian's grant


def test_pp38_an_unverified_or_another_members_guardian_is_refused_and_nothing_is_written(client):
    minor = MemberFactory(registered_at=OLD, date_of_birth=born(16, timezone.localdate()))
    other = MemberFactory(registered_at=OLD, date_of_birth=born(15, timezone.localdate()))
    unverified = verified_guardian(minor)
    unverified.verified_at = None
    unverified.save()
    someone_elses = verified_guardian(other)
    response = post(client, [
        grant(minor, "own-1"),
        grant(minor, "g-1", guardian=unverified.pk),
        grant(minor, "g-2", guardian=someone_elses.pk),
        grant(minor, "g-3", guardian=999_999),
    ])
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [(e["index"], e["id"], list(e["fields"])) for e in errors] == [
        (1, "g-1", ["guardian"]), (2, "g-2", ["guardian"]), (3, "g-3", ["guardian"])]
    assert "PP-38" in errors[0]["fields"]["guardian"][0]
    assert nothing_written()


# --- Idempotency -----------------------------------------------------------------------------------------
def test_pp05_a_redelivered_event_records_nothing_twice(client, member):
    events = [grant(member, "once-1"), grant(member, "once-2", purpose="profiling-push")]
    first = post(client, events)
    time.sleep(1)  # a retry is signed again, at another time
    again = post(client, events)
    assert first.status_code == again.status_code == 200
    assert [r["result"] for r in again.json()["results"]] == ["duplicate", "duplicate"]
    assert ConsentEvent.objects.count() == 2
    assert SiteEvent.objects.count() == 2


def test_pp05_a_redelivered_event_inside_a_new_batch_is_skipped_and_the_rest_recorded(client, member):
    event = grant(member, "once-1")
    post(client, [event])
    response = post(client, [event, grant(member, "new-2", purpose="profiling-push")])
    assert [r["result"] for r in response.json()["results"]] == ["duplicate", "recorded"]
    assert ConsentEvent.objects.count() == 2


def test_pp05_the_same_id_twice_in_one_batch_is_recorded_once(client, member):
    event = grant(member, "twice")
    response = post(client, [event, event])
    assert [r["result"] for r in response.json()["results"]] == ["recorded", "duplicate"]
    assert ConsentEvent.objects.count() == 1


def test_an_id_reused_for_a_different_event_is_refused(client, member):
    post(client, [grant(member, "reused")])
    response = post(client, [grant(member, "fresh", purpose="profiling-push"),
                             grant(member, "reused", purpose="cookies-analytics")])
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"index": 1, "id": "reused", "fields": {"id": [
            "This id was already used for a different event: give each event its own id."]}}]
    assert ConsentEvent.objects.count() == 1  # the first delivery only


@pytest.mark.postgresql  # SQLite has neither the trigger nor row locks; CI's PostgreSQL run executes it
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_pp05_two_deliveries_of_one_event_at_the_same_moment_record_it_once(monkeypatch):
    """Both read "not on file yet" before either writes; the unique key settles it, nothing is doubled."""
    initial_version()
    member = MemberFactory(registered_at=OLD)
    [event] = events_parse({"events": [grant(member, "race-1")]})
    both_have_looked = threading.Barrier(2, timeout=10)
    references_of = api._References.of

    def of_after_both_looked(events):
        both_have_looked.wait()
        return references_of(events)

    monkeypatch.setattr(api._References, "of", staticmethod(of_after_both_looked))
    recorded_by = []
    consent_record = api.consent_record

    def counting_consent_record(**kwargs):
        recorded_by.append(threading.get_ident())
        return consent_record(**kwargs)

    monkeypatch.setattr(api, "consent_record", counting_consent_record)
    results, errors = [], []

    def deliver():
        try:
            results.extend(r["result"] for r in site_events_record([event]))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(results) == ["duplicate", "recorded"]
    assert len(set(recorded_by)) == 2  # both got past "not on file": the second's grant was rolled back
    assert ConsentEvent.objects.filter(member=member).count() == 1
    assert SiteEvent.objects.count() == 1
    assert ConsentState.objects.get(member=member, purpose__code=SMS).granted


# --- All or nothing --------------------------------------------------------------------------------------
def test_pp05_a_batch_with_one_badly_formed_event_names_index_and_field_and_writes_nothing(client, member):
    response = post(client, [grant(member, "ok-1"), grant(member, "bad-2", channel="sms"),
                             grant(member, "ok-3", purpose="profiling-push")])
    assert response.status_code == 400
    assert response.json() == {"errors": [{"index": 1, "id": "bad-2", "fields": {"channel": ["Choose web or app."]}}]}
    assert nothing_written()


def test_pp05_an_event_refused_by_the_ledger_rules_undoes_the_events_recorded_before_it(client, member):
    version = PolicyVersion.objects.create(version="2025.2", text="t", change_kinds=["contact"],
                                           published_at=aware(2024, 6, 1), effective_at=aware(2024, 6, 1))
    member_b = MemberFactory(registered_at=OLD)
    response = post(client, [
        grant(member, "ok-1"),
        answer(member_b, version, "accepted", "ok-2"),
        # PP-04: a basic purpose is not withdrawn one by one.
        {**grant(member, "bad-3", purpose="transactions"), "type": "withdraw"},
        grant(member, "bad-4", purpose="no-such-purpose"),
    ])
    assert response.status_code == 400
    assert [(e["index"], list(e["fields"])) for e in response.json()["errors"]] == [(2, ["purpose"]), (3, ["purpose"])]
    assert nothing_written()
    assert not ReconsentNotice.objects.exists()  # the acceptance recorded before the refusal is undone too


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": "has spaces"}, "id"),
        ({"id": None}, "id"),
        ({"type": "maybe"}, "type"),
        ({"type": ["grant"]}, "type"),
        ({"member": ""}, "member"),
        ({"member": "M000000000"}, "member"),
        ({"occurred_at": "2025-06-10T12:00:00"}, "occurred_at"),  # no offset: ambiguous
        ({"occurred_at": "soon"}, "occurred_at"),
        ({"occurred_at": (timezone.now() + datetime.timedelta(days=2)).isoformat()}, "occurred_at"),
        ({"purpose": 7}, "purpose"),
        ({"guardian": "1"}, "guardian"),
        ({"guardian": True}, "guardian"),
        ({"policy_version": "1999.9"}, "policy_version"),
        ({"email": "someone@mail.example"}, "email"),  # nothing beyond the member number
    ],
)
def test_pp05_each_bad_field_is_named(client, member, change, field):
    response = post(client, [grant(member, "ok-0"), {**grant(member, "evt-1"), **change}])
    assert response.status_code == 400, response.content
    [error] = response.json()["errors"]
    assert error["index"] == 1
    assert field in error["fields"]
    assert nothing_written()


def test_an_event_that_is_not_an_object_is_named_by_index(client, member):
    response = post(client, [grant(member), "grant"])
    assert response.json()["errors"] == [
        {"index": 1, "id": None, "fields": {"__all__": ["An event is a JSON object."]}}]


# --- Answers to re-consent notices (PP-39) ---------------------------------------------------------------
@pytest.fixture
def campaign(compliance_officer):
    version = PolicyVersion.objects.create(version="2025.3", text="t", summary="s", change_kinds=[ChangeKind.RIGHTS])
    policy_version_publish(version=version, user=compliance_officer, notify=False)
    return version


def test_pp39_seen_and_accepted_update_the_campaign_counts(client, campaign):
    a, b, c = (MemberFactory(registered_at=OLD) for _ in range(3))
    ReconsentNotice.objects.bulk_create(
        ReconsentNotice(policy_version=campaign, member=m) for m in (a, b, c)
    )
    response = post(client, [answer(a, campaign, "seen", "seen-a"), answer(b, campaign, "seen", "seen-b"),
                             answer(b, campaign, "accepted", "acc-b")])
    assert response.status_code == 200, response.content
    assert [r["result"] for r in response.json()["results"]] == ["recorded"] * 3
    progress = campaign_progress(campaign)
    assert (progress.queued, progress.seen, progress.accepted) == (3, 2, 1)
    # Seen again (a new key: the member opened it twice): on file already, nothing changes.
    again = post(client, [answer(a, campaign, "seen", "seen-a-2")])
    assert again.json()["results"][0]["result"] == "unchanged"
    assert campaign_progress(campaign).seen == 2
    # Accepting implies having seen it (PP-40).
    post(client, [answer(c, campaign, "accepted", "acc-c")])
    progress = campaign_progress(campaign)
    assert (progress.seen, progress.accepted) == (3, 2)


def test_pp39_an_answer_about_a_minor_version_is_not_needed_and_starts_no_campaign(client, member):
    minor = PolicyVersion.objects.create(version="2025.4", text="t", change_kinds=[ChangeKind.MINOR],
                                         published_at=aware(2025, 1, 1), effective_at=aware(2025, 1, 1))
    response = post(client, [answer(member, minor, "accepted", "acc-minor")])
    assert response.json()["results"][0]["result"] == "not_needed"
    assert not ReconsentNotice.objects.exists()


def test_pp39_an_answer_before_the_version_was_published_is_refused(client, member, campaign):
    response = post(client, [answer(member, campaign, "accepted", "early",
                                    occurred_at=campaign.published_at - datetime.timedelta(days=1))])
    assert response.status_code == 400
    assert list(response.json()["errors"][0]["fields"]) == ["policy_version"]
    assert not ReconsentNotice.objects.filter(member=member, accepted_at__isnull=False).exists()


def test_pp39_an_answer_names_the_policy_version(client, member):
    response = post(client, [{"id": "x", "type": "seen", "member": member.member_number,
                              "occurred_at": int(time.time())}])
    assert list(response.json()["errors"][0]["fields"]) == ["policy_version"]


def test_an_answer_carries_no_purpose_or_channel(client, member, campaign):
    response = post(client, [{**answer(member, campaign, "seen", "x"), "purpose": SMS}])
    assert list(response.json()["errors"][0]["fields"]) == ["purpose"]


# --- Logs ------------------------------------------------------------------------------------------------
def test_the_payload_never_appears_in_the_logs(client, caplog):
    caplog.set_level(logging.DEBUG)
    minor = MemberFactory(registered_at=OLD, date_of_birth=born(16, timezone.localdate()))
    guardian = verified_guardian(minor)
    good = [grant(minor, "LOGPROBE-good-1"), grant(minor, "LOGPROBE-good-2", guardian=guardian.pk)]
    bad = [grant(minor, "LOGPROBE-bad-1", purpose="LOGPROBE-purpose"), {"id": "LOGPROBE-bad-2", "mail": "a@b.c"}]
    assert post(client, good).status_code == 200
    assert post(client, good).status_code == 200  # redelivered
    assert post(client, bad).status_code == 400
    assert post(client, good, secret="LOGPROBE-wrong-secret-0123456789abcdef").status_code == 403
    assert post(client, body=b'{"LOGPROBE": ').status_code == 400
    logged = caplog.text
    assert "member site intake" in logged  # the endpoint does log: counts and fixed reasons
    for value in ("LOGPROBE", minor.member_number, "a@b.c", f'"guardian": {guardian.pk}'):
        assert value not in logged
