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
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


CHECKS = {"database": check_database, "cache": check_cache, "broker": check_broker}


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
    return JsonResponse(
        {"status": "ok" if healthy else "error", "components": results}, status=200 if healthy else 503
    )
