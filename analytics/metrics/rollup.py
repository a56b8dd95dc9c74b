"""Rollups of metric events: partial aggregates (count, sum, min, max) per minute and per hour,
kept by the analytics worker, so that an aggregate over a long range reads thousands of rollup
rows instead of millions of events (a day of 1-minute buckets over 6M events: 160-185 ms from
the events, 47-55 ms in all from its 1,440 rollup rows, most of that the catalog's queries).

Two grains, in one table `metric_rollup` (rows of one grain have that grain's `grain` value):
- MINUTE: per workspace, metric and minute. Serves queries without tag filters, ungrouped or
  grouped by metric, with minute, hour or day buckets or none.
- HOUR: per workspace, metric, source and every promoted tag column (schema.TAG_COLUMNS).
  Serves filters on promoted tags and grouping by source or a promoted tag, with hour or day
  buckets or none.

Which events are in the rollup: those of DuckLake snapshots up to the `upto` of
`metric_rollup_state` (one row). `refresh()` folds the events of the snapshots after it (DuckLake's
`snapshot_id` column, which prunes whole files) into the rollup rows of the periods they touch,
rewriting those rows (old partials + new ones, summed), and replaces `upto`, all in one
lake transaction: a crash loses nothing and folds nothing twice. Snapshot ids grow in commit
order, so an event committed after a refresh always has a higher one.

A reader (queries.metric_aggregates.metric_aggregate) reads, in one lake transaction (one snapshot): the rollup
for the whole periods inside its range, plus the events themselves for the range's ragged ends
and for the snapshots after `upto` (the last few seconds). Its answers are the same as from the
events alone, whether or not the worker runs.

The retention (analytics/metrics/retention.py) deletes folded events and then has DuckLake rewrite
the files they leave half empty. A rewrite gives the rows it copies the rewrite's own snapshot id
(DuckLake 1.5.5; merges keep the ids), so those rows, all folded already, would look new. Before a
rewrite the retention sets `rewrite_after` in `metric_rollup_state` (the watermark then): while it
is set, the snapshots after it that are rewrites count as folded (`unfolded()`), and the next
refresh steps over them and clears it.

Only one refresh runs at a time: with a PostgreSQL catalog, `run()` (a thread of the analytics
worker) tries a session advisory lock first and skips the round when another worker holds it;
with a SQLite one, the embedded worker's own loop refreshes (writethrough.worker.run).
"""

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import psycopg
from django.conf import settings

from analytics.lake import connections as lake
from core import metrics

from . import schema
from .schema import ROLLUP, STATE, TAG_KEYS, TAG_KEYS_TABLE, tag_column

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Grain:
    seconds: int
    keys: tuple  # columns kept besides workspace_id and metric (the others are NULL)

    @property
    def micros(self) -> int:
        return self.seconds * 1_000_000


MINUTE = Grain(60, ())
HOUR = Grain(3600, ("source", *TAG_KEYS))
GRAINS = (MINUTE, HOUR)
COLUMNS = ("workspace_id", "metric", "grain", "period", "source", *TAG_KEYS, "n", "total", "lo", "hi")
# The aggregates over partial rows.
FINAL = {"sum": "sum(total)", "count": "sum(n)", "avg": "sum(total) / sum(n)", "min": "min(lo)", "max": "max(hi)"}
LOCK_KEY = 0x47437275706C  # "GCrupl"
UPKEEP_EVERY = 60  # refreshes between merges of the rollup's own small files


def grain_for(*, group_by: str | None, tags: list, bucket_seconds: int | None) -> "Grain | None":
    """The grain that can answer an aggregate grouped by `group_by` (None, "metric", "source" or a
    tag key), filtered by `tags` [(key, value)], in buckets of `bucket_seconds` (None: totals
    only); None when the events themselves must be read (a tag without a column, second buckets)."""

    def fits(grain):
        return bucket_seconds is None or bucket_seconds % grain.seconds == 0

    if not tags and group_by in (None, "metric") and fits(MINUTE):
        return MINUTE  # 60 rows an hour per metric, against one per tag combination for HOUR
    promoted = all(tag_column(key) for key, _ in tags)
    groupable = group_by in (None, "metric", "source") or tag_column(group_by)
    if promoted and groupable and fits(HOUR):
        return HOUR
    return None


