"""Settings shared by every environment; backends are chosen by environment variables."""

import os
import re
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core.redis import is_cluster, parse_cluster_url

from .sso import sso_providers

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("GRIDCAST_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Development values of the secrets: config/settings/production.py refuses to start with them.
DEVELOPMENT_SECRET_KEY = "gridcast-insecure-development-key-change-me"
SUPERSET_DEVELOPMENT_SECRETS = {
    "SECRET_KEY": "gridcast-superset-insecure-development-key",
    "GUEST_TOKEN_SECRET": "gridcast-superset-guest-token-development-secret",
    "ADMIN_PASSWORD": "gridcast-superset-admin",
}

SECRET_KEY = os.environ.get("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",  # allauth's security key list ("last used 3 minutes ago")
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_vite",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "guardian",
    "django_tasks",
    "django_tasks.backends.database",
    "core",
    "accounts",
    "sheets",
    "realtime",
    "analytics",
]

MIDDLEWARE = [
    # First: the request id of every log line and the X-Request-ID header, and latency by route.
    "core.requests.RequestId",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Tells the audit log (accounts.audit.record) the request being served: its user and client IP.
    "accounts.audit.RequestContext",
    # A member of a workspace that requires two-factor authentication and has none is sent to set
    # it up before any other page (accounts/two_factor.py).
    "accounts.two_factor.TwoFactorRequired",
    "core.pages.DomainErrorPages",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sheets.context_processors.column_types_table",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'gridcast.sqlite3'}"))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
    # Under ASGI every request may run in a fresh thread; a pool saves ~10 ms of connecting each time.
    DATABASES["default"]["OPTIONS"] = {
        "pool": {"min_size": 2, "max_size": int(os.environ.get("DATABASE_POOL_SIZE", "20"))}
    }
    # psycopg_pool retries a failed connect after 1, 2, 4, 8... s (no setting): every 0.5 s instead.
    from psycopg_pool.base import AttemptWithBackoff

    AttemptWithBackoff.INITIAL_DELAY, AttemptWithBackoff.DELAY_BACKOFF = 0.5, 1.0
else:
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("DATABASE_CONN_MAX_AGE", "60"))
# Connections tried before reuse, so a PostgreSQL restart fails no call (docs/operations.md, "Failover").
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default serves browsers, imports and the analytics writer from one process at
    # once: WAL lets readers go on beside the one writer, IMMEDIATE takes the write lock when a
    # transaction begins (a deferred one that later writes fails at once with "database is locked"
    # instead of waiting), and a writer waits up to `timeout` seconds for the lock.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": float(os.environ.get("SQLITE_BUSY_TIMEOUT", "30")),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The installation's name: several Gridcast installations may share one Redis. Its keys (cache,
# throttles, channel-layer groups and channels) carry it, as the sheet pub/sub channels
# (realtime/bus.py) carry the database's name. Defaults to the database's name.
INSTALLATION_NAME = (
    os.environ.get("GRIDCAST_INSTALLATION") or Path(str(DATABASES["default"]["NAME"] or "gridcast")).stem
)

REDIS_URL = os.environ.get("REDIS_URL", "")
if is_cluster(REDIS_URL):
    # A Redis Cluster (redis+cluster://host:port,...): channels-redis cannot use one, so the layer's
    # groups are shard channels (realtime.layers); the cache splits multi-key commands by slot.
    parse_cluster_url(REDIS_URL)  # a malformed URL fails at start, not at the first request
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.ClusterChannelLayer",
            "CONFIG": {"url": REDIS_URL, "capacity": 1000, "prefix": f"gridcast:{INSTALLATION_NAME}:asgi"},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "core.redis.RedisClusterCache",
            "LOCATION": [REDIS_URL],
            "KEY_PREFIX": f"gridcast:{INSTALLATION_NAME}:cache",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
