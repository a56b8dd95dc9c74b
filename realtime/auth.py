"""Who is on a WebSocket: the session cookie (browsers) or an API token (`?token=`, scripts).

Cookie-authenticated connections must come from an allowed Origin, which stops other sites
from riding a user's session (AllowedHostsOriginValidator). Scripts with a token send no
Origin; if one is sent, it is checked all the same. The token is never logged.
"""

import copy
import hashlib
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator
from django.contrib.auth.models import AnonymousUser

from accounts.authentication import user_for_token


class TokenOrSessionAuth:
    def __init__(self, inner):
        self.with_token = inner
        self.checked_with_token = AllowedHostsOriginValidator(inner)
        self.with_session = AllowedHostsOriginValidator(AuthMiddlewareStack(inner))

    async def __call__(self, scope, receive, send):
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if token is None:
            return await self.with_session(scope, receive, send)
        user, found = await _user_for_token(token)
        # The token's id: the connection ends when this token is revoked (realtime.revocation).
        scope = dict(scope, user=user or AnonymousUser(), token_id=found.pk if found else None)
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        app = self.checked_with_token if has_origin else self.with_token
        return await app(scope, receive, send)


# A burst of connections with one token (a script's many sockets; the fan-out benchmark) asks the
# database once: what a token key gave is remembered TOKEN_SECONDS. Each connection's Guard still
# checks the token exists before it is let in, unless the user's access stamp is unchanged since a
# check that found it (realtime.admission) — and revoking a token changes that stamp.
TOKEN_SECONDS = 2.0
_tokens: dict[str, tuple[float, Any, Any]] = {}


async def _user_for_token(key: str):
    digest = hashlib.sha256(key.encode()).hexdigest()
    now = time.monotonic()
    known = _tokens.get(digest)
    if known is not None and known[0] > now:
        return copy.copy(known[1]), known[2]  # a user of its own: a connection sets attributes on it
    user, found = await database_sync_to_async(user_for_token)(key)
    if user is not None:
        if len(_tokens) > 10_000:
            for stale in [k for k, (until, _, _) in _tokens.items() if until < now]:
                del _tokens[stale]
        _tokens[digest] = (now + TOKEN_SECONDS, copy.copy(user), found)
    return user, found


def forget_tokens() -> None:
    """Drop what token keys gave (tests)."""
    _tokens.clear()


class RedactTokens(logging.Filter):
    """Masks `token=...` in log records: servers log a WebSocket's path with its query string
    (uvicorn's "WebSocket /ws/sheets/1/?token=..." [accepted]), and a token in a log is a leak."""

    PATTERN = re.compile(r"(token=)[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "token=" in record.msg:
            record.msg = self.PATTERN.sub(r"\1[redacted]", record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.PATTERN.sub(r"\1[redacted]", arg) if isinstance(arg, str) and "token=" in arg else arg
                for arg in record.args
            )
        return True


# The loggers through which the ASGI servers report connections and requests.
SERVER_LOGGERS = ("uvicorn.error", "uvicorn.access", "daphne.server", "daphne.http_protocol", "django.channels.server")


def redact_tokens_in_server_logs() -> None:
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
