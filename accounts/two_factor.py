"""Workspaces that require two-factor authentication of their members: who is missing it, and the
middleware that sends them to set it up. The access checks themselves (REST, pages, sockets, API
tokens) are in accounts.permissions, which asks `has_two_factor`."""

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect

from .models import User, Workspace

# An authenticator app or a security key (passkey): allauth.mfa's Authenticator.Type values.
# Recovery codes alone are not a second factor: allauth asks for none at login when they are all a
# user has.
SECOND_FACTORS = ("totp", "webauthn")


def mfa_installed() -> bool:
    """allauth.mfa is on: always, except with GRIDCAST_SSO_ONLY, where allauth refuses it and the
    identity provider asks for the second factor. Signing in through it then satisfies a
    workspace's requirement."""
    return "allauth.mfa" in settings.INSTALLED_APPS


def _authenticators():  # allauth.mfa's model, imported only when the app is installed
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(type__in=SECOND_FACTORS)


def has_two_factor(user: User) -> bool:
    if not mfa_installed():
        return True
    return _authenticators().filter(user_id=user.pk).exists()


def members_with_two_factor(workspace: Workspace) -> set[int]:
    """The ids of the workspace's members who have a second factor (all of them with SSO only)."""
    if not mfa_installed():
        return set(workspace.memberships.values_list("user_id", flat=True))
    return set(_authenticators().filter(user__memberships__workspace=workspace).values_list("user_id", flat=True))


def workspaces_requiring(user: User) -> list[Workspace]:
    """The workspaces of the user that require two-factor authentication and that the user cannot
    reach for want of it (none when the user has it)."""
    if not user.is_authenticated:
        return []
    requiring = list(Workspace.objects.filter(memberships__user=user, require_two_factor=True).order_by("name"))
    if not requiring or has_two_factor(user):
        return []
    return requiring


def two_factor_missing(user: User) -> bool:
    """The user belongs to a workspace that requires two-factor authentication and has none."""
    return bool(workspaces_requiring(user))


def missing_message(workspaces: list[Workspace]) -> str:
    names = ", ".join(workspace.name for workspace in workspaces[:3]) + ("…" if len(workspaces) > 3 else "")
    return (
        f"{names} {'requires' if len(workspaces) == 1 else 'require'} two-factor authentication. "
        "Set up an authenticator app or a security key (Account, Two-factor authentication)."
    )


# Pages a person missing two-factor may still open: the 2FA pages and the rest of the account area
# (log out, verify the e-mail address allauth asks for before adding an authenticator, reauthenticate),
# static files, and the REST API (which refuses those workspaces itself, with 403).
_OPEN_PREFIXES = ("/accounts/", "/static/", "/favicon.ico", "/api/")


def _is_page_visit(request: HttpRequest) -> bool:
    """A page opened (GET), not an event stream nor a form or script's POST: the bell's stream of
    the 2FA page itself, sent to that page, would load it again and change the secret it shows.
    Everything else is refused where access is checked (accounts.permissions)."""
    return request.method in ("GET", "HEAD") and "text/event-stream" not in request.headers.get("Accept", "")


class TwoFactorRequired:
    """Sends a logged-in member of a workspace that requires two-factor authentication, who has
    none, to the two-factor page before any other page, saying which workspace requires it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and _is_page_visit(request)
            and not request.path.startswith(_OPEN_PREFIXES)
        ):
            requiring = workspaces_requiring(user)
            if requiring:
                messages.warning(request, missing_message(requiring))
                return redirect("mfa_activate_totp")
        return self.get_response(request)
