"""Embedded chart data made fast (issue 18), against the real Superset (`make superset`): each
Superset process attaches a lake once and gives every request a cursor of its own on it (the
reused instance still refuses what the guard refuses, carries nothing from one request to the next
and reads every new commit), and the default dashboard's metric charts read the rollup with the
events' own answers, each workspace its own."""

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from analytics.lake.connections import query
from analytics.metrics import ingest, rollup
from analytics.metrics import schema as metric_schema
from analytics.superset import client as superset_client
from analytics.superset import guest_tokens, provisioning
from analytics.superset.config import config_text
from tests.analytics.superset.test_superset_hardening import provisioned, sql_lab  # noqa: F401
from tests.analytics.superset_helpers import chart_data, stored, superset_running  # noqa: F401

REPO = Path(__file__).resolve().parents[3]


def superset_venv_python():
    spec = importlib.util.spec_from_file_location("superset_service_paths", REPO / "superset" / "service.py")
    service = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(service)
    return service.VENV / "bin" / "python"


pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("superset_running")]


def lab_row(client, database_id, sql):
    ran, text = sql_lab(client, database_id, sql)
    assert ran, text
    return json.loads(text)["data"][0]


# Superset's way of reading, in Superset's virtualenv with the generated config: a new engine with a
# NullPool for every query (models/core.py), so only the config's hook can keep anything warm.
READER = r"""
import importlib.util, json, sys, time
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

spec = importlib.util.spec_from_file_location("superset_config", sys.argv[1])
config = importlib.util.module_from_spec(spec)
spec.loader.exec_module(config)
lake, workspace = sys.argv[2], int(sys.argv[3])
attaches = []
attach = config._attach
config._attach = lambda *args: attaches.append(1) or attach(*args)

def read(sql):
    engine = create_engine("duckdb:///:memory:", poolclass=NullPool, connect_args={"gridcast_lake": lake})
    with engine.connect() as connection:
        return connection.execute(text(sql)).fetchall()

for command in sys.stdin:
    command = command.strip()
    if command == "break":
        config._warm[lake][1].close()  # as if its catalog connection died
        answer = {}
    elif command == "stale":  # the instance breaks between a connection's checkout and its query
        engine = create_engine("duckdb:///:memory:", poolclass=NullPool, connect_args={"gridcast_lake": lake})
        with engine.connect() as connection:
            config._warm[lake][1].close()
            sql = f"SELECT count(*) FROM metric_events WHERE workspace_id = {workspace}"
            (count,), = connection.execute(text(sql)).fetchall()
        answer = {"count": count}
    elif command == "idle":
        config.IDLE_SECONDS = 1
        time.sleep(7)  # the reaper looks every 5 s
        answer = {"warm": len(config._warm)}
    elif command == "count":
        (count, database, zone), = read(
            f"SELECT count(*), current_database(), current_setting('TimeZone') FROM metric_events "
            f"WHERE workspace_id = {workspace}")
        answer = {"count": count, "database": database, "zone": zone}
    else:
        try:
            read(command)
            answer = {"refused": False}
        except Exception as error:
            answer = {"refused": "RefusedStatement" in repr(error)}
    print(json.dumps({**answer, "attaches": len(attaches)}), flush=True)
"""


def test_superset_attaches_a_lake_once_per_process_and_reads_each_commit(provisioned, tmp_path):  # noqa: F811
    workspace, *_ = provisioned
    config = tmp_path / "superset_config.py"
    config.write_text(config_text(tmp_path))
    reader = subprocess.Popen(
        [str(superset_venv_python()), "-c", READER, str(config), provisioning.prefix(), str(workspace.pk)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )

    def ask(command):
        reader.stdin.write(command + "\n")
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    try:
        assert ask("count") == {"count": 4, "database": "lake", "zone": "UTC", "attaches": 1}
        ingest.events_ingest(workspace_id=workspace.pk, payload={"events": [{"metric": "orders", "value": 1}] * 2})
        # The same instance, a new transaction: the commit made since is read.
        assert ask("count") == {"count": 6, "database": "lake", "zone": "UTC", "attaches": 1}
        # What the guard refuses is refused on the reused instance too, and leaves nothing behind.
        for refused in (
            "SET TimeZone = 'Asia/Tokyo'",
            "CREATE TEMPORARY TABLE left_behind AS SELECT 1 AS a",
            "ATTACH ':memory:' AS elsewhere",
            "USE memory",
            "SELECT * FROM postgres_query('lake', 'SELECT 1')",
        ):
            assert ask(refused) == {"refused": True, "attaches": 1}, refused
        assert ask("count") == {"count": 6, "database": "lake", "zone": "UTC", "attaches": 1}
        # A broken instance is attached again for the next query, which does not fail.
        ask("break")
        assert ask("count") == {"count": 6, "database": "lake", "zone": "UTC", "attaches": 2}
        # One that breaks under a query in flight (a catalog made anew under a running Superset): the
        # query is run again, once, on a new instance.
        assert ask("stale") == {"count": 6, "attaches": 3}
        assert ask("count") == {"count": 6, "database": "lake", "zone": "UTC", "attaches": 3}
        # Unused for IDLE_SECONDS, the instance is closed (its catalog sessions with it).
        assert ask("idle") == {"warm": 0, "attaches": 3}
        assert ask("count") == {"count": 6, "database": "lake", "zone": "UTC", "attaches": 4}
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)


