"""Single sign-on from the environment: django-allauth's SOCIALACCOUNT_PROVIDERS for a generic
OpenID Connect provider (Keycloak, Authentik, Azure AD...), GitHub and Google. A provider is
configured only when its client id is set; half a configuration refuses to start (a button that
cannot work is worse than none). README, "Single sign-on", lists the variables."""

import re
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

# Provider ids of allauth's own providers: an OIDC provider id is a path segment of its URLs
# (/accounts/oidc/<id>/login/) and must not be mistaken for them.
RESERVED_IDS = {"github", "google", "openid_connect"}
PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


def _pair(environ: Mapping[str, str], prefix: str) -> tuple[str, str] | None:
    client_id = environ.get(f"{prefix}_CLIENT_ID", "").strip()
    secret = environ.get(f"{prefix}_CLIENT_SECRET", "").strip()
    if not client_id and not secret:
        return None
    if not client_id or not secret:
        raise ImproperlyConfigured(
            f"single sign-on: {prefix}_CLIENT_ID and {prefix}_CLIENT_SECRET are set together (only one of them is set)"
        )
    return client_id, secret


def _oidc_app(environ: Mapping[str, str]) -> dict[str, Any] | None:
    server_url = environ.get("GRIDCAST_OIDC_SERVER_URL", "").strip()
    pair = _pair(environ, "GRIDCAST_OIDC")
    if pair is None and not server_url:
        return None
    if pair is None or not server_url:
        raise ImproperlyConfigured(
            "single sign-on: GRIDCAST_OIDC_SERVER_URL, GRIDCAST_OIDC_CLIENT_ID and GRIDCAST_OIDC_CLIENT_SECRET "
            "are set together"
        )
    if not re.match(r"^https?://[^/\s]+", server_url):
        raise ImproperlyConfigured(
            f"single sign-on: GRIDCAST_OIDC_SERVER_URL {server_url!r} is not an http(s) URL (the issuer, "
            "e.g. https://keycloak.example.com/realms/main)"
        )
    provider_id = environ.get("GRIDCAST_OIDC_ID", "").strip() or "oidc"
    if not PROVIDER_ID.match(provider_id) or provider_id in RESERVED_IDS:
        raise ImproperlyConfigured(
            f"single sign-on: GRIDCAST_OIDC_ID {provider_id!r} is not usable: lower-case letters, digits, '-' "
            f"and '_', at most 40, and none of {sorted(RESERVED_IDS)}"
        )
    client_id, secret = pair
    return {
        "provider_id": provider_id,
        "name": environ.get("GRIDCAST_OIDC_NAME", "").strip() or "Single sign-on",
        "client_id": client_id,
        "secret": secret,
        # allauth appends /.well-known/openid-configuration unless the URL already ends with it.
        "settings": {"server_url": server_url, "oauth_pkce_enabled": True},
    }


def sso_providers(environ: Mapping[str, str]) -> dict[str, Any]:
    """SOCIALACCOUNT_PROVIDERS for the providers `environ` configures (none: {})."""
    providers: dict[str, Any] = {}
    if app := _oidc_app(environ):
        providers["openid_connect"] = {"APPS": [app]}
    if pair := _pair(environ, "GRIDCAST_GITHUB"):
        # user:email lets allauth read which of the GitHub account's addresses are verified.
        providers["github"] = {"APPS": [{"client_id": pair[0], "secret": pair[1]}], "SCOPE": ["user:email"]}
    if pair := _pair(environ, "GRIDCAST_GOOGLE"):
        providers["google"] = {
            "APPS": [{"client_id": pair[0], "secret": pair[1]}],
            "SCOPE": ["openid", "profile", "email"],
            "OAUTH_PKCE_ENABLED": True,
        }
    return providers
