"""The backup tests' installation (populate.py) in the suite's test database, and helpers that run
manage.py and the fingerprint script as other installations, in processes of their own."""

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from analytics.metrics import schema as metric_schema

from .populate import populate

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def installation(writer):
    yield populate(writer)
    metric_schema.reset_connection()


def environment(**changes) -> dict:
    """This environment for a process of another installation: the suite's settings, its own names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "ANALYTICS_"))}
    env.update(DJANGO_SETTINGS_MODULE="config.settings.test", PYTHONUNBUFFERED="1")
    env.update(changes)
    return env


def run(args, env, check=True) -> subprocess.CompletedProcess:
    done = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=180)
    if check and done.returncode:
        raise AssertionError(f"{args} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


def manage(*args, env, check=True) -> subprocess.CompletedProcess:
    return run([sys.executable, "manage.py", *map(str, args)], env, check)


def fingerprint_of(env) -> dict:
    return json.loads(run([sys.executable, "-m", "tests.analytics.backup.fingerprint"], env).stdout)


def admin_conninfo(dbname="postgres") -> str:
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        dbname=dbname, host=db["HOST"] or "127.0.0.1", port=str(db["PORT"] or 5432), user=db["USER"] or "postgres"
    )


@contextlib.contextmanager
def empty_database(suffix: str):
    """A new, empty PostgreSQL database beside the test database: its URL; dropped at the end."""
    db = settings.DATABASES["default"]
    name = f"{db['NAME']}_{suffix}"
    with psycopg.connect(admin_conninfo(), autocommit=True) as pg:
        pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}", name
    finally:
        with psycopg.connect(admin_conninfo(), autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
