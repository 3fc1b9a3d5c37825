"""Load test of the agents' queue through gunicorn on loopback (issue 7, requirement 6).

    .venv/bin/python bench/load_queue.py                       # 20 agents x 60 s, database bench_load
    .venv/bin/python bench/load_queue.py --users 20 --duration 60 --requests 5000 --workers 4

What it does, in order:

1. Generates strong secrets (``SECRET_KEY``, ``FIELD_ENCRYPTION_KEYS``, ``BLIND_INDEX_KEY`` and every
   other secret the settings require) and runs with ``DEBUG=false``: the settings' production checks
   apply to this process and to the server. The database (``DATABASE_URL``, default ``bench_load``) is created
   when missing and migrated (``bench/_common.py``).
   Static files are collected into ``STATIC_ROOT`` (default a temporary folder), as at a deploy.
2. Empties the request tables and loads ``--requests`` unassigned open requests (COPY,
   ``bench/_desk.py``); creates ``--users`` customer-service agents with one random password.
3. Starts ``gunicorn config.wsgi`` on ``127.0.0.1:<free port>`` with production settings except the
   HTTPS ones (``SECURE_SSL_REDIRECT``, ``SESSION_COOKIE_SECURE``, ``CSRF_COOKIE_SECURE`` off and no
   HSTS: plain HTTP on loopback), persistent database connections and the Redis cache (``--redis-url``).
4. Each simulated agent (a thread, its own cookies) logs in through the admin's login form (GET for
   the CSRF token, POST e-mail and password), then, until the time is up, loops:
   GET ``/desk/`` (the queue), POST ``/desk/take-next/`` (the CSRF token from the queue page),
   GET the request page it was sent to. Each response is checked (status, and for take-next where
   it redirects), and the reference each take returned is recorded.
5. Prints requests, errors, latency percentiles per endpoint, throughput, the CPU time per request
   of gunicorn's processes and of the PostgreSQL backends serving them (read from ``/proc``: the
   figure that depends least on what else the machine is doing), and double assignments,
   counted three ways: a reference returned to two takes, a taken request whose assignee in the
   table is not the agent it was returned to, and a request with two "taken from the queue" history
   rows. Exits 1 when there is any error or double assignment.

The agents are customer-service agents: their role may, but need not, use a second factor
(``accounts/staff/otp.py``), so a password signs them in. The load generator runs on the same machine as
the server and the database; it prints its own CPU time (about one second per minute of load).
"""

from __future__ import annotations

import argparse
import base64
import html
import http.client
import os
import re
import resource
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from _common import ROOT, load_average, percentile

DEFAULT_LOAD_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/bench_load"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/8"
AGENT_EMAIL = "load{n}@bench.example"
ENDPOINTS = ("queue", "take_next", "request")
TAKEN_REASON = "taken from the queue"  # requests_desk.queue.take_next's history change reason

INPUT_RE = re.compile(r"<input\b[^>]*>", re.IGNORECASE)
ATTR_RE = re.compile(r'(\w[\w-]*)\s*=\s*"([^"]*)"')
TAKE_FORM_RE = re.compile(r'<form[^>]*action="/desk/take-next/"[^>]*>(.*?)</form>', re.IGNORECASE | re.DOTALL)
REQUEST_PATH_RE = re.compile(r"^/desk/r/(DSR-[A-Z0-9]+)/$")


# --- Set-up ------------------------------------------------------------------------------------------
REQUIRED_SECRET_RE = re.compile(r'_required_secret\(\s*"(\w+)"')


def production_environment() -> dict[str, str]:
    """DEBUG off and a fresh strong value for every secret the settings require without DEBUG.

    The names are read from ``config/settings.py`` (its ``_required_secret("NAME", …)`` calls), so a
    secret added later is generated too: Fernet keys for ``FIELD_ENCRYPTION_KEYS``, 64 random
    URL-safe characters for the others (more than any of their checks asks for).
    """
    names = REQUIRED_SECRET_RE.findall((ROOT / "config" / "settings.py").read_text())
    env = {name: secrets.token_urlsafe(64) for name in names}
    env["FIELD_ENCRYPTION_KEYS"] = base64.urlsafe_b64encode(os.urandom(32)).decode()
    return {"DEBUG": "false", **env}


