"""API token authentication for DRF (`Authorization: Token gc_...` or `Bearer`)."""

from django.utils import timezone
from rest_framework import authentication, exceptions

from core import throttling

from .models import ApiToken, User


def user_for_token(key: str) -> tuple[User, ApiToken] | tuple[None, None]:
    """The active user a token key belongs to, with the token's workspace scope attached, or None."""
    token = ApiToken.find(key)
    if token is None or not token.user.is_active:
        return None, None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    user = token.user
    user.token_workspace_id = token.workspace_id
    return user, token


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keywords = ("token", "bearer")

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Token <key>'.")
        # Token guessing: a client IP with too many failed tokens is refused before the lookup
        # (REST_FRAMEWORK rate "token_failures", counted in the shared cache).
        wait = throttling.failures_wait(request, "token_failures")
        if wait is not None:
            raise exceptions.Throttled(wait)
        user, token = user_for_token(header[1])
        if user is None:
            throttling.failure_counted(request, "token_failures")
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return user, token

    def authenticate_header(self, request):
        return "Token"