elif REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "realtime.layers.RedisChannelLayer",
            # The layer waits for messages with a 5 s BZPOPMIN; redis-py 8 reads with a 5 s socket
            # timeout by default, which ended every idle WebSocket after 5 s. Read longer.
            # Groups and channels are namespaced per installation (the prefix of every Redis key).
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": 15}],
                "capacity": 1000,
                "prefix": f"gridcast:{INSTALLATION_NAME}:asgi",
            },
        }
    }
    # One cache for every process (throttles, login rate limits, connection counts hold across
    # processes), its keys prefixed per installation.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": f"gridcast:{INSTALLATION_NAME}:cache",
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "realtime.layers.InMemoryChannelLayer"}}
    # The embedded default is one process: a local-memory cache is shared by all of it.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Proxies of ours in front of Gridcast (TRUSTED_PROXY_COUNT, 0: none): the client IP used by
# login limits and REST throttles is the one this many hops back in X-Forwarded-For; with 0 the
# header (which any client can forge) is ignored and the peer's address is used.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
ALLAUTH_TRUSTED_CLIENT_IP_HEADER = os.environ.get("TRUSTED_CLIENT_IP_HEADER") or None

# django-allauth: e-mail is the login.
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "none")
ACCOUNT_LOGOUT_ON_GET = False
LOGIN_REDIRECT_URL = "/"
LOGIN_URL = "/accounts/login/"
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "gridcast@localhost")
# Where the file-based e-mail backend (EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend) writes.
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))

# django-allauth's two-factor authentication (/accounts/2fa/): an authenticator app (TOTP),
# recovery codes, and WebAuthn security keys and passkeys. A user with an authenticator app or a
# security key is asked for it after the password. Passkeys also log in without a password (the
# "Sign in with a passkey" button). Browsers allow WebAuthn only on https:// or http://localhost
# (not http://127.0.0.1), and allauth checks the origin, so MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN
# stays off. MFA_TOTP_ISSUER: the name authenticator apps show for the account.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = os.environ.get("MFA_TOTP_ISSUER", "Gridcast")
# A forged security key answer is an "Incorrect code." error, not a 500 (accounts/webauthn_forms.py).
MFA_FORMS = {
    "add_webauthn": "accounts.webauthn_forms.AddSecurityKeyForm",
    "authenticate_webauthn": "accounts.webauthn_forms.AuthenticateSecurityKeyForm",
    "login_webauthn": "accounts.webauthn_forms.LoginSecurityKeyForm",
    "reauthenticate_webauthn": "accounts.webauthn_forms.ReauthenticateSecurityKeyForm",
}

# --- Single sign-on (django-allauth social accounts; README, "Single sign-on") ---------------------
# Providers come from the environment (config/settings/sso.py), none by default: a generic OpenID
# Connect provider (GRIDCAST_OIDC_SERVER_URL, GRIDCAST_OIDC_CLIENT_ID, GRIDCAST_OIDC_CLIENT_SECRET,
# GRIDCAST_OIDC_ID for its URLs, default "oidc", GRIDCAST_OIDC_NAME for its button, default
# "Single sign-on"), GitHub (GRIDCAST_GITHUB_CLIENT_ID/_SECRET) and Google
# (GRIDCAST_GOOGLE_CLIENT_ID/_SECRET). Only configured providers get a button.
INSTALLED_APPS += [
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.github",
    "allauth.socialaccount.providers.google",
]
SOCIALACCOUNT_PROVIDERS = sso_providers(os.environ)
# An unconfigured provider's URLs answer 404, a provider that does not answer 502 (not a 500).
MIDDLEWARE += ["accounts.sso.ProviderFailurePages"]
# A provider's *verified* address logs into the account that has it (and connects the provider to
# it); an unverified one never does. Someone new gets an account at once, without a form, when the
# provider gives an address no account has.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_AUTO_SIGNUP = True
# Ask every provider for the addresses and whether they are verified (GitHub: its e-mails API).
SOCIALACCOUNT_QUERY_EMAIL = True
# GRIDCAST_SSO_ONLY=1: accounts only through the providers (no password login, sign-up or reset;
# the login page shows the provider buttons). The Django admin keeps its own password login, for
# staff (a way in when the provider is down), with allauth's login limits (accounts/admin_login.py).
SOCIALACCOUNT_ONLY = env_bool("GRIDCAST_SSO_ONLY", False)
if SOCIALACCOUNT_ONLY:
    if not SOCIALACCOUNT_PROVIDERS:
        raise ImproperlyConfigured(
            "GRIDCAST_SSO_ONLY is set but no single sign-on provider is configured: set GRIDCAST_OIDC_SERVER_URL, "
            "GRIDCAST_OIDC_CLIENT_ID and GRIDCAST_OIDC_CLIENT_SECRET (or GitHub's or Google's client id and secret)"
        )
    if os.environ.get("ACCOUNT_EMAIL_VERIFICATION", "none") != "none":
        raise ImproperlyConfigured(
            "GRIDCAST_SSO_ONLY cannot be combined with ACCOUNT_EMAIL_VERIFICATION: with single sign-on only, "
            "the provider verifies addresses (unset ACCOUNT_EMAIL_VERIFICATION)"
        )
    ACCOUNT_EMAIL_VERIFICATION = "none"
    # The provider asks for the second factor: allauth refuses allauth.mfa beside SOCIALACCOUNT_ONLY.
    INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "allauth.mfa"]
