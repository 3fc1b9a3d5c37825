"""Consent ledger at scale (issue 4, requirement 11): the bulk path's rate and the audience selector.

    createdb -h 127.0.0.1 -U postgres bench_consents   # or let the script create it
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_consents .venv/bin/python bench/consents.py

Starts from empty member and consent tables (this database only: its name must start with
``bench``), then for each checkpoint (default 10,000 and 1,000,000 members):

1. loads the missing members with a lean COPY of its own (member number, status, kind, encrypted
   date of birth with its plain birth year; guardians for the 14-17-year-olds, verified);
2. records their consent histories through ``consents.ledger.consent_record_many`` (validated,
   bulk insert, set-based state rebuild; batches of ``--batch`` events, each all-or-nothing) and
   prints events per second;
3. times ``consents.selectors.audience`` for marketing SMS and counts its queries (expected: the
   same count at every size).

Finally ``consent_state_drift`` recomputes every state from the ledger (expected drift: 0).
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
PURPOSE = "marketing-sms"
PROFILING = "profiling-push"
GRANTS_FROM = datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
GRANT_WINDOW_SECONDS = 270 * 24 * 3600  # grants spread over Jan-Sep 2025
GUARDIANS_VERIFIED_AT = datetime.datetime(2024, 6, 1, tzinfo=datetime.UTC)


def setup() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_consents")
    os.environ.setdefault("DEBUG", "true")  # development keys only; query logging is switched off below
    os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-media"))
    import django
    import psycopg
    from psycopg import sql

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "django.db.backends.postgresql" or not str(db["NAME"]).startswith("bench"):
        sys.exit(f"This benchmark empties its database: DATABASE_URL must name a PostgreSQL database bench*, "
                 f"not {db['NAME']!r}.")
    params = {key.lower(): db.get(key) or None for key in ("HOST", "PORT", "USER", "PASSWORD")}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db["NAME"])))
    settings.DEBUG = False  # no query log in memory: measure what production runs
    call_command("migrate", verbosity=0, interactive=False)


# --- A lean member loader (COPY), independent of the demo seeder ----------------------------------------
class Population:
    """Deterministic members: index -> (status, date of birth or None for an institution)."""

    def __init__(self, seed: int):
        self.seed = seed

    def member(self, index: int) -> tuple[str, str, datetime.date | None]:
        rng = random.Random(self.seed * 1_000_003 + index)
        kind = "institution" if rng.random() < 0.05 else "individual"
        status = "active" if rng.random() < 0.95 else rng.choice(["suspended", "cancelled", "closed"])
        born = None
        if kind == "individual":
            # Ages 10 to 80: a few children and a realistic share of 14-17-year-olds.
            born = datetime.date(1946, 1, 1) + datetime.timedelta(days=rng.randrange(0, 70 * 365))
        return kind, status, born


def load_members(first: int, last: int, population: Population, *, chunk: int = 50_000) -> dict[int, int]:
    """COPY members ``first``..``last`` (1-based) and guardians for the minors; returns index -> pk."""
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Member, age_on
    from accounts.privacy import crypto

    today = timezone.localdate()
    tokens: dict[datetime.date, str] = {}  # one ciphertext per distinct date: COPY is the cost measured
    contact = crypto.encrypt_str("guardian@mail.example")
    contact_bidx = crypto.blind_index("email", "guardian@mail.example")
    registered = "2020-01-01 00:00:00+00"
    ids: dict[int, int] = {}
    for start in range(first, last + 1, chunk):
        stop = min(start + chunk - 1, last)
        with transaction.atomic(), connection.cursor() as wrapper:
            cursor = wrapper.cursor
            with cursor.copy(
                "COPY accounts_member (member_number, kind, status, registered_at, verification_level, "
                "nationality, legal_name, local_name, date_of_birth, birth_year, email, phone, preferred_language, "
                "name_search) FROM STDIN"
            ) as copy:
                for index in range(start, stop + 1):
                    kind, status, born = population.member(index)
                    token = None
                    if born is not None:
                        token = tokens.get(born) or tokens.setdefault(born, crypto.encrypt_str(born.isoformat()))
                    copy.write_row((f"B{index:09d}", kind, status, registered, "none", "CN" if born else "", "", "",
                                    token, born.year if born else None, "", "", "", ""))
            chunk_ids = dict(
                Member.objects.filter(member_number__range=(f"B{start:09d}", f"B{stop:09d}"))
                .values_list("member_number", "pk")
            )
            guardians = []
            for index in range(start, stop + 1):
                pk = chunk_ids[f"B{index:09d}"]
                ids[index] = pk
                _kind, _status, born = population.member(index)
                if born is not None and 14 <= age_on(born, today) < 18:
                    guardians.append((pk, "Parent", "mother", contact, contact_bidx, "ID seen at the branch",
                                      GUARDIANS_VERIFIED_AT))
            with cursor.copy(
                "COPY consents_guardian (member_id, name, relation, contact, contact_bidx, verification_evidence, "
                "verified_at) FROM STDIN"
            ) as copy:
                for row in guardians:
                    copy.write_row(row)
    return ids


def plan_events(indexes, ids: dict[int, int], population: Population, guardians: dict[int, int], refs: dict):
    """Consent histories as unsaved events: a grant of marketing SMS for every member who may grant
    (active, 14 or older at the time), the guardian's too for minors, 10% also profiling, 8% withdraw."""
    from accounts.models import age_on
    from consents.choices import ActorKind, Channel, ConsentAction
    from consents.models import ConsentEvent

    today = datetime.date.today()
    for index in indexes:
        _kind, status, born = population.member(index)
        if status != "active":
            continue
        rng = random.Random(f"events:{index}")
        at = GRANTS_FROM + datetime.timedelta(seconds=rng.randrange(GRANT_WINDOW_SECONDS))
        if born is not None and age_on(born, at.date()) < 14:
            continue  # a child can grant nothing
        minor_today = born is not None and age_on(born, today) < 18
        member_id = ids[index]
        common = {"member_id": member_id, "policy_version_id": refs["version"], "occurred_at": at}
        codes = [PURPOSE] + ([PROFILING] if rng.random() < 0.10 else [])
        for code in codes:
            yield ConsentEvent(purpose_id=refs[code], action=ConsentAction.GRANT, channel=Channel.APP,
                               actor_kind=ActorKind.MEMBER, evidence="Privacy settings", **common)
            if minor_today and member_id in guardians:
                yield ConsentEvent(purpose_id=refs[code], action=ConsentAction.GRANT, channel=Channel.EMAIL,
                                   actor_kind=ActorKind.GUARDIAN, guardian_id=guardians[member_id],
                                   evidence="Signed form", **common)
        if rng.random() < 0.08:
            later = dict(common, occurred_at=at + datetime.timedelta(days=rng.randrange(1, 60)))
            yield ConsentEvent(purpose_id=refs[PURPOSE], action=ConsentAction.WITHDRAW, channel=Channel.SMS,
                               actor_kind=ActorKind.MEMBER, evidence="SMS reply bench", **later)


