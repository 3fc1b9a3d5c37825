"""Erasure: our engine vs django-scrubber on the same members' fields (issue 15, req. 1).

    .venv/bin/python bench/peers/erasure_vs_scrubber.py --members 10000    # database bench_peers_erasure

The members are the ones ``bench/erasure.py`` seeds (its ``seed``: cancelled members, every fifth an
institution with a profile and two related persons, each with 3 identity documents with small
encrypted files, 5 device records, 20 transactions, a verification, a card, a guardian, a consent
event and state, simple-history rows), plus one admin ``LogEntry`` per member whose label is the
member's legal name (as an old admin page would have written it). Kept as a template database;
each method works on its own copy with its own media directory:

1. **engine**: ``retention.erasure.runner.erase_members`` in chunks of ``--chunk-size``;
2. **scrubber, by chunk**: django-scrubber's own statement, ``Model.objects.annotate(mod_pk=F("pk") %
   SCRUBBER_ENTRIES_PER_PROVIDER).update(**scrubbers)`` with its realised ``Scrubbers`` (``Faker``,
   ``Hash``, ``Empty``, ``Null``; rules in ``scrubber_rules.py``, wired by ``SCRUBBER_MAPPING`` in
   ``scrubber_settings.py``), restricted to the chunk's members (``filter(member_id__in=…)``): one
   ``UPDATE`` per model per chunk, in one transaction. The two take turns chunk by chunk.
3. **scrubber as shipped**: ``manage.py scrub_data`` (``call_command``, ``DEBUG=True`` as it demands)
   on a third copy: one ``UPDATE`` per mapped model over the **whole table**: scrubber has no notion of
   "these members", it anonymises a copy of a database. Timed once, after the turns.

Printed: members/s and queries per chunk for each, then what is left of the erased members in each
copy (rows, history rows with the plain name, files on disk, admin log labels, erasure records), and
two probes of why the scrubber rules are what they are (Faker on an encrypted column, and the consent
ledger's trigger).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # bench/: _common and the benches
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_peers_erasure")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-peers-erasure-media"))
os.environ["DJANGO_SETTINGS_MODULE"] = "scrubber_settings"  # bench/peers/scrubber_settings.py, always

from _common import setup
from erasure import (
    MEDIA_SEED,
    _clone,
    _close_wrappers,
    _drop,
    _seed_exists,
    _using,
    member_ids,
    run_engine,
    seed,
)


class Rollback(Exception):
    pass


# --- The admin log the engine cleans and scrubber leaves ------------------------------------------
def add_log_entries() -> None:
    """One admin ``LogEntry`` per bench member, labelled with the member's legal name."""
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import Member, StaffUser

    user, _ = StaffUser.objects.get_or_create(email="bench-admin@bench.example", defaults={"full_name": "Bench"})
    content_type = ContentType.objects.get_for_model(Member)
    entries = [LogEntry(user=user, content_type=content_type, object_id=str(pk), object_repr=f"Bench Name {number}",
                        action_flag=CHANGE, change_message="Changed legal name.")
               for pk, number in Member.objects.values_list("pk", "member_number")]
    LogEntry.objects.bulk_create(entries, batch_size=5000)


# --- Scrubber -------------------------------------------------------------------------------------
def scrubber_rules() -> list[tuple]:
    """(model, lookup to the member's key, realised scrubbers) for every mapped model: scrubber's own
    steps (``_get_model_scrubbers``, ``_call_callables``, ``_filter_out_disabled``)."""
    from django.apps import apps
    from django.conf import settings
    from django_scrubber.scrubbers import Keep
    from django_scrubber.services.scrubber import _call_callables, _filter_out_disabled, _get_model_scrubbers

    rules = []
    for label in settings.SCRUBBER_MAPPING:
        model = apps.get_model(label)
        scrubbers = {f: s for f, s in _get_model_scrubbers(model).items() if s != Keep}
        lookup = "pk" if label == "accounts.Member" else "member_id"
        rules.append((model, lookup, _filter_out_disabled(_call_callables(scrubbers))))
    return rules


