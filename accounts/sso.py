"""Single sign-on (django-allauth social accounts; providers from the environment,
config/settings/sso.py). Two failures allauth leaves as a 500 are answered as pages: a provider
that is not configured (allauth serves the URLs of every installed provider: /accounts/github/login/
without GitHub's client id, an unknown OpenID Connect id) is not found; a provider that does not
answer when the login starts (its discovery document is fetched then) is allauth's login failure
page, 502.

A login through a provider that says an address of the account is verified verifies it here, like a
confirmation by e-mail: what waits for it (invitations, shared sheets) is claimed at the login."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.views import defaults

from .invitations import normalize
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


@transaction.atomic
def sso_addresses_confirm(*, user: User, sociallogin: SocialLogin) -> set[str]:
    """Before a login through a provider into `user`'s account: the account's addresses that the
    provider says are verified are verified here too (the login then needs no confirmation e-mail,
    and what waits for them is claimed at login, accounts/invitations.py); the provider's other
    addresses are not added. When the provider's address found the account (allauth's e-mail
    authentication) and the account had not verified it, the account's password is wiped first,
    as allauth does: someone else may have signed up with the address and set it. Returns the
    confirmed addresses (lower case)."""
    from allauth.account.models import EmailAddress

    said = {normalize(address.email) for address in sociallogin.email_addresses if address.verified}
    rows = {normalize(a.email): a for a in EmailAddress.objects.filter(user=user)}
    confirmed = said & ({normalize(user.email)} | set(rows)) - {""}
    unconfirmed_before = {email for email in confirmed if not (email in rows and rows[email].verified)}
    if unconfirmed_before and sociallogin.account.pk is None and user.has_usable_password():
        user.set_unusable_password()
        user.save(update_fields=["password"])
    for email in unconfirmed_before:
        if email in rows:
            EmailAddress.objects.filter(pk=rows[email].pk).update(verified=True)
        else:
            EmailAddress.objects.create(
                user=user, email=email, verified=True, primary=email == normalize(user.email) and not rows
            )
    return confirmed


def _on_pre_social_login(request, sociallogin, **kwargs):
    # allauth's pre_social_login: the account is known (a connected provider account, or found by a
    # verified address), the login not done yet. Only logins: connecting a provider to the account
    # one is logged into does not touch another account found by its address.
    if sociallogin.state.get("process", "login") != "login" or sociallogin.user is None or not sociallogin.user.pk:
        return
    sso_addresses_confirm(user=sociallogin.user, sociallogin=sociallogin)


def connect_signals() -> None:
    from allauth.socialaccount.signals import pre_social_login

    pre_social_login.connect(_on_pre_social_login, dispatch_uid="gridcast-sso-pre-social-login")