def record_events(events_iter, *, batch: int) -> tuple[int, float]:
    from consents.ledger import consent_record_many

    total, seconds, pending = 0, 0.0, []

    def flush():
        nonlocal total, seconds
        start = time.perf_counter()
        counts = consent_record_many(pending, chunk_size=5000)
        seconds += time.perf_counter() - start
        total += counts["events"]
        print(f"    {total:,} events recorded", flush=True)

    for event in events_iter:
        pending.append(event)
        if len(pending) >= batch:
            flush()
            pending = []
    if pending:
        flush()
    return total, seconds


def measure_audience(repeats: int = 3) -> tuple[int, int, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from consents.selectors import audience

    times, queries, size = [], [], 0
    for _ in range(repeats):
        with CaptureQueriesContext(connection) as captured:
            start = time.perf_counter()
            size = sum(1 for _pk in audience(purpose=PURPOSE).values_list("pk", flat=True).iterator(chunk_size=20_000))
            times.append(time.perf_counter() - start)
        queries.append(len(captured))
    assert len(set(queries)) == 1, queries
    return size, queries[0], statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", default="10000,1000000", help="member counts to measure at")
    parser.add_argument("--batch", type=int, default=100_000, help="events per consent_record_many call")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--skip-verify", action="store_true", help="do not run the drift check at the end")
    args = parser.parse_args()
    checkpoints = sorted(int(value) for value in args.checkpoints.split(","))

    setup()
    from django.db import connection

    from consents.drift import consent_state_drift
    from consents.legal_grounds import INITIAL_POLICY_VERSION
    from consents.models import ConsentEvent, ConsentState, Guardian, PolicyVersion, Purpose

    with connection.cursor() as cursor:
        # This database only (checked in setup): empty members and everything hanging off them.
        cursor.execute("TRUNCATE accounts_member RESTART IDENTITY CASCADE")
    # The seeded version is published "when migrated"; the bench's histories start in 2025.
    PolicyVersion.objects.filter(version=INITIAL_POLICY_VERSION).update(
        published_at=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    )
    refs = {code: pk for code, pk in Purpose.objects.values_list("code", "pk")}
    refs["version"] = PolicyVersion.objects.get(version=INITIAL_POLICY_VERSION).pk
    population = Population(args.seed)

    print(f"database {connection.settings_dict['NAME']}, PostgreSQL {connection.pg_version}", flush=True)
    loaded, all_events, all_seconds, rows = 0, 0, 0.0, []
    for target in checkpoints:
        start = time.perf_counter()
        ids = load_members(loaded + 1, target, population)
        load_seconds = time.perf_counter() - start
        print(f"  members {loaded + 1:,}..{target:,} loaded in {load_seconds:.1f} s", flush=True)
        guardians = dict(Guardian.objects.values_list("member_id", "pk"))  # only the bench's members exist
        events, seconds = record_events(
            plan_events(range(loaded + 1, target + 1), ids, population, guardians, refs), batch=args.batch
        )
        all_events += events
        all_seconds += seconds
        loaded = target
        with connection.cursor() as cursor:
            for table in ("accounts_member", "consents_consentevent", "consents_consentstate", "consents_guardian"):
                cursor.execute(f"VACUUM ANALYZE {table}")
        size, queries, seconds_audience = measure_audience()
        rows.append((target, events, seconds, size, queries, seconds_audience))
        print(f"  at {target:,} members: {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s); "
              f"audience {size:,} members in {seconds_audience * 1000:.0f} ms, {queries} queries", flush=True)

    print()
    print("members     events recorded  events/s   audience size  audience queries  audience time")
    for target, events, seconds, size, queries, seconds_audience in rows:
        print(f"{target:>9,}  {events:>15,}  {events / seconds:>8,.0f}  {size:>14,}  {queries:>16}  "
              f"{seconds_audience * 1000:>10.0f} ms")
    print(f"total: {ConsentEvent.objects.count():,} events, {ConsentState.objects.count():,} states; "
          f"bulk path {all_events / all_seconds:,.0f} events/s overall")
    if not args.skip_verify:
        start = time.perf_counter()
        report = consent_state_drift(chunk_size=5000)
        print(f"verify_consents: {report.members:,} members, {report.pairs:,} pairs, drift {report.drift_count} "
              f"in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
