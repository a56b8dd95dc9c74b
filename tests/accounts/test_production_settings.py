"""Threat: a production server started on unsafe settings (DEBUG on, a guessable SECRET_KEY, plain
HTTP cookies, no HSTS, Superset on its development secrets). `manage.py check --deploy` runs
in a subprocess on config.settings.production, as an operator would run it."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent
STRONG_KEY = secrets.token_urlsafe(64)
# Variables the test environment may carry that would change what production does.
CLEARED = (
    "DEBUG",
    "SECRET_KEY",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_COOKIES",
    "SECURE_PROXY_SSL_HEADER",
    "ACCOUNT_EMAIL_VERIFICATION",
    "SUPERSET_URL",
    "SUPERSET_SECRET_KEY",
    "SUPERSET_GUEST_TOKEN_SECRET",
    "SUPERSET_ADMIN_PASSWORD",
)


def check_deploy(**env):
    """`manage.py check --deploy --fail-level WARNING` on production settings: (exit code, output)."""
    environ = {k: v for k, v in os.environ.items() if k not in CLEARED}
    environ.update(
        DJANGO_SETTINGS_MODULE="config.settings.production",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast"),
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    )
    environ.update({k: v for k, v in env.items() if v is not None})
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


def test_check_deploy_passes_without_a_warning():
    code, output = check_deploy(SECRET_KEY=STRONG_KEY)
    assert code == 0, output
    assert "System check identified no issues" in output
    assert "WARNING" not in output and "security.W" not in output


def test_production_settings_are_https_only():
    """What check --deploy asks for, read from the settings themselves."""
    environ = {
        **{k: v for k, v in os.environ.items() if k not in CLEARED},
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": STRONG_KEY,
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Protocol",
        "DATABASE_URL": os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast"),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_PROXY_SSL_HEADER, s.ACCOUNT_EMAIL_VERIFICATION, s.DEBUG)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "True",
        "31536000",
        "True",
        "True",
        "True",
        "('HTTP_X_FORWARDED_PROTOCOL',",
        "'https')",
        "mandatory",
        "False",
    ]


@pytest.mark.parametrize("value", ["1", "true", "on"])
def test_debug_cannot_be_turned_on(value):
    code, output = check_deploy(SECRET_KEY=STRONG_KEY, DEBUG=value)
    assert code != 0
    assert "ImproperlyConfigured: DEBUG cannot be turned on in production" in output


@pytest.mark.parametrize(
    "key, why",
    [
        (None, "it is not set"),
        ("gridcast-insecure-development-key-change-me", "it is the development key"),
        ("x" * 20 + "abcdefghij", "fewer than 50"),
        ("ab" * 40, "fewer than 5 different characters"),
        ("django-insecure-" + secrets.token_urlsafe(50), "starts with 'django-insecure-'"),
    ],
)
def test_a_weak_secret_key_is_refused(key, why):
    code, output = check_deploy(SECRET_KEY=key)
    assert code != 0
    assert "ImproperlyConfigured: SECRET_KEY is too weak for production" in output and why in output, output


def test_superset_refuses_its_development_secrets():
    code, output = check_deploy(SECRET_KEY=STRONG_KEY, SUPERSET_URL="http://127.0.0.1:8088")
    assert code != 0
    assert "Superset is configured (SUPERSET_URL) with unsafe secrets" in output
    for variable in ("SUPERSET_SECRET_KEY", "SUPERSET_GUEST_TOKEN_SECRET", "SUPERSET_ADMIN_PASSWORD"):
        assert f"set {variable} (it is the development value)" in output


def test_superset_with_its_own_secrets_starts():
    strong = {
        "SUPERSET_SECRET_KEY": secrets.token_urlsafe(48),
        "SUPERSET_GUEST_TOKEN_SECRET": secrets.token_urlsafe(48),
        "SUPERSET_ADMIN_PASSWORD": secrets.token_urlsafe(16),
    }
    code, output = check_deploy(SECRET_KEY=STRONG_KEY, SUPERSET_URL="http://127.0.0.1:8088", **strong)
    assert code == 0, output

    # One left at its development value, or too short to resist guessing, is named alone.
    code, output = check_deploy(
        SECRET_KEY=STRONG_KEY,
        SUPERSET_URL="http://127.0.0.1:8088",
        **{**strong, "SUPERSET_GUEST_TOKEN_SECRET": "short-secret"},
    )
    assert code != 0
    assert "set SUPERSET_GUEST_TOKEN_SECRET (it has 12 characters, fewer than 32)" in output
    assert "SUPERSET_SECRET_KEY" not in output and "SUPERSET_ADMIN_PASSWORD" not in output


def test_superset_cookies_are_secure_when_gridcasts_are(settings):
    """Behind HTTPS (production's secure cookies), the Superset config that Gridcast writes sends
    its session cookie over HTTPS only; on the embedded default (plain HTTP on loopback) it cannot."""
    from analytics.superset.config import config_text

    settings.SESSION_COOKIE_SECURE = True
    text = config_text()
    assert "SESSION_COOKIE_SECURE = True" in text and '"session_cookie_secure": True' in text
    settings.SESSION_COOKIE_SECURE = False
    assert "SESSION_COOKIE_SECURE = False" in config_text()
