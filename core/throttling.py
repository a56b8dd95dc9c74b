"""REST throttling: requests per user (or, for anonymous requests, per client IP) and scoped
limits on the expensive endpoints (imports, exports, metric ingestion, aggregates).

Counts live in Django's cache, Redis in production and tests (config/settings/base.py), so a
limit holds across every server process. Each limit is a fixed-window counter (one INCR per
request, whatever the rate), not DRF's list of timestamps, which grows with the rate. Rates are
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] ("<requests>/<s|m|h|d>", or None for no limit), read on
every request so that tests can lower them with override_settings. A throttled request gets
429 {"error": {"code": "throttled", ...}} with Retry-After (core/api_errors.py)."""

import time

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

# URL name -> the scope of its extra limit.
SCOPES = {
    "api-workspace-import": "imports",
    "api-sheet-import": "imports",
    "api-sheet-export": "exports",
    "api-metrics-export": "exports",
    "api-audit": "exports",
    "api-metrics-ingest": "ingest",
    "api-metrics-aggregate": "aggregates",
}
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    if not rate:
        return None
    count, period = str(rate).split("/")
    return int(count), PERIODS[period.strip()[0]]


def client_ip(request: HttpRequest | Request) -> str:
    """The client IP as allauth's login limits see it (ALLAUTH_TRUSTED_PROXY_COUNT,
    ALLAUTH_TRUSTED_CLIENT_IP_HEADER), so that login limits, REST throttles and the audit log
    (accounts.audit) agree behind a proxy; "" when there is none."""
    try:
        from allauth.core.internal.httpkit import get_client_ip
    except ImportError:  # pragma: no cover - an allauth without it
        return request.META.get("REMOTE_ADDR", "")
    try:
        return get_client_ip(getattr(request, "_request", request)) or ""
    except Exception:  # a header that does not match the proxy count
        return request.META.get("REMOTE_ADDR", "")


def _hit_wait(scope: str, ident: str, rate: tuple[int, int]) -> float | None:
    """One more hit of `ident` in the current window of `scope`: seconds to wait when over the rate."""
    limit, period = rate
    now = time.time()
    window = int(now // period)
    key = f"throttle:{scope}:{ident}:{period}:{window}"
    cache.add(key, 0, period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, period + 1)
        count = 1
    return (window + 1) * period - now if count > limit else None


class _WindowThrottle(BaseThrottle):
    scope = None

    def scope_for(self, request, view):
        return self.scope

    def get_ident(self, request):
        return client_ip(request) or super().get_ident(request)

    def ident_for(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return f"user:{user.pk}"
        return f"ip:{self.get_ident(request)}"

    def allow_request(self, request, view):
        scope = self.scope_for(request, view)
        rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope)) if scope else None
        ident = self.ident_for(request) if rate else None
        if not ident:
            return True
        self._wait = _hit_wait(scope, ident, rate)
        return self._wait is None

    def wait(self):
        return getattr(self, "_wait", None)


class UserThrottle(_WindowThrottle):
    """Every request of a signed-in user (session or API token)."""

    scope = "user"

    def ident_for(self, request):
        user = getattr(request, "user", None)
        return f"user:{user.pk}" if user is not None and user.is_authenticated else None


class AnonThrottle(_WindowThrottle):
    """Every anonymous request, per client IP (X-Forwarded-For only behind the configured number
    of trusted proxies: REST_FRAMEWORK["NUM_PROXIES"])."""

    scope = "anon"

    def ident_for(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return None
        return f"ip:{self.get_ident(request)}"


class ExpensiveThrottle(_WindowThrottle):
    """The scoped limit of an expensive endpoint (SCOPES), per user or anonymous IP."""

    def scope_for(self, request, view):
        match = getattr(request, "resolver_match", None)
        return getattr(view, "throttle_scope", None) or SCOPES.get(getattr(match, "url_name", None))


# --- failed attempts (API token guessing) ----------------------------------------------------


class _Failures(_WindowThrottle):
    def __init__(self, scope):
        self.scope = scope

    def ident_for(self, request):
        return f"ip:{self.get_ident(request)}"

    def _key(self, request):
        rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))
        if not rate:
            return None, None, None
        limit, period = rate
        now = time.time()
        window = int(now // period)
        wait = (window + 1) * period - now
        return f"throttle:{self.scope}:{self.ident_for(request)}:{period}:{window}", limit, wait


def failures_wait(request: HttpRequest | Request, scope: str) -> float | None:
    """Seconds to wait when the request's client IP has used up its failures of `scope` (a rate
    of REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]), else None. Checked before the attempt, so that
    a right guess made while blocked is refused too."""
    key, limit, wait = _Failures(scope)._key(request)
    if key is None:
        return None
    return wait if (cache.get(key) or 0) >= limit else None


def failure_counted(request: HttpRequest | Request, scope: str) -> None:
    """Count one failed attempt of `scope` for the request's client IP."""
    key, limit, wait = _Failures(scope)._key(request)
    if key is None:
        return
    period = int(parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))[1])
    cache.add(key, 0, period + 1)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, period + 1)


# --- hits of one client IP outside DRF (public link pages and sockets) ------------------------------


def ip_hit_wait(ip: str, scope: str) -> float | None:
    """Count one hit of client `ip` against the rate of `scope` (REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    the same counter DRF views of that throttle_scope use); seconds to wait when over it, else None."""
    rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES.get(scope))
    return _hit_wait(scope, f"ip:{ip}", rate) if rate else None


def request_hit_wait(request: HttpRequest, scope: str) -> float | None:
    """ip_hit_wait() for the client IP of a page request (as the REST throttles see it)."""
    return ip_hit_wait(_WindowThrottle().get_ident(request), scope)
