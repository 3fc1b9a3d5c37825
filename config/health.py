"""``/health/``: database, cache and broker status for a load balancer.

200 when every component answers, 503 otherwise. The body names components and states only.
"""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.dispatch.outbox import waiting_count
from config.celery import app

logger = logging.getLogger(__name__)


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "ok"


def check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=5)
    found = cache.get(key) == "1"
    cache.delete(key)
    if not found:
        raise RuntimeError("cache did not return the value just written")
    return "ok"


def check_broker() -> str:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return "inline"  # embedded default: no broker, tasks run in the caller's process
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def check_outbox() -> str:
    """Tasks decided while the broker was down, waiting to be sent (informational: never fails the check)."""
    waiting = waiting_count()
    return "ok" if waiting == 0 else f"{waiting} waiting"


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}
#: Reported in the body, not part of the verdict.
INFO = {"outbox": check_outbox}


@never_cache
@require_GET
def health(request):
    results: dict[str, str] = {}
    healthy = True
    for name, check in CHECKS.items():
        try:
            results[name] = check()
        except Exception as exc:  # a failing component must not turn into a 500 page
            logger.warning("health check %s failed: %s", name, type(exc).__name__)
            results[name] = "error"
            healthy = False
    for name, check in INFO.items():
        try:
            results[name] = check()
        except Exception as exc:  # the database is down: already reported above
            logger.warning("health info %s failed: %s", name, type(exc).__name__)
            results[name] = "unknown"
    failing = [name for name in CHECKS if results[name] == "error"]
    body = {"status": "ok" if healthy else "error", "components": results}
    if failing:
        body["failing"] = failing  # a load balancer's log names the broker, the cache or the database
    return JsonResponse(body, status=200 if healthy else 503)
