"""The metric rollup (analytics/metrics/rollup.py): what a refresh folds, that aggregates over whole
periods read it, that a failed refresh leaves nothing behind, and the worker's loop and lock.
(test_aggregates.py checks every aggregate against brute force with and without the rollup.)"""

import datetime as dt
import threading
import time

import psycopg
import pytest
from prometheus_client import REGISTRY

from analytics.lake import connections as lake_connections
from analytics.metrics import ingest as metrics_ingest
from analytics.metrics import rollup
from analytics.metrics import schema as metric_schema
from analytics.queries import aggregation, metric_aggregates
from tests.factories import WorkspaceFactory

UTC = dt.UTC
HOUR = dt.datetime(2026, 4, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


@pytest.fixture
def workspace(transactional_db):
    return WorkspaceFactory()


def ingest(workspace, values, start=HOUR, step=dt.timedelta(seconds=50), **tags):
    metrics_ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {"metric": "revenue", "value": value, "timestamp": (start + i * step).isoformat(), "tags": tags}
            for i, value in enumerate(values)
        ],
    )


def rollup_rows(workspace, grain):
    return (
        metric_schema.connection()
        .execute(
            f"SELECT period, source, tag_region, n, total, lo, hi FROM {rollup.ROLLUP} "
            "WHERE workspace_id = ? AND grain = ? ORDER BY ALL",
            [workspace.pk, grain.seconds],
        )
        .fetchall()
    )


def total(workspace, start, end, **params):
    query = metric_aggregates.parse_aggregate_params(
        {"metric": "revenue", "from": start.isoformat(), "to": end.isoformat(), **params}
    )
    return metric_aggregates.metric_aggregate(workspace_id=workspace.pk, query=query)["totals"]


def test_a_refresh_folds_new_events_once_into_each_grain(workspace):
    ingest(workspace, [1, 2, 3], region="eu")  # 09:00:00, 09:00:50, 09:01:40
    assert rollup.refresh(metric_schema.connection()) >= 3
    assert rollup.refresh(metric_schema.connection()) == 0  # nothing new: nothing folded again
    assert rollup_rows(workspace, rollup.MINUTE) == [
        (aggregation.epoch_us(HOUR), None, None, 2, 3.0, 1.0, 2.0),
        (aggregation.epoch_us(HOUR) + 60_000_000, None, None, 1, 3.0, 3.0, 3.0),
    ]
    assert rollup_rows(workspace, rollup.HOUR) == [(aggregation.epoch_us(HOUR), "api", "eu", 3, 6.0, 1.0, 3.0)]

    ingest(workspace, [10], start=HOUR + dt.timedelta(seconds=30), region="eu")  # the same minute and hour
    ingest(workspace, [5], region="us")
    rollup.refresh(metric_schema.connection())
    # The periods touched are rewritten: one row per key, old and new partials summed.
    assert rollup_rows(workspace, rollup.MINUTE)[0] == (aggregation.epoch_us(HOUR), None, None, 4, 18.0, 1.0, 10.0)
    assert rollup_rows(workspace, rollup.HOUR) == [
        (aggregation.epoch_us(HOUR), "api", "eu", 4, 16.0, 1.0, 10.0),
        (aggregation.epoch_us(HOUR), "api", "us", 1, 5.0, 5.0, 5.0),
    ]


def test_aggregates_over_whole_periods_read_the_rollup(workspace):
    ingest(workspace, [1, 2, 3], region="eu")
    rollup.refresh(metric_schema.connection())
    con = metric_schema.connection()
    # A row that only the rollup has (never written like this: it shows where the answer comes from).
    con.execute(
        f"INSERT INTO {rollup.ROLLUP} (workspace_id, metric, grain, period, source, tag_region, n, total, lo, hi)"
        " VALUES (?, 'revenue', 3600, ?, 'api', 'eu', 1, 1000, 1000, 1000)",
        [workspace.pk, aggregation.epoch_us(HOUR + dt.timedelta(hours=1))],
    )
    whole_hours = total(workspace, HOUR, HOUR + dt.timedelta(hours=2), group_by="region")
    assert whole_hours == [{"group": "eu", "value": 1006.0}]
    # A range without a whole hour reads the events alone.
    ragged = total(
        workspace, HOUR + dt.timedelta(minutes=59), HOUR + dt.timedelta(hours=1, minutes=59), group_by="region"
    )
    assert ragged == []


def test_a_failed_refresh_changes_nothing_and_the_next_folds_everything_once(workspace, monkeypatch):
    ingest(workspace, [1, 2, 3])
    rollup.refresh(metric_schema.connection())
    ingest(workspace, [4, 5])
    before = rollup_rows(workspace, rollup.MINUTE)

    def crash(con):
        raise RuntimeError("the worker died")

    monkeypatch.setattr(rollup, "_before_commit", crash)
    with pytest.raises(RuntimeError):
        rollup.refresh(metric_schema.connection())
    assert rollup_rows(workspace, rollup.MINUTE) == before
    monkeypatch.undo()
    assert rollup.refresh(metric_schema.connection()) >= 2
    assert sum(row[4] for row in rollup_rows(workspace, rollup.MINUTE)) == 15.0
    assert total(workspace, HOUR, HOUR + dt.timedelta(hours=1)) == [{"group": None, "value": 15.0}]


def test_the_worker_loop_refreshes_unless_another_holds_the_lock(workspace):
    ingest(workspace, [7])
    refreshes = REGISTRY.get_sample_value("gridcast_rollup_refresh_seconds_count") or 0
    conninfo = lake_connections.postgres_conninfo()
    holder = psycopg.connect(conninfo, autocommit=True)
    stop = threading.Event()
    loop = threading.Thread(target=rollup.run, args=(stop, 0.05))
    try:
        holder.execute("SELECT pg_advisory_lock(%s)", [rollup.LOCK_KEY])  # another worker's refresh
        loop.start()
        time.sleep(0.5)
        assert rollup_rows(workspace, rollup.MINUTE) == []
        holder.execute("SELECT pg_advisory_unlock(%s)", [rollup.LOCK_KEY])
        deadline = time.monotonic() + 10
        while not rollup_rows(workspace, rollup.MINUTE):
            assert time.monotonic() < deadline, "the loop did not refresh"
            time.sleep(0.05)
    finally:
        stop.set()
        loop.join(10)
        holder.close()
    assert [row[4] for row in rollup_rows(workspace, rollup.MINUTE)] == [7.0]
    # What operators see of it (/metrics): refreshes timed, and the last one's time (the rollup's lag).
    assert (REGISTRY.get_sample_value("gridcast_rollup_refresh_seconds_count") or 0) > refreshes
    assert abs(REGISTRY.get_sample_value("gridcast_rollup_last_refresh_timestamp_seconds") - time.time()) < 60