def run_scrubber(ids: list[int], rules: list[tuple]) -> None:
    """Scrubber's per-model ``UPDATE``, for one chunk of members, in one transaction."""
    from django.conf import settings
    from django.db import transaction
    from django.db.models import F

    with transaction.atomic():
        for model, lookup, realised in rules:
            (model.objects.filter(**{f"{lookup}__in": ids})
             .annotate(mod_pk=F("pk") % settings.SCRUBBER_ENTRIES_PER_PROVIDER).update(**realised))


def run_scrub_data() -> None:
    """``manage.py scrub_data``, the command as shipped (whole tables; it refuses to run without DEBUG)."""
    import io

    from django.core.management import call_command
    from django.test.utils import override_settings
    from django_scrubber.scrubbers import Faker

    Faker.INITIALIZED_PROVIDERS.clear()  # this copy has no fake data yet: the command makes it
    with override_settings(DEBUG=True):
        call_command("scrub_data", stdout=io.StringIO())


def probes(member_id: int) -> list[str]:
    """Why the rules are what they are: two changes tried on one member, rolled back."""
    from django.conf import settings
    from django.core.exceptions import ValidationError
    from django.db import DatabaseError, transaction
    from django.db.models import F
    from django_scrubber.scrubbers import Faker, Hash

    from accounts.models import Member
    from consents.models import ConsentEvent

    found = []
    field = Member._meta.get_field("email")
    for name, scrubber in (("Faker('email')", Faker("email")(field)), ("Hash", Hash(field))):
        try:
            with transaction.atomic():
                (Member.objects.filter(pk=member_id).annotate(mod_pk=F("pk") % settings.SCRUBBER_ENTRIES_PER_PROVIDER)
                 .update(email=scrubber))
                try:
                    Member.objects.get(pk=member_id)
                    found.append(f"{name} on the encrypted Member.email: the row still reads")
                except Exception as exc:
                    found.append(f"{name} on the encrypted Member.email: every later read of the row fails "
                                 f"({type(exc).__module__}.{type(exc).__name__})")
                raise Rollback
        except Rollback:
            pass
    for where, manager in (("scrubber's queryset (ConsentEvent.objects)", ConsentEvent.objects),
                           ("the base manager, past the ORM guard", ConsentEvent._base_manager)):
        try:
            with transaction.atomic():
                manager.filter(member_id=member_id).update(evidence="")
                found.append(f"UPDATE of consents.ConsentEvent through {where}: accepted")
                raise Rollback
        except Rollback:
            pass
        except (DatabaseError, ValidationError) as exc:
            message = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
            found.append(f"UPDATE of consents.ConsentEvent through {where}: refused "
                         f"({type(exc).__name__}: {message[:90]})")
    return found


# --- What is left -----------------------------------------------------------------------------------
def leftovers(ids: list[int], media: Path) -> dict[str, int]:
    from django.contrib.admin.models import LogEntry

    from accounts.models import DeviceRecord, IdentityDocument, Member, PaymentInstrument, RelatedPerson
    from consents.models import ConsentEvent, Guardian
    from retention.models import ErasureRecord

    return {
        "identity documents, devices, cards, related persons, guardians, consent events (rows)": sum(
            model.objects.filter(member_id__in=ids).count()
            for model in (IdentityDocument, DeviceRecord, PaymentInstrument, RelatedPerson, Guardian, ConsentEvent)),
        "member history rows with the plain legal name": Member.history.filter(
            id__in=ids, legal_name__startswith="Bench Name").count(),
        "identity-document history rows (encrypted number, file name)": IdentityDocument.history.filter(
            member_id__in=ids).count(),
        "document files on disk (whole copy)": sum(1 for _ in (media / "documents").glob("*")),
        "admin log labels with the legal name": LogEntry.objects.filter(
            object_id__in=[str(pk) for pk in ids], object_repr__startswith="Bench Name").count(),
        "members still findable by e-mail blind index": Member.objects.filter(
            pk__in=ids, email_bidx__isnull=False).count(),
        "erasure records": ErasureRecord.objects.count(),
    }


