"""The metric retention (analytics/metrics/retention.py): a workspace's raw events older than its
metric_retention_days are deleted once folded in the rollup, never another workspace's; aggregates
over the old range answer the same from the rollup; the lake's files are rewritten and reclaimed;
the rollup never counts a rewritten event twice; the worker's maintenance loop and
`manage.py apply_retention` run it."""

import datetime as dt
import io
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from analytics.lake import connections as lake_connections
from analytics.lake import maintenance
from analytics.metrics import ingest as metrics_ingest
from analytics.metrics import retention, rollup
from analytics.metrics import schema as metric_schema
from analytics.queries import metric_aggregates
from tests.analytics.metric_helpers import stored
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.usefixtures("lake_files")

UTC = dt.UTC
NOW = dt.datetime.now(UTC)
# Ten days ago, on a whole hour: older than a 7-day retention, younger than a 30-day one.
OLD = (NOW - dt.timedelta(days=10)).replace(minute=0, second=0, microsecond=0)
RECENT = (NOW - dt.timedelta(hours=2)).replace(second=0, microsecond=0)


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


@pytest.fixture
def kept_7_days(transactional_db):
    return WorkspaceFactory(metric_retention_days=7)


@pytest.fixture
def kept_30_days(transactional_db):
    return WorkspaceFactory(metric_retention_days=30)


def events(start, count, step=dt.timedelta(seconds=7), value=lambda i: i * 0.25):
    regions = ("eu", "us", "apac")
    return [
        {
            "metric": "revenue",
            "value": value(i),
            "timestamp": (start + i * step).isoformat(),
            # A note of its own per event: the deleted events' bytes are what they weigh, not a
            # dictionary's share.
            "tags": {"region": regions[i % 3], "customer": f"c{i % 4}", "note": f"{start:%H%M}-{i:06d}-" + "x" * 30},
        }
        for i in range(count)
    ]


def ingest(workspace, batch):
    metrics_ingest.events_ingest(workspace_id=workspace.pk, payload=batch)


def raw_between(workspace, start, end):
    return (
        metric_schema.connection()
        .execute(
            f"SELECT count(*) FROM {metric_schema.TABLE} WHERE workspace_id = ? AND ts >= ? AND ts < ?",
            [workspace.pk, start, end],
        )
        .fetchone()[0]
    )


def answer(workspace, start, end, **params):
    query = metric_aggregates.parse_aggregate_params(
        {"metric": "revenue", "from": start.isoformat(), "to": end.isoformat(), **params}
    )
    result = metric_aggregates.metric_aggregate(workspace_id=workspace.pk, query=query)
    return {"totals": result["totals"], "series": result["series"]}


OLD_QUERIES = [
    {"agg": agg, "bucket": bucket}
    for agg in ("sum", "count", "avg", "min", "max")
    for bucket in (None, "minute", "hour", "day")
] + [
    {"agg": "sum", "group_by": "region", "bucket": "hour"},  # a promoted tag: the hourly rollup
    {"agg": "count", "tag": "region:eu"},
    {"agg": "sum", "group_by": "source"},
]


def old_answers(workspace):
    start, end = OLD - dt.timedelta(hours=1), OLD + dt.timedelta(hours=3)
    return [answer(workspace, start, end, **params) for params in OLD_QUERIES]


def metric_files():
    """{path: bytes} of metric_events' Parquet files on disk."""
    folder = lake_connections.data_path() / "main" / "metric_events"
    files = list(Path(folder).rglob("*.parquet")) if folder.exists() else []
    return {str(p): p.stat().st_size for p in files}


def rows_in_files(con):
    """The rows the data files of metric_events hold (deleted ones included), read from the files."""
    files = [
        row[0] for row in con.execute("SELECT data_file FROM ducklake_list_files('lake', 'metric_events')").fetchall()
    ]
    if not files:
        return 0
    return con.execute("SELECT count(*) FROM read_parquet(?)", [files]).fetchone()[0]


