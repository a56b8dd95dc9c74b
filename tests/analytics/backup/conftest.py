"""An installation worth backing up: a workspace with a sheet edited several times (its operation
log, the lake's sheet view and cell history, partly flushed to Parquet files, partly inlined in the
catalog), and metric events (a Parquet file and an inlined batch) folded into rollups. Helpers run
manage.py and the fingerprint script as other installations, in processes of their own."""

import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from accounts.models import Role
from analytics.lake import connections as lake_connections
from analytics.lake.maintenance import maintain
from analytics.metrics import ingest as metrics_ingest
from analytics.metrics import rollup
from analytics.metrics import schema as metric_schema
from sheets import services
from sheets.models import Row
from tests.factories import WorkspaceFactory, make_sheet, member

REPO = Path(__file__).resolve().parents[3]
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def installation(writer):
    workspace = WorkspaceFactory()
    owner = member(workspace, Role.OWNER)
    editor = member(workspace, Role.EDITOR)
    sheet = make_sheet(workspace, owner, rows=4)
    other = make_sheet(workspace, owner, rows=2, name="Stock")
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("id", flat=True))
    for i, row in enumerate(rows):
        services.cells_update(
            sheet=sheet,
            actor=owner,
            cells=[{"row": row, "col": "c1", "value": f"Customer {i}"}, {"row": row, "col": "c2", "value": 10.5 * i}],
        )
    writer.catch_up()
    con = lake_connections.connect()
    try:
        with lake_connections.write_lock():
            maintain(con, expire=False, merge_from=1000)  # the events so far into Parquet files
    finally:
        con.close()
    # Later edits stay inlined in the catalog.
    services.cells_update(sheet=sheet, actor=editor, cells=[{"row": rows[0], "col": "c7", "value": "shipped"}])
    services.cells_update(sheet=other, actor=owner, cells=[{"row": other.rows.first().id, "col": "c3", "value": 7}])
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[-1]])
    writer.catch_up()
    metric_schema.reset_connection()
    metrics_ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {
                "metric": "revenue",
                "value": i * 1.5,
                "timestamp": (START + dt.timedelta(minutes=i)).isoformat(),
                "tags": {"region": "eu" if i % 2 else "us"},
            }
            for i in range(200)
        ],
    )
    metrics_ingest.events_ingest(
        workspace_id=workspace.pk, payload=[{"metric": "orders", "value": 1, "timestamp": START.isoformat()}]
    )
    assert rollup.refresh(metric_schema.connection()) == 201
    yield workspace, sheet
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
