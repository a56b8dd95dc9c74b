"""Production: PostgreSQL and Redis are required, secrets come from the environment, and the
server refuses to start on settings that are unsafe on the Internet (DEBUG, a weak SECRET_KEY,
Superset's development secrets). `manage.py check --deploy` passes without a warning; every
setting below can be changed by the environment variable of the same name (README, "Production
server")."""

import os
from typing import Any

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import (
    DEVELOPMENT_SECRET_KEY,
    SOCIALACCOUNT_ONLY,
    SUPERSET,
    SUPERSET_DEVELOPMENT_SECRETS,
    env_bool,
    env_list,
)

if env_bool("DEBUG"):
    raise ImproperlyConfigured(
        "DEBUG cannot be turned on in production (it shows settings and code to anyone who causes an "
        "error): unset the DEBUG environment variable, or run config.settings.embedded for development"
    )
DEBUG = False


def weak_secret_key(key: str | None) -> str | None:
    """Why Django's deploy check would call this SECRET_KEY weak, or None."""
    if not key:
        return "it is not set"
    if key == DEVELOPMENT_SECRET_KEY:
        return "it is the development key"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"it starts with {SECRET_KEY_INSECURE_PREFIX!r}"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters, fewer than {SECRET_KEY_MIN_LENGTH}"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return f"it has fewer than {SECRET_KEY_MIN_UNIQUE_CHARACTERS} different characters"
    return None


SECRET_KEY = os.environ.get("SECRET_KEY", "")
if weak := weak_secret_key(SECRET_KEY):
    raise ImproperlyConfigured(
        f"SECRET_KEY is too weak for production ({weak}): set the SECRET_KEY environment variable to a random "
        f"value of at least {SECRET_KEY_MIN_LENGTH} characters, e.g. "
        "`python -c 'import secrets; print(secrets.token_urlsafe(64))'`"
    )

if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
    raise ImproperlyConfigured("production settings need DATABASE_URL and REDIS_URL")

# HTTPS only: behind a TLS-terminating proxy that sets SECURE_PROXY_SSL_HEADER (a header name,
# "X-Forwarded-Proto" by default, whose value is "https" on secure requests; "off" when Gridcast
# terminates TLS itself or the proxy does not set it: a header the proxy does not overwrite can be
# forged by any client).
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto").strip()
if _proxy_header.lower() in ("", "off", "none", "0", "false"):
    SECURE_PROXY_SSL_HEADER = None
else:
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.upper().replace("-", "_"), "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Paths (regular expressions, without the leading slash) still answered over plain HTTP, e.g. an
# internal scrape of `^metrics$`. The health probes are by default (a load balancer or kubelet asks
# the process directly, without TLS).
SECURE_REDIRECT_EXEMPT = env_list("SECURE_REDIRECT_EXEMPT", "^healthz$,^readyz$")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"

# Sign-up asks for the e-mail address to be confirmed before the first login, and access given by
# e-mail waits for a verified address (accounts/invitations.py). With single sign-on only
# (GRIDCAST_SSO_ONLY) the provider verifies addresses: base.py sets "none".
if not SOCIALACCOUNT_ONLY:
    ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "mandatory")

# Superset, when configured (SUPERSET_URL set), must not run on the development secrets: anyone who
# knows them could sign guest tokens for any dashboard or log in as its admin.
SUPERSET_MIN_SECRET_CHARS = 32
SUPERSET_MIN_PASSWORD_CHARS = 12


def superset_problems(superset: dict[str, Any] = SUPERSET) -> list[tuple[str, str]]:
    """[(environment variable, why)] of each unsafe Superset secret."""
    problems = []
    for name, variable, minimum in (
        ("SECRET_KEY", "SUPERSET_SECRET_KEY", SUPERSET_MIN_SECRET_CHARS),
        ("GUEST_TOKEN_SECRET", "SUPERSET_GUEST_TOKEN_SECRET", SUPERSET_MIN_SECRET_CHARS),
        ("ADMIN_PASSWORD", "SUPERSET_ADMIN_PASSWORD", SUPERSET_MIN_PASSWORD_CHARS),
    ):
        value = superset[name] or ""
        if value == SUPERSET_DEVELOPMENT_SECRETS[name]:
            problems.append((variable, "it is the development value"))
        elif len(value) < minimum:
            problems.append((variable, f"it has {len(value)} characters, fewer than {minimum}"))
    return problems


if os.environ.get("SUPERSET_URL") and (problems := superset_problems()):
    raise ImproperlyConfigured(
        "Superset is configured (SUPERSET_URL) with unsafe secrets: "
        + "; ".join(f"set {variable} ({why})" for variable, why in problems)
        + " to a random value of its own, e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`"
    )
