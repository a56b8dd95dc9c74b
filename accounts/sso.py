"""Single sign-on (django-allauth social accounts; providers from the environment,
config/settings/sso.py). Two failures allauth leaves as a 500 are answered as pages: a provider
that is not configured (allauth serves the URLs of every installed provider: /accounts/github/login/
without GitHub's client id, an unknown OpenID Connect id) is not found; a provider that does not
answer when the login starts (its discovery document is fetched then) is allauth's login failure
page, 502.

A login through a provider that says an address of the account is verified verifies it here, and
claims what waits for it (invitations, shared sheets) like a confirmation by e-mail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults

from .invitations import claim_invitations, normalize
from .models import User

if TYPE_CHECKING:
    from allauth.socialaccount.models import SocialLogin

logger = logging.getLogger(__name__)


class ProviderFailurePages:
    """Middleware: a provider without configuration is not found (404); one that fails to answer
    is allauth's login failure page (502). Neither is a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        from allauth.socialaccount.helpers import render_authentication_error
        from allauth.socialaccount.models import SocialApp
        from allauth.socialaccount.providers.base import ProviderException
        from allauth.socialaccount.providers.oauth2.client import OAuth2Error
        from requests import RequestException

        if isinstance(exception, SocialApp.DoesNotExist):
            return defaults.page_not_found(request, Http404("no such sign-in provider"))
        if isinstance(exception, RequestException | OAuth2Error | ProviderException):
            logger.warning("single sign-on: the provider failed at %s: %r", request.path, exception)
            response = render_authentication_error(request, None, exception=exception)
            response.status_code = 502
            return response
        return None


def confirm_provider_verified_addresses(user: User, sociallogin: SocialLogin) -> set[str]:
    """The addresses of `user`'s account that the provider of `sociallogin` says are verified are
    now verified here too (so that what waits for them is claimed, accounts/invitations.py); the
    provider's other addresses are not added. Returns them (lower case)."""
    from allauth.account.models import EmailAddress

    said = {normalize(address.email) for address in sociallogin.email_addresses if address.verified}
    own = {normalize(user.email)} | {
        normalize(e) for e in EmailAddress.objects.filter(user=user).values_list("email", flat=True)
    }
    confirmed = said & own - {""}
    for email in confirmed:
        updated = EmailAddress.objects.filter(user=user, email__iexact=email).update(verified=True)
        if not updated:
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=email == normalize(user.email))
    return confirmed


def _on_logged_in(request, user, sociallogin=None, **kwargs):
    # allauth's user_logged_in, sent after the login (and after allauth wiped the password of an
    # account whose address was not verified: confirming it earlier would spare that password).
    if sociallogin is None or not confirm_provider_verified_addresses(user, sociallogin):
        return
    claim_invitations(user)


def connect_signals() -> None:
    from allauth.account.signals import user_logged_in

    user_logged_in.connect(_on_logged_in, dispatch_uid="gridcast-sso-logged-in")