def watermark(con: duckdb.DuckDBPyConnection) -> int:
    """The last snapshot whose events are in the rollup (0: none), as of con's transaction."""
    return con.execute(f"SELECT coalesce(max(upto), 0) FROM {STATE}").fetchone()[0]


def _state(con):
    """(watermark, rewrite_after or None), as of con's transaction."""
    return con.execute(f"SELECT coalesce(max(upto), 0), max(rewrite_after) FROM {STATE}").fetchone()


def _rewrites_sql(after: int | str) -> str:
    """SELECT of the retention's rewrite snapshots after `after` (a snapshot id, or SQL giving one)."""
    catalog = schema.TABLE.split(".")[0]
    after = int(after) if isinstance(after, int) else after
    return (
        f"SELECT snapshot_id FROM ducklake_snapshots('{catalog}') "
        f"WHERE snapshot_id > {after} AND map_contains(changes, 'rewrite_delete')"
    )


def unfolded(con: duckdb.DuckDBPyConnection) -> str:
    """SQL condition on metric_events selecting the events not yet in the rollup, as of con's
    transaction: those of snapshots after the watermark, except the retention's rewrites of folded
    events (while one is pending)."""
    done, rewrite_after = _state(con)
    condition = f"snapshot_id > {int(done)}"
    if rewrite_after is not None:
        condition += f" AND snapshot_id NOT IN ({_rewrites_sql(rewrite_after)})"
    return condition


def rewrite_begin(con: duckdb.DuckDBPyConnection) -> int:
    """Mark a rewrite of metric_events' files as pending (its own lake transaction, committed
    before the rewrite): from now on, rewrite snapshots after the watermark count as folded.
    Returns the watermark."""
    with lake.transaction(con):
        done, rewrite_after = _state(con)
        if rewrite_after is None:
            # (The row's time stays in SQL: DuckDB hands TIMESTAMPTZ values over through pytz.)
            con.execute(f"CREATE TEMP TABLE _rollup_state AS SELECT * FROM {STATE}")
            try:
                con.execute(f"DELETE FROM {STATE}")
                con.execute(
                    f"INSERT INTO {STATE} (upto, folded, folded_at, rewrite_after) SELECT ?, coalesce(max(folded), 0), "
                    "max(folded_at), ? FROM _rollup_state",
                    [done, done],
                )
            finally:
                con.execute("DROP TABLE IF EXISTS temp._rollup_state")
    return done


def _partials_sql(grain, where):
    keys = ", ".join(key if key in grain.keys else f"NULL::VARCHAR AS {key}" for key in ("source", *TAG_KEYS))
    grouped = ", ".join(("workspace_id", "metric", "period", *grain.keys))
    return (
        f"SELECT workspace_id, metric, {grain.seconds} AS grain, epoch_us(ts) // {grain.micros} * {grain.micros} "
        f"AS period, {keys}, count(*) AS n, sum(value) AS total, min(value) AS lo, max(value) AS hi "
        f"FROM {schema.TABLE} WHERE {where} GROUP BY {grouped}"
    )


