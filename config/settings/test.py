"""The test suite: real PostgreSQL and Redis, defaulting to the local servers."""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
# The installation's name (channel-layer and cache prefixes) is the suite's database as given, so
# the server processes some tests start (their DATABASE_URL names the test database) share it.
os.environ.setdefault(
    "GRIDCAST_INSTALLATION", os.environ["DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0] or "gridcast"
)

from .base import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
WHITENOISE_USE_FINDERS = True

# Sheets made by the suite are not synced to Superset in the background; its tests sync explicitly
# or turn this on.
# No formula tick at the jobs worker's sweep in the suite (its tests call formulas_tick); opening a sheet still checks.
GRIDCAST = {**GRIDCAST, "FORMULA_TICKER_SECONDS": 0}  # noqa: F405

SUPERSET = {**SUPERSET, "AUTO_SYNC": env_bool("SUPERSET_AUTO_SYNC", False)}  # noqa: F405