# --- end of single sign-on -------------------------------------------------------------------------

# django-guardian: no anonymous user object is needed.
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    # JSON bodies by core.jsonio's rules (bounded nesting, finite numbers, valid Unicode); answers
    # never hold NaN or Infinity (STRICT_JSON, DRF's default, said here because it matters).
    "DEFAULT_PARSER_CLASSES": [
        "sheets.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "STRICT_JSON": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # Throttling (core/throttling.py), counted in the cache (Redis: across processes):
    # requests per signed-in user, per anonymous client IP, and per user on the expensive
    # endpoints; "<n>/<s|m|h|d>", empty for no limit. 429 with Retry-After when over.
    "DEFAULT_THROTTLE_CLASSES": [
        "core.throttling.UserThrottle",
        "core.throttling.AnonThrottle",
        "core.throttling.ExpensiveThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("GRIDCAST_THROTTLE_USER", "20000/m"),
        "anon": os.environ.get("GRIDCAST_THROTTLE_ANON", "600/m"),
        "imports": os.environ.get("GRIDCAST_THROTTLE_IMPORTS", "120/m"),
        "exports": os.environ.get("GRIDCAST_THROTTLE_EXPORTS", "600/m"),
        "ingest": os.environ.get("GRIDCAST_THROTTLE_INGEST", "120000/m"),
        "aggregates": os.environ.get("GRIDCAST_THROTTLE_AGGREGATES", "6000/m"),
        # Wrong or revoked API tokens per client IP: over it, 429 before the token is looked at.
        "token_failures": os.environ.get("GRIDCAST_THROTTLE_TOKEN_FAILURES", "60/m"),
        # Public read-only links (/p/<key>/), per client IP: page loads, row windows and socket connects
        # together. Over it: a 429 page or answer, or the socket closed with 4429.
        "public": os.environ.get("GRIDCAST_THROTTLE_PUBLIC", "300/m"),
    },
    # The client IP of an anonymous request: X-Forwarded-For is believed only behind this many
    # proxies of ours (the same count as allauth's login limits, ALLAUTH_TRUSTED_PROXY_COUNT).
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}
SPECTACULAR_SETTINGS = {
    # Swagger UI from the installed sidecar package: the docs page works without internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TITLE": "Gridcast API",
    "DESCRIPTION": "Workspaces, sheets, columns, rows, cells and the operation log.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Bounds the views check by hand, non-blank names and links from a create to its object.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.openapi.postprocess"],
    # One name for the channel every kind of notification preference picks from.
    "ENUM_NAME_OVERRIDES": {"NotificationChannelEnum": "accounts.models.NotificationPreference.Channel"},
}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# GRIDCAST_LOG_FORMAT=json: one JSON object a line (time, level, logger, message, request_id,
# exception), for log collectors; "plain" (the default) for people. Either way every line carries the
# request id of the HTTP request, WebSocket frame or operation it was logged for (core/requests.py).
LOG_FORMAT = os.environ.get("GRIDCAST_LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"GRIDCAST_LOG_FORMAT must be 'plain' or 'json', not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "core.requests.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
        "json": {"()": "core.requests.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Gridcast limits: outside input is bounded.
GRIDCAST = {
    # How long an invitation's e-mailed link works (POST /api/v1/workspaces/<id>/invitations/).
    "INVITATION_DAYS": int(os.environ.get("GRIDCAST_INVITATION_DAYS", "7")),
    # Audit events older than this many days are deleted (accounts.audit.purge: by `manage.py
    # audit_purge`, and at most once a day when an event is recorded); 0 keeps them forever.
    "AUDIT_RETENTION_DAYS": int(os.environ.get("GRIDCAST_AUDIT_RETENTION_DAYS", "365")),
    "MAX_CELL_CHARS": int(os.environ.get("GRIDCAST_MAX_CELL_CHARS", "10000")),
    "MAX_BATCH_CELLS": int(os.environ.get("GRIDCAST_MAX_BATCH_CELLS", "5000")),
    # Find and replace (sheets.find): the longest text to find, and the most cells one replace-all
    # changes (as one operation; more matches are refused, nothing replaced).
    "MAX_FIND_CHARS": int(os.environ.get("GRIDCAST_MAX_FIND_CHARS", "1000")),
    "MAX_REPLACE_CELLS": int(os.environ.get("GRIDCAST_MAX_REPLACE_CELLS", "100000")),
    "MAX_INSERT_ROWS": int(os.environ.get("GRIDCAST_MAX_INSERT_ROWS", "10000")),
    "MAX_WINDOW_ROWS": 1000,
    "MAX_COLUMNS": 500,
    "MAX_IMPORT_BYTES": int(os.environ.get("GRIDCAST_MAX_IMPORT_BYTES", str(500 * 1024 * 1024))),
    # Import jobs: where uploads wait for the jobs worker; runs of a job whose worker died.
    "IMPORT_UPLOAD_DIR": os.environ.get("GRIDCAST_IMPORT_UPLOAD_DIR", str(VAR_DIR / "imports")),
    "IMPORT_MAX_ATTEMPTS": int(os.environ.get("GRIDCAST_IMPORT_MAX_ATTEMPTS", "2")),
    "OPERATIONS_PAGE": 1000,
    # WebSocket: edits per second per connection (and burst), frames queued for a slow client
    # before it is disconnected, presence updates at most every WS_PRESENCE_INTERVAL seconds,
    # operations replayed before a client is told to reload.
    "WS_EDITS_PER_SECOND": float(os.environ.get("GRIDCAST_WS_EDITS_PER_SECOND", "100")),
    "WS_EDIT_BURST": int(os.environ.get("GRIDCAST_WS_EDIT_BURST", "200")),
    "WS_MAX_BACKLOG": int(os.environ.get("GRIDCAST_WS_MAX_BACKLOG", "5000")),
    "WS_PRESENCE_INTERVAL": 0.1,
    # Presence (realtime/presence.py): a room of up to WS_PRESENCE_FULL_ROOM people (per server
    # process) is listed in full; a larger one is summarised: at most WS_PRESENCE_LISTED people per
    # batch and snapshot, and a change of its count alone told at most every COUNT_INTERVAL seconds,
    # doubling up to COUNT_INTERVAL_MAX while it keeps changing (a join storm).
    "WS_PRESENCE_FULL_ROOM": int(os.environ.get("GRIDCAST_WS_PRESENCE_FULL_ROOM", "50")),
    "WS_PRESENCE_LISTED": int(os.environ.get("GRIDCAST_WS_PRESENCE_LISTED", "20")),
    "WS_PRESENCE_COUNT_INTERVAL": float(os.environ.get("GRIDCAST_WS_PRESENCE_COUNT_INTERVAL", "1")),
    "WS_PRESENCE_COUNT_INTERVAL_MAX": float(os.environ.get("GRIDCAST_WS_PRESENCE_COUNT_INTERVAL_MAX", "8")),
    "WS_REPLAY_LIMIT": 1000,
    # Other frames (realtime/limits.py): per frame type, (per second, burst) per connection; a
    # connection that goes on past WS_FLOOD_REFUSALS refused frames is closed with 4429.
    "WS_FRAME_LIMITS": {
        kind: (
            float(os.environ.get(f"GRIDCAST_WS_{kind.upper()}_PER_SECOND", rate)),
            int(os.environ.get(f"GRIDCAST_WS_{kind.upper()}_BURST", burst)),
        )
        for kind, rate, burst in (
            ("hello", "2", "10"),
            ("ping", "5", "20"),
            ("presence", "30", "60"),
            ("subscribe", "5", "20"),
        )
    },
    "WS_FLOOD_REFUSALS": int(os.environ.get("GRIDCAST_WS_FLOOD_REFUSALS", "100")),
    # Open sockets and event streams per user, counted across processes in the cache (each holds
    # a slot that lapses CONNECTION_SLOT_SECONDS after its process stopped refreshing it); 0: no cap.
    "MAX_CONNECTIONS_PER_USER": int(os.environ.get("GRIDCAST_MAX_CONNECTIONS_PER_USER", "100")),
    "CONNECTION_SLOT_SECONDS": 120,
    # Quotas (0: none): over one, a creation is refused with 403 {"error": {"code":
    # "quota_exceeded", "quota": <name>, "limit": <n>}}.
    "MAX_SHEETS_PER_WORKSPACE": int(os.environ.get("GRIDCAST_MAX_SHEETS_PER_WORKSPACE", "1000")),
    "MAX_ALERT_RULES_PER_WORKSPACE": int(os.environ.get("GRIDCAST_MAX_ALERT_RULES_PER_WORKSPACE", "500")),
    # Webhooks (contact points of alert rules): at most this many per rule (0: no limit), and the addresses
    # outside the public internet they may call anyway (core/outbound.py refuses loopback, private,
    # link-local... addresses otherwise): CIDRs or host names, e.g. "10.1.2.0/24,hooks.internal".
    "MAX_WEBHOOKS_PER_RULE": int(os.environ.get("GRIDCAST_MAX_WEBHOOKS_PER_RULE", "10")),
    # A sheet's webhooks (analytics/webhooks/): how many a sheet may have, and the rows one delivery
    # carries at most (beyond, its body says `truncated` and the `total`).
    "MAX_WEBHOOKS_PER_SHEET": int(os.environ.get("GRIDCAST_MAX_WEBHOOKS_PER_SHEET", "10")),
    "WEBHOOK_MAX_ROWS": int(os.environ.get("GRIDCAST_WEBHOOK_MAX_ROWS", "1000")),
    "OUTBOUND_ALLOW": env_list("GRIDCAST_WEBHOOK_ALLOW"),
    # Where people reach this installation, for links in e-mails sent without a request (alerts).
    "PUBLIC_URL": os.environ.get("GRIDCAST_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/"),
    "MAX_TOKENS_PER_USER": int(os.environ.get("GRIDCAST_MAX_TOKENS_PER_USER", "50")),
    # Saved views per sheet (personal and shared together).
    "MAX_VIEWS_PER_SHEET": int(os.environ.get("GRIDCAST_MAX_VIEWS_PER_SHEET", "200")),
    # Formula columns (sheets.services.recompute): larger sheets are recomputed by a job, BATCH rows a
    # transaction; a lost one resumed after STALE_SECONDS; the TICKER refreshes TODAY() (0: never).
    "FORMULA_INLINE_ROWS": int(os.environ.get("GRIDCAST_FORMULA_INLINE_ROWS", "2000")),
    "FORMULA_RECOMPUTE_BATCH": int(os.environ.get("GRIDCAST_FORMULA_RECOMPUTE_BATCH", "5000")),
    "FORMULA_RECOMPUTE_STALE_SECONDS": float(os.environ.get("GRIDCAST_FORMULA_RECOMPUTE_STALE_SECONDS", "30")),
    "FORMULA_TICKER_SECONDS": float(os.environ.get("GRIDCAST_FORMULA_TICKER_SECONDS", "60")),
    # Comments (sheets.services.comments): the longest body, the most people one comment mentions,
    # the most comments on one sheet (0: no limit).
    "MAX_COMMENT_CHARS": int(os.environ.get("GRIDCAST_MAX_COMMENT_CHARS", "5000")),
    "MAX_COMMENT_MENTIONS": int(os.environ.get("GRIDCAST_MAX_COMMENT_MENTIONS", "20")),
    "MAX_COMMENTS_PER_SHEET": int(os.environ.get("GRIDCAST_MAX_COMMENTS_PER_SHEET", "20000")),
}
# Operations (docs/operations.md). /metrics is open (scraped on an internal network) unless a token
# is set: then `Authorization: Bearer <token>` is required. METRICS_TOKEN is the older name.
METRICS_TOKEN = os.environ.get("GRIDCAST_METRICS_TOKEN") or os.environ.get("METRICS_TOKEN", "")
# Sheets whose lake lag gets a label of its own (per process); the others count as sheet="other".
METRICS_SHEET_LABELS = int(os.environ.get("GRIDCAST_METRICS_SHEET_LABELS", "100"))
# The analytics worker serves its metrics on this port of WORKER_METRICS_ADDR (0: not served; with
# PROMETHEUS_MULTIPROC_DIR shared with the web processes, their /metrics has them already).
WORKER_METRICS_PORT = int(os.environ.get("GRIDCAST_WORKER_METRICS_PORT", "0"))
WORKER_METRICS_ADDR = os.environ.get("GRIDCAST_WORKER_METRICS_ADDR", "127.0.0.1")
# Each check of /readyz (database, Redis, lake) gives up after this many seconds.
READY_TIMEOUT = float(os.environ.get("GRIDCAST_READY_TIMEOUT", "2"))
# The demo order stream and collaborator inside the server process (analytics.demo.stream; one per
# process): on by default on the embedded default only; GRIDCAST_DEMO=0 turns it off.
GRIDCAST_DEMO = env_bool("GRIDCAST_DEMO", False)

# Analytics: DuckLake (catalog in this PostgreSQL database, schema "ducklake", or a SQLite file
# under var/ when Django runs on SQLite; Parquet data under DATA_PATH/<database name>/).
_DUCKDB_MEMORY = re.compile(r"\d+(\.\d+)?\s*([KMGT]i?B|B)", re.IGNORECASE)
if not _DUCKDB_MEMORY.fullmatch(os.environ.get("GRIDCAST_DUCKDB_MEMORY_LIMIT", "512MB").strip()):
    raise ImproperlyConfigured("GRIDCAST_DUCKDB_MEMORY_LIMIT must be an amount such as 512MB or 2GiB")
if (
    not os.environ.get("GRIDCAST_DUCKDB_THREADS", "2").strip().isdigit()
    or int(os.environ.get("GRIDCAST_DUCKDB_THREADS", "2")) < 1
):
    raise ImproperlyConfigured("GRIDCAST_DUCKDB_THREADS must be a whole number of at least 1")
ANALYTICS = {
    "CATALOG": os.environ.get("ANALYTICS_CATALOG", ""),
    "DATA_PATH": os.environ.get("ANALYTICS_DATA_PATH", str(VAR_DIR / "lake")),
    "EXTENSION_DIR": os.environ.get("ANALYTICS_EXTENSION_DIR", str(VAR_DIR / "duckdb_extensions")),
    # Every DuckDB connection's memory limit and threads (analytics/lake/connections.py). DuckDB's own
    # defaults are 80% of the machine's memory and one thread per core, per connection: a process
    # holds several (the writer, the rollup, one per reading thread), so memory grew without bound.
    "DUCKDB_MEMORY_LIMIT": os.environ.get("GRIDCAST_DUCKDB_MEMORY_LIMIT", "512MB").strip(),
    "DUCKDB_THREADS": int(os.environ.get("GRIDCAST_DUCKDB_THREADS", "2")),
    # Long-lived DuckDB connections are replaced this often (0: never): each keeps memory per commit.
    "DUCKDB_RENEW_SECONDS": float(os.environ.get("GRIDCAST_DUCKDB_RENEW_SECONDS", "300")),
    # Sheet write-through (analytics/writethrough/): a batch every WRITER_INTERVAL seconds when
    # idle, at most WRITER_MAX_OPERATIONS operations each; a sheet first seen with more than
    # WRITER_REBUILD_ABOVE versions is loaded from a snapshot instead of replayed. A sheet is
    # compacted once COMPACT_EVENTS events are pending or its oldest pending is COMPACT_SECONDS old.
    # (An idle round is one scan of sheets_sheet's versions: no lake transaction, no lock.)
    "WRITER_INTERVAL": float(os.environ.get("ANALYTICS_WRITER_INTERVAL", "0.02")),
    "WRITER_MAX_OPERATIONS": 5000,
    "WRITER_REBUILD_ABOVE": 1000,
    "COMPACT_EVENTS": int(os.environ.get("ANALYTICS_COMPACT_EVENTS", "20000")),
    # The fold runs beside the writer (a PostgreSQL catalog); only its ~100 ms install holds it up.
    "COMPACT_SECONDS": float(os.environ.get("ANALYTICS_COMPACT_SECONDS", "30")),
    # Lake upkeep by the worker (analytics/lake/maintenance.py): small files merged every
    # MAINTENANCE_SECONDS (0: never), snapshots older than SNAPSHOT_RETENTION_SECONDS expired and
    # the files only they used deleted.
    "MAINTENANCE_SECONDS": float(os.environ.get("ANALYTICS_MAINTENANCE_SECONDS", "5")),
    "SNAPSHOT_RETENTION_SECONDS": float(os.environ.get("ANALYTICS_SNAPSHOT_RETENTION_SECONDS", "600")),
    # Metric events are folded into per-minute and per-hour rollups (analytics/metrics/rollup.py) every
    # ROLLUP_SECONDS (0: never; aggregates then read the events themselves).
    "ROLLUP_SECONDS": float(os.environ.get("ANALYTICS_ROLLUP_SECONDS", "2")),
    # Metric retention (analytics/metrics/retention.py): a pass every RETENTION_SECONDS (0: never);
    # files of metric_events with this share of their rows deleted are rewritten.
    "RETENTION_SECONDS": float(os.environ.get("ANALYTICS_RETENTION_SECONDS", "3600")),
    "RETENTION_REWRITE_THRESHOLD": float(os.environ.get("ANALYTICS_RETENTION_REWRITE_THRESHOLD", "0.5")),
    # Alert rules (analytics/alerts/) are evaluated as data arrives and, by the worker, every
    # ALERT_INTERVAL seconds (0: never), so that a rule sees data stop and a window empty.
    "ALERT_INTERVAL": float(os.environ.get("ANALYTICS_ALERT_INTERVAL", "5")),
    # A pass over many workspaces' rules takes them in turns of at most this many seconds each
    # (rules of one condition share one query): one workspace's rules do not hold up another's.
    "ALERT_TURN_SECONDS": float(os.environ.get("ANALYTICS_ALERT_TURN_SECONDS", "0.05")),
    # Deliveries of alerts to their contact points (analytics/deliveries/: webhooks and e-mails), sent
    # by the worker: a failed attempt is retried after each of DELIVERY_RETRY_SECONDS in turn (so
    # 1 + len attempts), pending ones looked for every DELIVERY_POLL_SECONDS; a request may take
    # DELIVERY_TIMEOUT seconds and DELIVERY_RESPONSE_BYTES of its answer are kept in the log.
    "DELIVERY_RETRY_SECONDS": [
        float(s) for s in os.environ.get("ANALYTICS_DELIVERY_RETRY_SECONDS", "10,60,300,1800").split(",") if s
    ],
    "DELIVERY_POLL_SECONDS": float(os.environ.get("ANALYTICS_DELIVERY_POLL_SECONDS", "1")),
    "DELIVERY_TIMEOUT": float(os.environ.get("ANALYTICS_DELIVERY_TIMEOUT", "5")),
    "DELIVERY_RESPONSE_BYTES": 2000,
    # Notifications by e-mail (analytics/deliveries/digest.py): one e-mail per person gathers all
    # theirs once the oldest has waited NOTIFICATION_EMAIL_BATCH_SECONDS; looked for this often.
    "NOTIFICATION_EMAIL_BATCH_SECONDS": float(os.environ.get("ANALYTICS_NOTIFICATION_EMAIL_BATCH_SECONDS", "60")),
    "NOTIFICATION_EMAIL_POLL_SECONDS": float(os.environ.get("ANALYTICS_NOTIFICATION_EMAIL_POLL_SECONDS", "5")),
    # Delivered and failed deliveries are deleted after this many days (0: kept).
    "DELIVERY_RETENTION_DAYS": float(os.environ.get("ANALYTICS_DELIVERY_RETENTION_DAYS", "30")),
    # The writer as a thread of the server process: on only in config/settings/embedded.py.
    "EMBEDDED_WORKER": False,
}

# The Svelte widgets: built by Vite into static/dist (make run / make test build them); set
# VITE_DEV_SERVER=1 to load them from `npm run dev` in frontend/ instead.
DJANGO_VITE = {
    "default": {
        "dev_mode": env_bool("VITE_DEV_SERVER", False),
        "dev_server_host": "127.0.0.1",
        "dev_server_port": 5173,
        "static_url_prefix": "dist",
        "manifest_path": BASE_DIR / "static" / "dist" / "manifest.json",
    }
}

# WhiteNoise serves static files; without collectstatic (embedded runs) it finds them in the apps.
WHITENOISE_USE_FINDERS = DEBUG
# Vite names its built files by their content: browsers keep them for good.
WHITENOISE_IMMUTABLE_FILE_TEST = r"/dist/assets/[^/]+-[\w-]{8}\.(?:js|css)$"

# Apache Superset, an optional side service on loopback (`make superset`, its own virtualenv).
# Django mints the guest tokens its embedded dashboards use, so the JWT secret, algorithm and
# audience are shared with Superset's generated config (`manage.py superset_config`).
SUPERSET = {
    # Off (`make run` with SUPERSET=0): nothing is synced to, or embedded from, whatever Superset
    # may answer on the port, and the dashboard says it is off.
    "ENABLED": env_bool("SUPERSET_ENABLED", True),
    "URL": os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088").rstrip("/"),
    # The URL the browser loads the embedded dashboard from (the same unless behind a proxy).
    "PUBLIC_URL": os.environ.get("SUPERSET_PUBLIC_URL", os.environ.get("SUPERSET_URL", "http://127.0.0.1:8088")).rstrip(
        "/"
    ),
    "ADMIN_USER": os.environ.get("SUPERSET_ADMIN_USER", "admin"),
    "ADMIN_PASSWORD": os.environ.get("SUPERSET_ADMIN_PASSWORD", SUPERSET_DEVELOPMENT_SECRETS["ADMIN_PASSWORD"]),
    "SECRET_KEY": os.environ.get("SUPERSET_SECRET_KEY", SUPERSET_DEVELOPMENT_SECRETS["SECRET_KEY"]),
    "GUEST_TOKEN_SECRET": os.environ.get(
        "SUPERSET_GUEST_TOKEN_SECRET", SUPERSET_DEVELOPMENT_SECRETS["GUEST_TOKEN_SECRET"]
    ),
    "GUEST_TOKEN_AUDIENCE": os.environ.get("SUPERSET_GUEST_TOKEN_AUDIENCE", "gridcast"),
    "GUEST_TOKEN_SECONDS": int(os.environ.get("SUPERSET_GUEST_TOKEN_SECONDS", "300")),
    "GUEST_ROLE": "GridcastGuest",
    # Where Gridcast writes how Superset's DuckDB reaches each lake (catalog credentials included,
    # files readable by their owner only); the generated superset_config.py reads them from here.
    "LAKES_DIR": os.environ.get("SUPERSET_LAKES_DIR", str(VAR_DIR / "superset-lakes")),
    # Origins allowed to frame Superset's dashboards (CSP frame-ancestors and embed allowed_domains).
    "EMBED_ORIGINS": env_list("SUPERSET_EMBED_ORIGINS", ",".join(CSRF_TRUSTED_ORIGINS)),
    # Sync datasets and dashboards on sheet changes (only when Superset answers).
    "AUTO_SYNC": env_bool("SUPERSET_AUTO_SYNC", True),
    "TIMEOUT": float(os.environ.get("SUPERSET_TIMEOUT", "30")),
}

# Durable background jobs (imports, formula recomputes, Superset syncs): django-tasks' database backend; the web process
# only enqueues, `manage.py jobs_worker` runs them (docs/operations.md, "Background jobs").
TASKS = {"default": {"BACKEND": "django_tasks.backends.database.DatabaseBackend"}}
JOBS_EMBEDDED_WORKER = env_bool("JOBS_EMBEDDED_WORKER", False)
# Seconds between an idle worker's looks for a job, and between its sweeps for dead workers' jobs.
JOBS_POLL_SECONDS = float(os.environ.get("JOBS_POLL_SECONDS", "0.2"))
JOBS_SWEEP_SECONDS = float(os.environ.get("JOBS_SWEEP_SECONDS", "15"))