def rolled_up_sql(grain: Grain) -> str:
    """SELECT of the metric events rolled up to `grain`, whether or not the worker keeps up: the
    rollup's rows plus the events of the snapshots after its watermark, folded as the query runs
    (one snapshot for both). A row is a partial aggregate of one period: `ts` its start, `events`
    how many, `value` their sum, `min_value` and `max_value`; so SUM(value), SUM(events),
    MIN(min_value) and MAX(max_value) over any buckets of the grain or coarser are the events' own.
    Superset's metric datasets read this (a minute of 10M events: thousands of rows, not millions)."""
    keys = "".join(f", {key}" for key in grain.keys)
    folded = f"SELECT {', '.join(COLUMNS)} FROM {ROLLUP} WHERE grain = {grain.seconds}"
    # unfolded() as the query runs: after the watermark, less a pending retention's rewrites
    rewrites = _rewrites_sql(f"(SELECT max(rewrite_after) FROM {STATE})")
    newer = _partials_sql(
        grain, f"snapshot_id > (SELECT coalesce(max(upto), 0) FROM {STATE}) AND snapshot_id NOT IN ({rewrites})"
    )
    return (
        f"SELECT workspace_id, metric, make_timestamptz(period) AS ts{keys}, n AS events, total AS value, "
        f"lo AS min_value, hi AS max_value FROM ({folded} UNION ALL {newer})"
    )


def tag_keys_sql(where: str) -> str:
    """SELECT of the distinct (workspace_id, metric, key) of the tags of the events `where` selects."""
    return (
        f"SELECT DISTINCT workspace_id, metric, key FROM (SELECT workspace_id, metric, "
        f"unnest(map_keys(tags)) AS key FROM {schema.TABLE} WHERE {where})"
    )


def _before_commit(con):
    """A seam for tests: runs inside the refresh's transaction, just before COMMIT."""


def refresh(con: duckdb.DuckDBPyConnection, rewrite_done: bool = False) -> int:
    """Fold the events committed since the last refresh into the rollup (one lake transaction).
    Returns the number of events folded (0 when there were none). While a rewrite is pending
    (rewrite_begin), its snapshots are stepped over and the mark kept; `rewrite_done` (the retention,
    once its rewrite has committed or failed) clears it, the watermark then past the rewrites."""
    schema.ensure_table(con)
    with lake.transaction(con):
        done, rewrite_after = _state(con)
        new = unfolded(con)
        upto, count = con.execute(f"SELECT max(snapshot_id), count(*) FROM {schema.TABLE} WHERE {new}").fetchone()
        keep = rewrite_after if rewrite_after is not None and not rewrite_done else None
        if rewrite_after is not None and rewrite_done:
            rewritten = con.execute(
                f"SELECT max(snapshot_id) FROM {schema.TABLE} WHERE snapshot_id > {int(done)}"
            ).fetchone()[0]
            upto = max(upto or done, rewritten or done)
        if count or (rewrite_after is not None and rewrite_done):
            if count:
                _fold(con, f"{new} AND snapshot_id <= {int(upto)}")
            con.execute(f"DELETE FROM {STATE}")  # one row: the watermark is read by every aggregate
            con.execute(
                f"INSERT INTO {STATE} (upto, folded, folded_at, rewrite_after) VALUES (?, ?, now(), ?)",
                [upto, count, keep],
            )
            _before_commit(con)
    return count


def timed_refresh(con: duckdb.DuckDBPyConnection) -> int:
    """refresh(), timed for operators; a success sets the rollup's last refresh time (its lag)."""
    with metrics.rollup_refresh.time():
        folded = refresh(con)
    metrics.rollup_last.set_to_current_time()
    return folded


def _fold(con, new):
    """Inside the refresh's transaction: the events `new` selects into the rows of the periods they
    touch (old partials + new ones, summed), and their tag keys into TAG_KEYS_TABLE."""
    try:
        con.execute("CREATE TEMP TABLE _rollup_new AS " + " UNION ALL ".join(_partials_sql(g, new) for g in GRAINS))
        con.execute("CREATE TEMP TABLE _rollup_periods AS SELECT DISTINCT grain, period FROM _rollup_new")
        keys = ", ".join(COLUMNS[:-4])
        touched = "(grain, period) IN (SELECT grain, period FROM _rollup_periods)"
        con.execute(
            f"CREATE TEMP TABLE _rollup_merged AS SELECT {keys}, sum(n) AS n, sum(total) AS total, "
            f"min(lo) AS lo, max(hi) AS hi FROM (SELECT * FROM {ROLLUP} WHERE {touched} "
            f"UNION ALL SELECT * FROM _rollup_new) GROUP BY ALL"
        )
        con.execute(f"DELETE FROM {ROLLUP} WHERE {touched}")
        con.execute(f"INSERT INTO {ROLLUP} SELECT * FROM _rollup_merged")
        con.execute(f"INSERT INTO {TAG_KEYS_TABLE} {tag_keys_sql(new)} EXCEPT SELECT * FROM {TAG_KEYS_TABLE}")
    finally:
        for table in ("_rollup_new", "_rollup_periods", "_rollup_merged"):
            con.execute(f"DROP TABLE IF EXISTS temp.{table}")