def reset_requests() -> None:
    """Empty the request tables (bench databases only: checked by ``setup``); every run starts alike.

    The keys are new on every run, so rows encrypted by an earlier run could not be read anyway.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE requests_desk_request, requests_desk_historicalrequest, django_session "
                       "RESTART IDENTITY CASCADE")


def agents_ensure(count: int, password: str) -> dict[str, int]:
    """``count`` customer-service agents sharing ``password``; returns e-mail -> id."""
    from django.apps import apps
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from accounts.models import StaffUser
    from accounts.staff import roles

    emails = [AGENT_EMAIL.format(n=n) for n in range(count)]
    existing = set(StaffUser.objects.filter(email__in=emails).values_list("email", flat=True))
    StaffUser.objects.bulk_create([StaffUser(email=e) for e in emails if e not in existing])
    # One hash for all (the production hasher is deliberately slow); update() writes no history row.
    StaffUser.objects.filter(email__in=emails).update(password=make_password(password), is_active=True,
                                                       is_staff=True)
    users = list(StaffUser.objects.filter(email__in=emails).order_by("pk"))
    Group.objects.get(name=roles.CUSTOMER_SERVICE_AGENT).user_set.add(*users)
    if apps.is_installed("axes"):
        from axes.utils import reset

        for email in emails:  # a lock-out left by an earlier, failed run
            reset(username=email)
    return {u.email: u.pk for u in users}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(*, env: dict[str, str], port: int, workers: int, threads: int, log: Path) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn), "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
        "--worker-class", "gthread" if threads > 1 else "sync", "--threads", str(threads),
        "--timeout", "60", "--graceful-timeout", "10", "--error-logfile", str(log),
        "--no-control-socket",  # no socket in the home folder shared with other servers on the machine
    ]
    print("server: " + " ".join(command[1:]), flush=True)
    with open(log, "ab") as handle:
        # S603: a fixed argument list (our venv's gunicorn, our numbers), no shell.
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,  # noqa: S603
                                start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_up(port: int, server: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"gunicorn exited with {server.returncode}; its log:\n{log.read_text()[-4000:]}")
        try:
            status, _headers, body = Client("127.0.0.1", port).fetch("GET", "/health/")
        except OSError:
            time.sleep(0.2)
            continue
        if status == 200:
            print(f"health: {body.decode()}", flush=True)
            return
        sys.exit(f"/health/ answered {status}: {body[:500]!r}")
    sys.exit(f"gunicorn did not answer within {timeout:.0f} s; its log:\n{log.read_text()[-4000:]}")


# --- The HTTP client ---------------------------------------------------------------------------------
class Client:
    """One browser: its cookies, one HTTP request per connection, no automatic redirects."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.origin = f"http://{host}:{port}"
        self.cookies: dict[str, str] = {}

    def fetch(self, method: str, path: str, form: dict[str, str] | None = None) -> tuple[int, dict, bytes]:
        headers = {"User-Agent": "bench-load-queue", "Accept": "text/html"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = self.origin  # as a browser sends with a POST; CSRF checks it
        connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
            for header in response.headers.get_all("Set-Cookie") or []:
                jar = SimpleCookie()
                jar.load(header)
                for name, morsel in jar.items():
                    if morsel["max-age"] == "0":
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = morsel.value
            return response.status, {k.lower(): v for k, v in response.getheaders()}, content
        finally:
            connection.close()


def form_inputs(markup: str) -> dict[str, str]:
    fields = {}
    for tag in INPUT_RE.findall(markup):
        attrs = {k.lower(): html.unescape(v) for k, v in ATTR_RE.findall(tag)}
        if "name" in attrs and attrs.get("type", "text").lower() not in ("submit", "checkbox"):
            fields[attrs["name"]] = attrs.get("value", "")
    return fields


def location_path(headers: dict) -> str:
    return urlsplit(headers.get("location", "")).path


# --- The simulated agents ----------------------------------------------------------------------------
@dataclass
class AgentResult:
    email: str
    login_seconds: float = 0.0
    timings: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in ENDPOINTS})
    taken: list[str] = field(default_factory=list)
    empty_takes: int = 0
    errors: list[str] = field(default_factory=list)


def log_in(client: Client, email: str, password: str) -> None:
    status, _headers, body = client.fetch("GET", "/admin/login/?next=/desk/")
    if status != 200:
        raise RuntimeError(f"login page answered {status}")
    form = form_inputs(body.decode())
    if "csrfmiddlewaretoken" not in form:
        raise RuntimeError("no CSRF token on the login page")
    form.update(username=email, password=password, next="/desk/")
    status, headers, _body = client.fetch("POST", "/admin/login/?next=/desk/", form)
    if status != 302 or location_path(headers) != "/desk/":
        raise RuntimeError(f"login answered {status} to {headers.get('location', '')!r} (wrong password, OTP "
                           "required for the role, or locked out)")


