"""The request id that follows one piece of work through REST, WebSocket and the analytics worker
in the logs, the middleware that sets it and times each request by route, and the log formats.

The id comes from the client's X-Request-ID (when it is a sane token) or is made here; it lives in
a context variable, so every log line of the request, in any thread asgiref runs it in, carries it.
"""

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

from asgiref.sync import iscoroutinefunction, markcoroutinefunction

from . import metrics

HEADER = "X-Request-ID"
# A client's id is kept only when it cannot forge log lines or blow up their size.
_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id: ContextVar[str] = ContextVar("request_id", default="-")


def new_request_id(given: str | None = None) -> str:
    """`given` when it is a sane id (letters, digits, . _ : -, at most 128), else a new one."""
    if given and _SANE.fullmatch(given):
        return given
    return uuid.uuid4().hex


def request_done(**kwargs) -> None:
    """request_finished: the request's log lines are written; later ones of its thread are not its."""
    request_id.set("-")


def bind(value: str) -> None:
    """Make `value` the current request id (of this context: the request's task or thread)."""
    request_id.set(value)


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (plain format: `[id]`, JSON: request_id)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, request_id, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exception"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _route(request) -> str:
    """The URL pattern that served the request (bounded label values), never the raw path."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"
    return "/" + (match.route or match.view_name or "unnamed")


def _finish(request, response, started) -> None:
    response[HEADER] = request.request_id
    method = request.method if request.method in _METHODS else "other"
    labels = (method, _route(request), str(response.status_code))
    metrics.http_latency.labels(*labels).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestId:
    """First middleware: gives the request its id (request.request_id and the log context),
    echoes it in the X-Request-ID answer header and times the request by route."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def _start(self, request):
        # Not reset when the response leaves the middleware: Django logs a 4xx/5xx answer
        # (django.request) after it, and that line belongs to the request too (request_done).
        request.request_id = new_request_id(request.headers.get(HEADER))
        bind(request.request_id)
        return time.perf_counter()

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = self._start(request)
        response = self.get_response(request)
        _finish(request, response, started)
        return response

    async def __acall__(self, request):
        started = self._start(request)
        response = await self.get_response(request)
        _finish(request, response, started)
        return response


def bind_scope(scope: dict) -> str:
    """A WebSocket connection's request id (its upgrade request's X-Request-ID, or a new one), made
    current for the rest of the connection: every frame it handles logs with it."""
    given = dict(scope.get("headers") or []).get(HEADER.lower().encode(), b"").decode("latin-1")
    value = new_request_id(given)
    bind(value)
    return value