def upkeep(con: duckdb.DuckDBPyConnection) -> None:
    """Flush the watermark's inlined rows and merge the rollup's small files (every refresh writes
    one, and a delete file): on the refreshing connection, as refreshes delete rows that a merge
    elsewhere would conflict with."""
    catalog = ROLLUP.split(".")[0]
    con.execute(
        f"SELECT count(*) FROM ducklake_flush_inlined_data('{catalog}', table_name => 'metric_rollup_state')"
    ).fetchall()
    for call in ("ducklake_rewrite_data_files", "ducklake_merge_adjacent_files"):
        con.execute(f"SELECT count(*) FROM {call}('{catalog}', 'metric_rollup')").fetchall()


class _TryLock:
    """A session advisory lock on the PostgreSQL catalog, tried without waiting (always taken
    without one)."""

    def __init__(self):
        conninfo = lake.postgres_conninfo()
        self.pg = None
        if conninfo:
            self.pg = psycopg.connect(conninfo, autocommit=True)

    def acquire(self) -> bool:
        return self.pg is None or self.pg.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()[0]

    def release(self) -> None:
        if self.pg is not None:
            self.pg.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])

    def close(self) -> None:
        if self.pg is not None:
            self.pg.close()


def run(stop: threading.Event, interval: float | None = None) -> None:
    """The worker's rollup loop (a thread): refresh() every `interval` seconds until `stop`, and
    upkeep() of the rollup's files every UPKEEP_EVERY refreshes."""
    interval = settings.ANALYTICS.get("ROLLUP_SECONDS", 2.0) if interval is None else interval
    con, lock, refreshes, opened = None, None, 0, 0.0
    try:
        while not stop.wait(interval):
            try:
                if con is not None and lake.renewal_due(opened):
                    con.close()  # it grows with every commit (connections.renewal_due)
                    con = None
                if con is None:
                    con, opened = lake.connect(), time.monotonic()
                    lock = lock or _TryLock()
                    con.execute("SET TimeZone = 'UTC'")
                if not lock.acquire():
                    continue
                try:
                    started = time.perf_counter()
                    folded = timed_refresh(con)
                    if folded:
                        refreshes += 1
                        log.debug("rollup: %s events folded in %.0f ms", folded, (time.perf_counter() - started) * 1000)
                    if refreshes >= UPKEEP_EVERY:
                        refreshes = 0
                        upkeep(con)
                finally:
                    lock.release()
            except Exception as error:
                if "conflict" in str(error).lower():  # another commit (the lake's upkeep) won: next round
                    log.info("rollup refresh conflicted; it is tried again next round (%s)", error)
                    continue
                log.exception("metric rollup failed; retrying next round")
                lake.close_quietly(con, lock)
                con, lock = None, None
    finally:
        for resource in (con, lock):
            if resource is not None:
                resource.close()


@contextlib.contextmanager
def refreshes_held(wait: float = 0.0) -> Iterator[bool]:
    """Hold the rollup loop's lock (no refresh by another worker meanwhile), trying for up to `wait`
    seconds; yields whether it is held (always with a SQLite catalog, where the caller holds the
    lake's write lock instead)."""
    lock = _TryLock()
    try:
        deadline = time.monotonic() + wait
        held = lock.acquire()
        while not held and time.monotonic() < deadline:
            time.sleep(0.1)
            held = lock.acquire()
        try:
            yield held
        finally:
            if held:
                lock.release()
    finally:
        lock.close()
