"""WebSocket authentication: the session cookie, or an API token for scripts (`?token=`)."""
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async

from accounts.authentication import user_for_token


class TokenOrSessionAuthMiddleware(AuthMiddleware):
    """Session authentication as Channels does it, unless the query string carries a token."""

    def __init__(self, inner):
        from channels.sessions import CookieMiddleware, SessionMiddleware

        super().__init__(inner)
        self._with_session = CookieMiddleware(SessionMiddleware(AuthMiddleware(inner)))

    async def __call__(self, scope, receive, send):
        token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if token is None:
            return await self._with_session(scope, receive, send)
        user, _ = await database_sync_to_async(user_for_token)(token)
        if user is None:
            from django.contrib.auth.models import AnonymousUser

            user = AnonymousUser()
        return await self.inner(dict(scope, user=user), receive, send)