def test_old_events_go_their_rollups_stay_and_answers_do_not_change(kept_7_days, kept_30_days, settings):
    # Every file is merged into one below, of which the 7-day workspace's old events are only a part
    # (beside the events of other tests): any file with deletes is rewritten.
    settings.ANALYTICS = {**settings.ANALYTICS, "RETENTION_REWRITE_THRESHOLD": 0.0}
    # One batch of old and recent events each (one Parquet file each: old rows mostly), and an
    # old-only batch: 10 days old is past 7 days, not past 30.
    for workspace in (kept_7_days, kept_30_days):
        ingest(workspace, events(OLD, 1500) + events(RECENT, 100))
        ingest(workspace, events(OLD + dt.timedelta(hours=1), 500, value=lambda i: float(i)))
    con = metric_schema.connection()
    rollup.refresh(con)
    maintenance.maintain(con, retention=0)  # a clean start: what is on disk is what is referenced
    before = {w.pk: old_answers(w) for w in (kept_7_days, kept_30_days)}
    catalog_before = metric_aggregates.metric_catalog(workspace_id=kept_7_days.pk)
    recent_before = answer(kept_7_days, RECENT, NOW + dt.timedelta(minutes=1), bucket="minute")
    on_disk_before = metric_files()
    rows_in_files_before = rows_in_files(con)
    assert stored(kept_7_days.pk) == stored(kept_30_days.pk) == 2100

    outcomes, reclaimed = retention.apply(con)

    by_workspace = {o.workspace_id: o for o in outcomes}
    assert by_workspace[kept_7_days.pk].deleted == 2000 and by_workspace[kept_7_days.pk].waiting == 0
    assert by_workspace[kept_30_days.pk].deleted == 0
    # The 7-day workspace's old raw events are gone, its recent ones kept; the other untouched.
    assert raw_between(kept_7_days, OLD - dt.timedelta(days=1), OLD + dt.timedelta(days=1)) == 0
    assert stored(kept_7_days.pk) == 100
    assert stored(kept_30_days.pk) == 2100
    # Charts over the old range answer the same, from the rollups; the recent range as before.
    assert old_answers(kept_7_days) == before[kept_7_days.pk]
    assert old_answers(kept_30_days) == before[kept_30_days.pk]
    assert answer(kept_7_days, RECENT, NOW + dt.timedelta(minutes=1), bucket="minute") == recent_before
    assert metric_aggregates.metric_catalog(workspace_id=kept_7_days.pk)["metrics"][0]["count"] == 2100
    assert metric_aggregates.metric_catalog(workspace_id=kept_7_days.pk) == catalog_before
    # The rewrite re-stamped the rows it copied; the rollup does not take them for new events.
    assert reclaimed.files_rewritten >= 1, reclaimed
    assert rollup.refresh(con) == 0
    assert old_answers(kept_30_days) == before[kept_30_days.pk]

    # Reclaimed: the files the rewrite replaced leave the disk once their snapshots expire (the
    # rows the files hold drop by the 2,000 deleted events; no delete file is left).
    assert on_disk_before.keys() <= metric_files().keys()  # not yet: a read may still use them
    maintenance.maintain(con, retention=0)
    on_disk_after = metric_files()
    gone = on_disk_before.keys() - on_disk_after.keys()
    assert gone, (on_disk_before, on_disk_after)
    assert rows_in_files(con) == rows_in_files_before - 2000
    assert (
        con.execute(
            "SELECT count(*) FROM ducklake_list_files('lake', 'metric_events') WHERE delete_file IS NOT NULL"
        ).fetchone()[0]
        == 0
    )
    # (Not asserted on bytes: a file's first rewrite adds 8 bytes of row id per row, which can
    # outweigh the deleted events when other tests' small events share the file; bench/README.md.)
    assert old_answers(kept_7_days) == before[kept_7_days.pk]
    assert old_answers(kept_30_days) == before[kept_30_days.pk]

    # A second pass has nothing left to do.
    outcomes, reclaimed = retention.apply(con)
    assert sum(o.deleted for o in outcomes) == 0 and reclaimed.files_rewritten == 0


def test_events_not_yet_in_the_rollup_are_kept_until_folded(kept_7_days):
    ingest(kept_7_days, events(OLD, 30))
    con = metric_schema.connection()
    rollup.refresh(con)
    ingest(kept_7_days, events(OLD + dt.timedelta(minutes=30), 20))  # arrived late, not folded yet
    outcome = retention.workspace_apply(con, workspace_id=kept_7_days.pk, days=7)
    assert (outcome.deleted, outcome.waiting) == (30, 20)
    assert stored(kept_7_days.pk) == 20
    # Before the next refresh, the old range still counts all 50 (rollup + the unfolded events).
    assert answer(kept_7_days, OLD, OLD + dt.timedelta(hours=1), agg="count")["totals"][0]["value"] == 50
    rollup.refresh(con)
    outcome = retention.workspace_apply(con, workspace_id=kept_7_days.pk, days=7)
    assert (outcome.deleted, outcome.waiting) == (20, 0)
    assert stored(kept_7_days.pk) == 0
    assert answer(kept_7_days, OLD, OLD + dt.timedelta(hours=1), agg="count")["totals"][0]["value"] == 50