def agent_loop(client: Client, result: AgentResult, password: str, ready: threading.Barrier,
               stop: threading.Event) -> None:
    def timed(endpoint: str, method: str, path: str, form=None):
        start = time.perf_counter()
        status, headers, body = client.fetch(method, path, form)
        result.timings[endpoint].append(time.perf_counter() - start)
        return status, headers, body

    try:
        start = time.perf_counter()
        log_in(client, result.email, password)
        result.login_seconds = time.perf_counter() - start
    except Exception as exc:
        result.errors.append(f"login: {exc!r}")
    ready.wait()  # the measured window starts when every agent is logged in
    if result.errors:
        return
    while not stop.is_set():
        try:
            status, _headers, body = timed("queue", "GET", "/desk/")
            page = body.decode()
            take_form = TAKE_FORM_RE.search(page)
            if status != 200 or take_form is None:
                result.errors.append(f"queue: {status}{'' if take_form else ', no take-next form'}")
                continue
            status, headers, _body = timed("take_next", "POST", "/desk/take-next/", form_inputs(take_form.group(1)))
            target = location_path(headers)
            match = REQUEST_PATH_RE.match(target)
            if status == 302 and target == "/desk/":
                result.empty_takes += 1  # the queue is empty: nothing to open
                continue
            if status != 302 or match is None:
                result.errors.append(f"take_next: {status} to {target!r}")
                continue
            result.taken.append(match.group(1))
            status, _headers, _body = timed("request", "GET", target)
            if status != 200:
                result.errors.append(f"request: {status}")
        except Exception as exc:  # a refused or reset connection, a timeout
            result.errors.append(f"exception: {exc!r}")