def test_sql_lab_on_reused_connections_keeps_the_guard(provisioned):  # noqa: F811
    client = superset_client.Client()
    database_id = stored("database", "lake").superset_id
    for refused in (
        "SET TimeZone = 'Asia/Tokyo'",
        "CREATE TEMPORARY TABLE left_behind AS SELECT 1 AS a",
        "CREATE TEMPORARY MACRO left_behind() AS 1",
        "ATTACH ':memory:' AS elsewhere",
        "USE memory",
        "SELECT * FROM read_csv('/etc/passwd')",
    ):
        ran, text = sql_lab(client, database_id, refused)
        assert not ran, (refused, text[:300])
    for _ in range(4):  # whichever worker answers
        row = lab_row(
            client,
            database_id,
            "SELECT current_database() AS db, current_setting('TimeZone') AS tz, "
            "(SELECT count(*) FROM duckdb_tables() WHERE temporary) AS temp_tables, "
            "(SELECT count(*) FROM duckdb_databases() WHERE database_name = 'elsewhere') AS elsewhere",
        )
        assert row == {"db": "lake", "tz": "UTC", "temp_tables": 0, "elsewhere": 0}


def orders_total(body):
    return sum(row["orders"] for row in body["result"][0]["data"])


def test_a_reused_connection_reads_each_new_commit(provisioned):  # noqa: F811
    workspace, owner, *_ = provisioned
    token = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)["token"]
    for added in range(1, 4):
        ingest.events_ingest(workspace_id=workspace.pk, payload={"events": [{"metric": "orders", "value": 1}]})
        for _ in range(3):  # whichever worker answers
            status, body = chart_data(token, f"ws:{workspace.pk}:orders")
            assert status == 200, body
            assert orders_total(body) == 3 + added


def test_metric_charts_read_the_rollup_with_the_events_answers(provisioned):  # noqa: F811
    workspace, owner, _, other = provisioned
    client = superset_client.Client()
    for chart, dataset in (("orders", "metrics:minute"), ("revenue", "metrics:hour")):
        answer = client.get(f"/api/v1/chart/{stored('chart', f'ws:{workspace.pk}:{chart}').superset_id}")["result"]
        assert json.loads(answer["params"])["datasource"] == f"{stored('dataset', dataset).superset_id}__table"

    # Some events folded into the rollup, newer ones not yet (the worker is behind): both count.
    rollup.refresh(metric_schema.connection())
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload={
            "events": [
                {"metric": "orders", "value": 1, "tags": {"region": "us"}},
                {"metric": "orders", "value": 1, "tags": {"region": "eu"}},
                {"metric": "revenue", "value": 2.5, "tags": {"region": "us"}},
                {"metric": "revenue", "value": 4.0, "tags": {"region": "eu"}},
            ]
        },
    )
    ingest.events_ingest(
        workspace_id=other.pk, payload={"events": [{"metric": "revenue", "value": 1000.0, "tags": {"region": "eu"}}]}
    )

    def from_events(select, metric):
        return dict(
            query(
                f"SELECT {select}, sum(value) FROM lake.metric_events "
                f"WHERE workspace_id = {workspace.pk} AND metric = '{metric}' GROUP BY 1"
            )[1]
        )

    token = guest_tokens.guest_token(user=owner, workspace_id=workspace.pk)["token"]
    status, body = chart_data(token, f"ws:{workspace.pk}:orders")
    assert status == 200, body
    minutes = {row["ts"]: row["orders"] for row in body["result"][0]["data"]}
    assert minutes == from_events("epoch_us(ts) // 60000000 * 60000", "orders")
    assert sum(minutes.values()) == 5

    status, body = chart_data(token, f"ws:{workspace.pk}:revenue")
    assert status == 200, body
    regions = {row["tag_region"]: row["revenue"] for row in body["result"][0]["data"]}
    # (The neighbour's 1,000.0 in eu, in the same rollup rows' table, is not in it.)
    assert regions == from_events("tag_region", "revenue") == {"eu": 14.0, "us": 2.5}
