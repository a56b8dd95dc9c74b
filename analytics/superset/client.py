"""Superset's REST API as Gridcast talks to it: the client (a session logged in as Gridcast's admin
user), whether Superset answers, why it could not start, and the errors of talking to it."""

import http.cookiejar
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from django.conf import settings

from core.errors import GridcastError

log = logging.getLogger(__name__)

GUEST_TOKEN_ALGO = "HS256"


class SupersetUnavailable(GridcastError):
    code = "superset_unavailable"
    status = 503


class SupersetFailed(GridcastError):
    code = "superset_failed"
    status = 502


class SupersetError(Exception):
    def __init__(self, method, path, status, body):
        super().__init__(f"Superset {method} {path}: {status} {body[:500]}")
        self.status = status
        self.body = body


def conf(name: str) -> Any:
    return settings.SUPERSET[name]


def available(timeout: float = 1.0) -> bool:
    """True when Superset is on and answers its health check."""
    if not settings.SUPERSET.get("ENABLED", True):
        return False
    try:
        with urllib.request.urlopen(conf("URL") + "/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):
        return False


MAX_FAILURE_CHARS = 2000
OFF_NOTE = "Superset is off in this run (SUPERSET=0). Start `make run` without SUPERSET=0 to have it here."


def failure_path(name: str = "failed") -> Path:
    """Where `make run` (or `make superset`) writes why Superset could not be installed or started
    ("failed"), or that it is being installed and started ("starting"); each file is removed once
    that is over."""
    return Path(settings.VAR_DIR) / "superset" / name


def failure_reason() -> str | None:
    """Why Superset does not answer, as `make run` wrote it (plain text, stripped): it is still
    starting, or it failed and how to retry. None when neither was written: Superset was then left
    off on purpose (SUPERSET=0) or simply not started. A longer text than MAX_FAILURE_CHARS keeps
    its start (what failed) and its end (how to retry), a "…" line between."""
    if not settings.SUPERSET.get("ENABLED", True):
        return OFF_NOTE
    for name in ("starting", "failed"):
        try:
            text = failure_path(name).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            continue
        if len(text) > MAX_FAILURE_CHARS:
            half = (MAX_FAILURE_CHARS - 3) // 2
            text = f"{text[:half]}\n…\n{text[-half:]}"
        if text:
            return text
    return None


class Client:
    """Superset's REST API as its admin: a bearer token, and the CSRF token of the same cookie
    session sent back on every write."""

    def __init__(
        self,
        url: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.url = (url or conf("URL")).rstrip("/")
        self.timeout = timeout or conf("TIMEOUT")
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.bearer = None
        self.csrf = None
        self._login(username or conf("ADMIN_USER"), password or conf("ADMIN_PASSWORD"))

    def _login(self, username, password):
        body = self.request(
            "POST",
            "/api/v1/security/login",
            {"username": username, "password": password, "provider": "db", "refresh": False},
        )
        self.bearer = body["access_token"]
        self.csrf = self.request("GET", "/api/v1/security/csrf_token/")["result"]

    def request(
        self,
        method: str,
        path: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
        ok: Collection[int] = (200, 201),
    ) -> dict[str, Any]:
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.bearer:
            request.add_header("Authorization", f"Bearer {self.bearer}")
        if self.csrf and method != "GET":
            request.add_header("X-CSRFToken", self.csrf)
            request.add_header("Referer", self.url)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with self.opener.open(request, timeout=self.timeout) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        except OSError as error:
            raise SupersetUnavailable(f"Superset at {self.url} does not answer: {error}") from None
        if status not in ok:
            raise SupersetError(method, path, status, text)
        return json.loads(text) if text else {}

    def get(self, path: str) -> dict[str, Any]:
        return self.request("GET", path)

    def find(self, resource: str, column: str, value: object) -> dict[str, Any] | None:
        """The first object of /api/v1/<resource>/ whose `column` equals `value`, or None."""
        q = {"filters": [{"col": column, "opr": "eq", "value": value}], "page_size": 5}
        result = self.get(f"/api/v1/{resource}/?q={urllib.parse.quote(rison(q))}")["result"]
        return result[0] if result else None

    def exists(self, resource: str, object_id: int) -> bool:
        try:
            self.get(f"/api/v1/{resource}/{object_id}")
            return True
        except SupersetError as error:
            if error.status == 404:
                return False
            raise


def rison(value: object) -> str:
    """Rison, the URL encoding of Superset's `q` parameter, for the plain values we send."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{k}:{rison(v)}" for k, v in value.items()) + ")"
    if isinstance(value, list):
        return "!(" + ",".join(rison(v) for v in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, (int, float)):
        return str(value)
    text = str(value)
    if text and all(c.isalnum() or c in "-_./~" for c in text) and not text[0].isdigit() and text[0] != "-":
        return text
    return "'" + text.replace("!", "!!").replace("'", "!'") + "'"
