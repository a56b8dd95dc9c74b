"""Operators' endpoints: /healthz (the process answers), /readyz (the database, Redis and the lake
answer) and /metrics (Prometheus text). Unauthenticated, never throttled, outside the OpenAPI
schema; /metrics asks for a bearer token only when GRIDCAST_METRICS_TOKEN is set."""

import concurrent.futures
import hmac
import logging
import re
import threading

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from analytics.lake import connections as lake
from core import metrics
from core.redis import sync_client

log = logging.getLogger(__name__)


@require_safe
@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 whenever the process answers: a liveness probe that restarts a wedged process only."""
    return HttpResponse("ok\n", content_type="text/plain")


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    finally:
        connection.close()  # this pool thread keeps no connection (a test database can be dropped)
    return "ok"


def _redis() -> str:
    if not settings.REDIS_URL:
        return "skipped: in-memory channel layer"
    timeout = settings.READY_TIMEOUT
    client = sync_client(settings.REDIS_URL, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        client.ping()
    finally:
        client.close()
    return "ok"


def _lake() -> str:
    # On the pool thread's own lake connection, kept between probes: opening one (DuckDB, the
    # extensions, the catalog's ATTACH) costs far more than the query. A failed query closes it.
    lake.ping()
    return "ok"


CHECKS = {"database": _database, "redis": _redis, "lake": _lake}
# One thread per check, the checks side by side. A check that hangs past READY_TIMEOUT is reported
# and left to finish in its thread; later probes wait for that same run instead of queueing more
# (a flood of probes piles up neither threads nor work), and the lake keeps one connection a process.
_threads = {
    name: concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"readyz-{name}") for name in CHECKS
}
_running: dict[str, concurrent.futures.Future] = {}
_running_lock = threading.Lock()


def _run(name: str) -> concurrent.futures.Future:
    with _running_lock:
        future = _running.get(name)
        if future is None or future.done():
            future = _running[name] = _threads[name].submit(CHECKS[name])
        return future


def _outcomes() -> tuple[bool, dict[str, str]]:
    futures = {name: _run(name) for name in CHECKS}
    ready, outcomes = True, {}
    for name, future in futures.items():
        try:
            outcomes[name] = future.result(timeout=settings.READY_TIMEOUT)
        except concurrent.futures.TimeoutError:
            ready, outcomes[name] = False, f"failed: no answer within {settings.READY_TIMEOUT:g} s"
        except Exception as error:  # noqa: BLE001 - the reason is the answer
            log.warning("readiness check %s failed", name, exc_info=error)
            ready, outcomes[name] = False, f"failed: {type(error).__name__}: {_redacted(str(error))[:300]}"
    return ready, outcomes


# The answer is unauthenticated, and drivers put their connection strings in their errors (DuckDB
# quotes the lake catalog's conninfo, password included): credentials are cut out of the reason.
_SECRETS = (
    (
        re.compile(r"(password|passwd|pwd|secret|token)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s\"',;]+)", re.I),
        r"\1\2[redacted]",
    ),
    (re.compile(r"(\w+://[^:/@\s]*):[^@\s]*@"), r"\1:[redacted]@"),
)


def _redacted(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text.strip()


@require_safe
@never_cache
def readyz(request: HttpRequest) -> HttpResponse:
    """200 {"status": "ready", "checks": {...}} when every backend answers, else 503 with
    {"status": "unavailable", "failed": [names], "checks": {name: reason}}: take the process out of
    the load balancer until it is ready again."""
    ready, checks = _outcomes()
    if ready:
        return JsonResponse({"status": "ready", "checks": checks})
    failed = [name for name, outcome in checks.items() if outcome.startswith("failed")]
    return JsonResponse({"status": "unavailable", "failed": failed, "checks": checks}, status=503)


def _authorized(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


@require_safe
@never_cache
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text of this process (or of every process sharing PROMETHEUS_MULTIPROC_DIR)."""
    if not _authorized(request):
        response = HttpResponse("metrics need 'Authorization: Bearer <GRIDCAST_METRICS_TOKEN>'\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    return HttpResponse(metrics.render(), content_type=metrics.CONTENT_TYPE)
