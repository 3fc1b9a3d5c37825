"""Erasure spread over workers: 1 vs 2 claimers on the same run, vs the naive loop and the raw SQL floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_i15_erasure \\
        .venv/bin/python bench/erasure_workers.py --members 20000 --workers 1 2 --naive-sample 200

Issue 15, requirement 5. Seeds the members of ``bench/erasure.py`` once (template ``<db>_seed`` and a
copy of the media directory, ``--reuse-seed`` keeps them), then for each ``--workers`` count N:

- **engine**: a fresh copy of the seed, one approved ``ErasureRun`` with an item per member, and N
  plain worker processes (``python bench/erasure_workers.py --claim RUN``), each running the claimer
  loop a ``retention.erase_run_chunk`` Celery task runs (``claims.erase_run_claimed``: ``SKIP
  LOCKED`` claims of ``--chunk-size`` items); plain processes rather than Celery workers, so the
  broker's latency is not measured, only the engine's. Timed from the first claimer's start to the
  last one's end (each process reports its own clock after Django is set up).
- **floor**: the raw SQL of ``bench/erasure.py`` in N processes over disjoint halves of the members.
- **naive**: the per-object loop of ``bench/erasure.py`` on ``--naive-sample`` members, one process.

Each method's copy of the media directory is synced to disk (``os.sync()``) before it starts, so every
method pays the same disk for its unlinks.

Targets: the N-worker engine >= 100x the naive loop, and <= 1.5x the floor's time with as many workers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bench_i15_erasure")
os.environ.setdefault("MEDIA_ROOT", str(Path(tempfile.gettempdir()) / "bench-i15-erasure-media"))

import erasure as base  # noqa: E402 - after the environment defaults it reads
from _common import setup  # noqa: E402


def _child(args) -> None:
    """One worker process: the claimer loop (``--claim``) or the floor over ``--floor`` ids."""
    setup(migrate=False)
    start = time.time()
    if args.claim:
        from retention.erasure.claims import erase_run_claimed

        result = erase_run_claimed(run_id=args.claim, chunk_size=args.chunk_size)
        done = {"erased": len(result.erased), "failed": len(result.failed)}
    else:
        ids = json.loads(Path(args.floor).read_text())
        base.run_floor(ids, args.chunk_size)
        done = {"erased": len(ids), "failed": 0}
    print(json.dumps({"start": start, "end": time.time(), **done}), flush=True)


def _spawn(database: str, media: Path, extra: list[list[str]]) -> tuple[float, int]:
    """Run one child per ``extra`` argument list at once; wall seconds (first start to last end), erased."""
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + database
    env = {**os.environ, "DATABASE_URL": url, "MEDIA_ROOT": str(media)}
    procs = [subprocess.Popen([sys.executable, __file__, *more], env=env,  # noqa: S603 - this script, our arguments
                              stdout=subprocess.PIPE, text=True) for more in extra]
    reports = []
    for proc in procs:
        out, _ = proc.communicate()
        if proc.returncode:
            sys.exit(f"a worker process failed (exit {proc.returncode})")
        reports.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["failed"] == 0 for r in reports), reports
    return max(r["end"] for r in reports) - min(r["start"] for r in reports), sum(r["erased"] for r in reports)


def _fresh_copy(template: str, name: str, media: Path) -> None:
    base._clone(template, name)
    shutil.rmtree(media, ignore_errors=True)
    shutil.copytree(base.MEDIA_SEED, media)
    # Every method starts with its files on disk, none still dirty in the page cache: an unlink of a
    # file not yet written back is ~40x cheaper, which favoured whichever method ran first on a copy.
    os.sync()


def _approved_run(ids: list[int]) -> int:
    from accounts.models import Member
    from retention.choices import ErasureTrigger, RunStatus
    from retention.models import ErasureRun, ErasureRunItem

    run = ErasureRun.objects.create(trigger=ErasureTrigger.CANCELLATION, status=RunStatus.RUNNING)
    numbers = dict(Member.objects.filter(pk__in=ids).values_list("pk", "member_number"))
    ErasureRunItem.objects.bulk_create(
        (ErasureRunItem(run=run, member_id=pk, member_number=numbers[pk]) for pk in ids), batch_size=5000
    )
    return run.pk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--chunk-size", type=int, default=0, help="Members per chunk (default: ERASURE_CHUNK_SIZE).")
    parser.add_argument("--naive-sample", type=int, default=200)
    parser.add_argument("--reuse-seed", action="store_true", help="Keep the seeded template from a previous run.")
    parser.add_argument("--claim", type=int, default=0, help=argparse.SUPPRESS)  # a worker process
    parser.add_argument("--floor", default="", help=argparse.SUPPRESS)  # a floor process: a JSON file of ids
    args = parser.parse_args()
    if args.claim or args.floor:
        _child(args)
        return

    setup()
    from django.conf import settings
    from django.db import connections

    args.chunk_size = args.chunk_size or settings.ERASURE_CHUNK_SIZE
    work = settings.DATABASES["default"]["NAME"]
    template = work + base.SEED_DB_SUFFIX
    if not (args.reuse_seed and base._seed_exists(template) and base.MEDIA_SEED.exists()):
        started = time.perf_counter()
        base.seed(args.members)
        print(f"seeded {args.members:,} members in {time.perf_counter() - started:.1f} s", flush=True)
        base._clone(work, template)
    media = Path(settings.MEDIA_ROOT)
    _fresh_copy(template, work, media)  # a reused seed: the working copy may hold an erased run
    connections.close_all()
    ids = base.member_ids()
    load = os.getloadavg()
    print(f"load before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)

    rates: dict[str, dict[int, float]] = {"engine": {}, "floor": {}}
    for n in args.workers:
        _fresh_copy(template, work, media)
        connections.close_all()
        run_id = _approved_run(ids)
        connections.close_all()
        seconds, erased = _spawn(work, media, [["--claim", str(run_id), "--chunk-size", str(args.chunk_size)]] * n)
        assert erased == len(ids), (erased, len(ids))
        from retention.models import ErasureRun

        run = ErasureRun.objects.get(pk=run_id)
        assert run.status == "finished" and run.counts.get("accounts.Member") == len(ids), (run.status, run.counts)
        rates["engine"][n] = len(ids) / seconds
        print(f"engine, {n} worker(s): {rates['engine'][n]:8,.0f} members/s ({seconds:.1f} s); run #{run_id} "
              f"finished, counts add up ({run.counts['accounts.Member']:,} members)", flush=True)
        connections.close_all()

        _fresh_copy(template, work + "_floor", Path(f"{media}-floor"))
        files = []
        for i in range(n):
            path = Path(tempfile.gettempdir()) / f"bench-i15-floor-{os.getpid()}-{i}.json"
            path.write_text(json.dumps(ids[i::n]))
            files.append(path)
        seconds, _ = _spawn(work + "_floor", Path(f"{media}-floor"),
                            [["--floor", str(p), "--chunk-size", str(args.chunk_size)] for p in files])
        for path in files:
            path.unlink()
        rates["floor"][n] = len(ids) / seconds
        print(f"floor,  {n} worker(s): {rates['floor'][n]:8,.0f} members/s ({seconds:.1f} s)", flush=True)

    _fresh_copy(template, work + "_naive", Path(f"{media}-naive"))
    with base._using(work + "_naive", Path(f"{media}-naive")):
        sample = base.member_ids()[: args.naive_sample]
        started = time.perf_counter()
        base.run_naive(sample)
        naive_rate = len(sample) / (time.perf_counter() - started)
    base._close_wrappers()
    load = os.getloadavg()

    print()
    print(f"Erasure of {len(ids):,} members spread over workers (chunks of {args.chunk_size}; plain processes "
          "running the chunk task's claimer loop)")
    print(f"  naive object loop    {naive_rate:10,.1f} members/s  (one process, {len(sample)} members)")
    for n in args.workers:
        engine, floor = rates["engine"][n], rates["floor"][n]
        print(f"  {n} worker(s): engine {engine:8,.0f} members/s = {engine / naive_rate:6,.0f}x naive (>= 100x); "
              f"floor {floor:8,.0f} members/s; engine time {floor / engine:5.2f}x the floor's (<= 1.5x)")
    if 1 in rates["engine"] and 2 in rates["engine"]:
        print(f"  speed-up 1 -> 2 workers: engine {rates['engine'][2] / rates['engine'][1]:.2f}x, "
              f"floor {rates['floor'][2] / rates['floor'][1]:.2f}x")
    print(f"  load after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    connections.close_all()
    for name in (work + "_floor", work + "_naive"):
        base._drop(name)
    for folder in (Path(f"{media}-floor"), Path(f"{media}-naive")):
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