# --- Main -----------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=200)
    parser.add_argument("--reuse-seed", action="store_true", help="Keep the seeded template from a previous run.")
    args = parser.parse_args()

    setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.progress import progress

    work = settings.DATABASES["default"]["NAME"]
    template = work + "_seed"
    if not (args.reuse_seed and _seed_exists(template) and MEDIA_SEED.exists()):
        start = time.perf_counter()
        seed(args.members)
        add_log_entries()
        print(f"seeded {args.members:,} members in {time.perf_counter() - start:.1f} s", flush=True)
        _clone(work, template)

    media = Path(settings.MEDIA_ROOT)
    copies = {"engine": (work, media), "scrubber": (work + "_scrubber", Path(f"{media}-scrubber")),
              "shipped": (work + "_shipped", Path(f"{media}-shipped"))}
    for name, folder in copies.values():
        _clone(template, name)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.copytree(MEDIA_SEED, folder)

    with _using(*copies["scrubber"]):
        ids = member_ids()
        found = probes(ids[0])
        rules = scrubber_rules()  # makes scrubber's fake data (once, as its first run does)
    with _using(*copies["engine"]):
        run_engine(ids[:20], args.chunk_size)  # warm the engine's caches, as the rules above warmed scrubber's
    with _using(*copies["scrubber"]):
        run_scrubber(ids[:20], rules)
    rest = ids[20:]
    chunks = [rest[i : i + args.chunk_size] for i in range(0, len(rest), args.chunk_size)]

    seconds = {"engine": 0.0, "scrubber": 0.0}
    queries = {"engine": set(), "scrubber": set()}
    with progress(total=len(chunks), desc="engine / scrubber, in turns", unit="chunk") as bar:
        for part in chunks:
            for method, work_on in (("engine", lambda p=part: run_engine(p, args.chunk_size)),
                                    ("scrubber", lambda p=part: run_scrubber(p, rules))):
                with _using(*copies[method]), CaptureQueriesContext(connection) as ctx:
                    start = time.perf_counter()
                    work_on()
                    seconds[method] += time.perf_counter() - start
                if len(part) == args.chunk_size:
                    queries[method].add(len(ctx.captured_queries))
            bar.update(1)
    with _using(*copies["shipped"]), CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        run_scrub_data()
        shipped_seconds = time.perf_counter() - start
        shipped_queries = len(ctx.captured_queries)

    n = len(rest)
    left = {}
    for method in ("engine", "scrubber", "shipped"):
        with _using(*copies[method]):
            left[method] = leftovers(rest, copies[method][1])

    print()
    print(f"Erasure of {n:,} members (of {len(ids):,} seeded; chunks of {args.chunk_size}; each with 3 documents "
          "+ files, 5 devices, 20 transactions, a card, a guardian, consents, history, an admin log entry)")
    header = f"{'method':<46} {'members/s':>10} {'seconds':>9} {'queries a chunk':>16}"
    print(header)
    print("-" * len(header))
    print(f"{'engine (erase_members)':<46} {n / seconds['engine']:>10,.0f} {seconds['engine']:>9.1f} "
          f"{', '.join(map(str, sorted(queries['engine']))):>16}")
    print(f"{'django-scrubber, its UPDATE per model, by chunk':<46} {n / seconds['scrubber']:>10,.0f} "
          f"{seconds['scrubber']:>9.1f} {', '.join(map(str, sorted(queries['scrubber']))):>16}")
    print(f"{'django-scrubber scrub_data, whole tables':<46} {len(ids) / shipped_seconds:>10,.0f} "
          f"{shipped_seconds:>9.1f} {shipped_queries:>10} in all   ({len(ids):,} members, not interleaved)")
    print(f"engine time / scrubber time (by chunk): {seconds['engine'] / seconds['scrubber']:.2f}x")
    print()
    title = f"Left of the {n:,} erased members"
    print(f"{title:<86} {'engine':>8} {'scrubber':>10} {'scrub_data':>11}")
    for key in left["engine"]:
        print(f"  {key:<84} {left['engine'][key]:>8,} {left['scrubber'][key]:>10,} {left['shipped'][key]:>11,}")
    print()
    print("Probes (one member, rolled back):")
    for line in found:
        print(f"  - {line}")
    _close_wrappers()
    for name, folder in list(copies.values())[1:]:
        _drop(name)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