def test_a_ragged_range_before_the_horizon_answers_in_whole_minutes(kept_7_days):
    ingest(kept_7_days, events(OLD, 60, step=dt.timedelta(seconds=10), value=lambda i: 1.0))  # 10 minutes
    con = metric_schema.connection()
    retention.apply(con)
    assert stored(kept_7_days.pk) == 0
    # 00:30 to 02:30 past OLD's minute: whole minutes from the rollup (6 events a minute).
    start, end = OLD + dt.timedelta(seconds=30), OLD + dt.timedelta(minutes=2, seconds=30)
    assert answer(kept_7_days, start, end, agg="count")["totals"] == [{"group": None, "value": 18}]
    # Second buckets and tags without a column of their own need the raw events: gone.
    assert answer(kept_7_days, OLD, OLD + dt.timedelta(minutes=10), agg="count", group_by="customer")["totals"] == []


def superset_totals(con, workspace):
    """Events and sum of the workspace's events older than RECENT + 30 s, as Superset's metric
    datasets read them (rolled_up_sql: the rollup and the events after its watermark)."""
    return [
        con.execute(
            f"SELECT sum(events), sum(value) FROM ({rollup.rolled_up_sql(grain)}) WHERE workspace_id = ? AND ts < ?",
            [workspace.pk, RECENT + dt.timedelta(seconds=30)],
        ).fetchone()
        for grain in rollup.GRAINS
    ]


def test_a_pending_rewrite_is_never_counted_twice(kept_30_days):
    ingest(kept_30_days, events(OLD, 300) + events(RECENT, 10))
    con = metric_schema.connection()
    rollup.refresh(con)
    before = old_answers(kept_30_days)
    superset_before = superset_totals(con, kept_30_days)
    # Some of the batch deleted (as by another workspace's retention), then its file rewritten.
    con.execute(
        f"DELETE FROM {metric_schema.TABLE} WHERE workspace_id = ? AND ts >= ?",
        [kept_30_days.pk, RECENT + dt.timedelta(seconds=30)],
    )
    rollup.rewrite_begin(con)
    con.execute(
        "SELECT count(*) FROM ducklake_rewrite_data_files('lake', 'metric_events', delete_threshold => 0)"
    ).fetchall()
    rewritten = con.execute(
        f"SELECT count(*) FROM {metric_schema.TABLE} WHERE workspace_id = ? AND snapshot_id > ?",
        [kept_30_days.pk, rollup.watermark(con)],
    ).fetchone()[0]
    assert rewritten > 0  # re-stamped: newer than the watermark
    assert old_answers(kept_30_days) == before  # while pending, not counted again
    assert superset_totals(con, kept_30_days) == superset_before  # nor by Superset's rollup datasets
    assert rollup.refresh(con) == 0  # a refresh meanwhile steps over them and keeps the mark
    assert old_answers(kept_30_days) == before
    rollup.refresh(con, rewrite_done=True)
    assert rollup.watermark(con) >= con.execute(f"SELECT max(snapshot_id) FROM {metric_schema.TABLE}").fetchone()[0]
    assert old_answers(kept_30_days) == before
    assert rollup.unfolded(con) == f"snapshot_id > {rollup.watermark(con)}"


def test_the_command_counts_dry_then_deletes(kept_7_days, kept_30_days):
    ingest(kept_7_days, events(OLD, 40))
    ingest(kept_30_days, events(OLD, 40))
    rollup.refresh(metric_schema.connection())
    out = io.StringIO()
    call_command("apply_retention", "--dry-run", stdout=out)
    assert f"workspace {kept_7_days.pk} (7 days" in out.getvalue() and "would delete 40 events" in out.getvalue()
    assert stored(kept_7_days.pk) == 40
    out = io.StringIO()
    call_command("apply_retention", "--workspace", str(kept_30_days.pk), stdout=out)
    assert "deleted 0 raw metric events" in out.getvalue()
    out = io.StringIO()
    call_command("apply_retention", stdout=out)
    assert "deleted 40 raw metric events" in out.getvalue()
    assert stored(kept_7_days.pk) == 0 and stored(kept_30_days.pk) == 40
    forever = WorkspaceFactory()
    out = io.StringIO()
    call_command("apply_retention", "--workspace", str(forever.pk), stdout=out)
    assert "keeps its metric events forever" in out.getvalue()
    with pytest.raises(CommandError, match="no workspace"):
        call_command("apply_retention", "--workspace", str(forever.pk + 1000), stdout=io.StringIO())


def test_the_maintenance_loop_runs_the_retention(kept_7_days):
    ingest(kept_7_days, events(OLD, 25))
    rollup.refresh(metric_schema.connection())
    stop = threading.Event()
    loop = threading.Thread(
        target=maintenance.run, args=(stop, 0.05), kwargs={"passes": (retention.Pass(every=3600),)}, daemon=True
    )
    loop.start()
    try:
        deadline = time.monotonic() + 20
        while stored(kept_7_days.pk):
            assert time.monotonic() < deadline, "the loop did not apply the retention"
            time.sleep(0.1)
    finally:
        stop.set()
        loop.join(20)
    assert answer(kept_7_days, OLD, OLD + dt.timedelta(hours=1), agg="count")["totals"][0]["value"] == 25
