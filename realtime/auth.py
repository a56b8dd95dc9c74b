"""Who is on a WebSocket: the session cookie (browsers) or an API token (`?token=`, scripts).

Cookie-authenticated connections must come from an allowed Origin, which stops other sites
from riding a user's session (AllowedHostsOriginValidator). Scripts with a token send no
Origin; if one is sent, it is checked all the same. The token is never logged.
"""

import logging
import re
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
        user, found = await database_sync_to_async(user_for_token)(token)
        # The token's id: the connection ends when this token is revoked (realtime.revocation).
        scope = dict(scope, user=user or AnonymousUser(), token_id=found.pk if found else None)
        has_origin = any(name == b"origin" for name, _ in scope.get("headers", []))
        app = self.checked_with_token if has_origin else self.with_token
        return await app(scope, receive, send)


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
