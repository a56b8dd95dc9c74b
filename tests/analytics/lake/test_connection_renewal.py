"""Threat: a process that holds DuckDB connections for hours grows without end (DuckDB keeps a
few KB for each commit a connection makes or sees until it is closed; bench/soak.py saw the
analytics worker's heap grow ~2.4 MB a minute). Every long-lived lake connection is replaced once
it is ANALYTICS["DUCKDB_RENEW_SECONDS"] old: a reading thread's, the writer's (between steps) and
the shared metrics connection (whose cursors in use keep working until the next renewal). The
data written before and after a renewal are all there."""

import time

import duckdb
import pytest

from analytics.lake import connections as lake_connections
from analytics.metrics import ingest
from analytics.metrics import schema as metric_schema
from sheets import services
from tests.analytics.metric_helpers import stored
from tests.analytics.sheet_lake import assert_lake_matches
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def renew_after(settings):
    def renew(seconds):
        settings.ANALYTICS = {**settings.ANALYTICS, "DUCKDB_RENEW_SECONDS": seconds}

    yield renew
    lake_connections.close()
    metric_schema.reset_connection()


def closed(con):
    try:
        con.execute("SELECT 1")
    except duckdb.ConnectionException:
        return True
    return False


def test_a_reading_threads_connection_is_replaced_once_old(lake_files, renew_after):
    renew_after(3600)
    lake_connections.ping()
    first = lake_connections._local.con
    lake_connections.ping()
    assert lake_connections._local.con is first

    renew_after(0.05)
    time.sleep(0.1)
    assert lake_connections.ping() >= 0
    assert lake_connections._local.con is not first and closed(first)

    renew_after(0)  # never
    second = lake_connections._local.con
    time.sleep(0.1)
    lake_connections.ping()
    assert lake_connections._local.con is second


def test_the_writers_connection_is_replaced_between_steps_and_nothing_is_lost(writer, workspace, owner, renew_after):
    sheet = make_sheet(workspace, owner, columns=[{"name": "Item", "type": "text"}])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "before"}])
    writer.catch_up()
    first = writer.con
    renew_after(3600)
    assert not writer.renew_connection()

    renew_after(0.05)
    time.sleep(0.1)
    assert writer.renew_connection() and writer.con is not first and closed(first)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "after"}])
    writer.catch_up()
    assert_lake_matches(sheet.pk)


def test_the_shared_metrics_connection_is_replaced_and_its_cursors_in_use_go_on(lake_files, workspace, renew_after):
    renew_after(3600)
    ingest.events_ingest(workspace_id=workspace.pk, payload=[{"metric": "orders", "value": 1}])
    in_use, generation = metric_schema.connection(), metric_schema.connection_generation()

    renew_after(0.05)
    time.sleep(0.1)
    assert metric_schema.renewal_due()
    metric_schema.connection()  # replaces it
    assert metric_schema.connection_generation() == generation + 1 and not metric_schema.renewal_due()
    assert in_use.execute("SELECT 1").fetchone() == (1,)  # a cursor in use is not cut off
    # The metric writer moves to the new connection at its next commit.
    ingest.events_ingest(workspace_id=workspace.pk, payload=[{"metric": "orders", "value": 2}])
    assert stored(workspace.pk) == 2

    time.sleep(0.1)
    metric_schema.connection()  # the next renewal closes the one replaced before
    assert closed(in_use)
    assert stored(workspace.pk, fresh=True) == 2