def _proc_cpu(pid: int | str) -> float:
    """CPU seconds (user + system) used so far by one process (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime: fields 14, 15


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its live children: gunicorn's arbiter and workers."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    return sum(_proc_cpu(each) for each in [pid, *children])


def database_backends_cpu() -> dict[int, float]:
    """CPU seconds used so far by each client backend of the bench database but this one's (the
    server's persistent connections, when PostgreSQL runs on this machine; empty otherwise)."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(dbname=db["NAME"], host=db.get("HOST") or None, port=db.get("PORT") or None,
                         user=db.get("USER") or None, password=db.get("PASSWORD") or None) as conn:
        pids = [row[0] for row in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")]
    return {pid: _proc_cpu(pid) for pid in pids}


def run_agents(port: int, emails: list[str], password: str, duration: float,
               server_pid: int) -> tuple[list[AgentResult], float, tuple[float, float]]:
    results = [AgentResult(email=email) for email in emails]
    ready = threading.Barrier(len(emails) + 1)
    stop = threading.Event()
    threads = [
        threading.Thread(target=agent_loop, args=(Client("127.0.0.1", port), result, password, ready, stop))
        for result in results
    ]
    for thread in threads:
        thread.start()
    ready.wait()
    start, cpu, server_cpu = time.perf_counter(), cpu_seconds(), process_tree_cpu(server_pid)
    database_cpu = database_backends_cpu()
    stop.wait(duration)
    stop.set()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    server_cpu = process_tree_cpu(server_pid) - server_cpu
    database_cpu = sum(now - database_cpu.get(pid, 0.0) for pid, now in database_backends_cpu().items())
    print(f"load generator CPU: {cpu_seconds() - cpu:.1f} s in {seconds:.1f} s (this process, all its threads)")
    return results, seconds, (server_cpu, database_cpu)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --- The checks after the run ------------------------------------------------------------------------
def double_assignments(results: list[AgentResult], user_ids: dict[str, int]) -> dict[str, int]:
    from django.db.models import Count

    from requests_desk.models import Request

    references = [ref for result in results for ref in result.taken]
    owner = dict(Request.objects.filter(reference__in=references).values_list("reference", "assignee_id"))
    wrong_owner = sum(1 for result in results for ref in result.taken if owner.get(ref) != user_ids[result.email])
    history = Request.history.model.objects.filter(history_change_reason=TAKEN_REASON)
    taken_twice = history.values("id").annotate(n=Count("history_id")).filter(n__gt=1).count()
    return {
        "reference returned to two takes": len(references) - len(set(references)),
        "assignee in the table is not the agent the take answered": wrong_owner,
        "requests with two 'taken' history rows": taken_twice,
    }


def untracked_takes(results: list[AgentResult], user_ids: dict[str, int]) -> int:
    """Requests assigned to the agents in the table whose take no agent saw (a lost response)."""
    from requests_desk.models import Request

    assigned = Request.objects.filter(assignee_id__in=user_ids.values()).count()
    return assigned - len({ref for result in results for ref in result.taken})


def report(results: list[AgentResult], seconds: float, cpu: tuple[float, float], checks: dict[str, int],
           untracked: int) -> int:
    timings = {name: [t for r in results for t in r.timings[name]] for name in ENDPOINTS}
    total = sum(len(v) for v in timings.values())
    errors = [e for r in results for e in r.errors]
    takes = sum(len(r.taken) for r in results)
    empty = sum(r.empty_takes for r in results)
    logins = [r.login_seconds for r in results if r.login_seconds]
    print(f"\n{len(results)} agents for {seconds:.1f} s; load average after the run: {load_average()}")
    if logins:
        print(f"logins: {len(logins)}, median {statistics.median(logins) * 1000:.0f} ms, "
              f"slowest {max(logins) * 1000:.0f} ms (not counted below)")
    print(f"requests: {total:,}; errors: {len(errors)}; throughput: {total / seconds:,.1f} requests/s")
    print(f"takes: {takes:,} ({takes / seconds:,.1f}/s), empty queue: {empty}")
    server_cpu, database_cpu = cpu
    if server_cpu and total:
        print(f"CPU per request: gunicorn {server_cpu / total * 1000:.1f} ms + PostgreSQL backends "
              f"{database_cpu / total * 1000:.1f} ms ({server_cpu:.1f} s + {database_cpu:.1f} s in the window)")
    print("\n| endpoint | requests | p50 | p95 | p99 | max |")
    print("|---|---|---|---|---|---|")
    labels = {"queue": "GET /desk/", "take_next": "POST /desk/take-next/", "request": "GET /desk/r/<ref>/"}
    for name in ENDPOINTS:
        values = timings[name]
        if not values:
            print(f"| {labels[name]} | 0 | | | | |")
            continue
        p50, p95, p99 = (percentile(values, q) * 1000 for q in (50, 95, 99))
        print(f"| {labels[name]} | {len(values):,} | {p50:.0f} ms | {p95:.0f} ms | {p99:.0f} ms "
              f"| {max(values) * 1000:.0f} ms |")
    print("\ndouble assignments:")
    for label, count in checks.items():
        print(f"  {label}: {count}")
    print(f"consistency: assigned in the table but never returned to an agent: {untracked}")
    doubles = sum(checks.values())
    for error in errors[:10]:
        print(f"error: {error}")
    if errors or doubles or untracked:
        print(f"\nFAILED: {len(errors)} error(s), {doubles} double assignment(s), {untracked} untracked take(s)")
        return 1
    print("\nOK: 0 errors, 0 double assignments")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20, help="simulated agents at once")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load after every agent logged in")
    parser.add_argument("--requests", type=int, default=5_000, help="unassigned open requests loaded")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (more than 1: gthread)")
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="cache (and broker); '' for none")
    parser.add_argument("--seed", type=int, default=2028)
    args = parser.parse_args()

    secrets_env = production_environment()
    os.environ.update(secrets_env)
    os.environ.setdefault("DATABASE_URL", DEFAULT_LOAD_DATABASE_URL)
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # no INFO line per reset lock-out or per take
    os.environ.setdefault("STATIC_ROOT", str(Path(tempfile.gettempdir()) / "bench-static"))
    from _common import setup

    setup()
    from django.conf import settings
    from django.core.management import call_command

    # With DEBUG off the pages name hashed static files from collectstatic's manifest (WhiteNoise).
    call_command("collectstatic", interactive=False, verbosity=0)

    reset_requests()
    from _desk import copy_requests

    seconds = copy_requests(args.requests, assignees=[], assigned_share=0.0, seed=args.seed, received_days=(0, 14))
    print(f"database {settings.DATABASES['default']['NAME']}: {args.requests:,} open requests loaded in "
          f"{seconds:.1f} s", flush=True)
    password = secrets.token_urlsafe(18)
    user_ids = agents_ensure(args.users, password)
    from django.db import connections

    connections.close_all()

    env = {
        **os.environ,
        "ALLOWED_HOSTS": "127.0.0.1",
        # Plain HTTP on loopback: no redirect to HTTPS, cookies without the Secure flag, no HSTS.
        "SECURE_SSL_REDIRECT": "false", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        # Persistent connections, kept through the run (the CPU of their backends is measured).
        "CONN_MAX_AGE": "600",
        "REDIS_URL": args.redis_url,
    }
    port = free_port()
    log = Path(tempfile.gettempdir()) / f"bench-load-queue-{port}.log"
    server = start_server(env=env, port=port, workers=args.workers, threads=args.threads, log=log)
    try:
        wait_until_up(port, server, log)
        print(f"{args.users} agents log in, then load for {args.duration:.0f} s …", flush=True)
        results, seconds, cpu = run_agents(port, list(user_ids), password, args.duration, server.pid)
    finally:
        stop_server(server)
    code = report(results, seconds, cpu, double_assignments(results, user_ids),
                  untracked_takes(results, user_ids))
    if code:
        print(f"server log: {log}")
    else:
        log.unlink(missing_ok=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
