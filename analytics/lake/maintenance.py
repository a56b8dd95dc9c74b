"""Upkeep of the lake's files, run by the analytics worker every ANALYTICS["MAINTENANCE_SECONDS"]
on a DuckDB connection of its own (so it never holds up the writer's batches):

1. Flush the rows that small inserts inline in the catalog (INLINED) to Parquet, so the inlined
   tables that every read of those tables scans stay small.
2. Merge small Parquet files. Every flush, large write-through batch and group commit of metric
   events adds one small file to its table, and a read lists and opens every file of the tables it scans:
   a sheet's view (which reads `cell_events` after the sheet's watermark) measured ~0.2 ms per
   file of `cell_events`, 52 ms at 230 files and 6 ms after a merge. `ducklake_merge_adjacent_files`
   rewrites the small files of a table as one and commits that as its own snapshot; it ran beside
   a writer appending 30 times a second without a conflict (it changes no rows). Files already
   larger than MERGE_MAX_FILE_BYTES are left alone, so a big metrics file is not rewritten for
   every few new events.
3. Once a minute, expire snapshots older than ANALYTICS["SNAPSHOT_RETENTION_SECONDS"] and delete the files that
   only they referenced (the small files merged above, old base tables of compacted sheets).
   Gridcast reads only the latest snapshot (no time travel), and a read holds its snapshot for
   the length of one query, far less than the retention.

Passes of other domains run at the start of a round on the same connection (`passes`, given by the
worker: the metrics' retention, analytics/metrics/retention.py), so that the files they free are
expired by this same loop.

`python manage.py analytics_worker` runs it; `maintain()` can also be called by hand (or by a
bench that runs no worker) on any lake connection.
"""

import logging
import threading
import time
from collections.abc import Callable, Sequence

import duckdb
from django.conf import settings

from .connections import connect, write_lock

log = logging.getLogger(__name__)

TABLES = ("cell_events", "sheet_versions", "sheet_state", "writer_state", "metric_events", "cell_history")
MERGE_MAX_FILE_BYTES = 64 * 1024 * 1024
# Tables whose small inserts DuckLake inlines in the catalog: the write-through's (see
# lake.schema.ensure_schema), and metric batches of up to 10 events (DuckLake's default).
INLINED = ("cell_events", "sheet_versions", "sheet_state", "metric_events", "cell_history")
# Each round of the worker's upkeep is a dozen catalog transactions, and every one can make a
# sheet batch committing at that moment retry: merge a table once it has this many files (reads
# skip files by their statistics), expire snapshots once a minute.
MERGE_FROM_FILES = 8
EXPIRE_SECONDS = 60


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


def _flush(con, catalog, table):
    try:
        con.execute(
            f"SELECT count(*) FROM ducklake_flush_inlined_data('{catalog}', table_name => '{table}')"
        ).fetchall()
    except Exception as error:  # a concurrent change of the same rows: next time
        if "conflict" not in str(error).lower():
            raise
        log.info("flushing %s conflicted; it is tried again next round (%s)", table, error)


def maintain(
    con: duckdb.DuckDBPyConnection,
    retention: float | None = None,
    catalog: str = "lake",
    expire: bool = True,
    merge_from: int = 2,
) -> dict[str, int]:
    """Flush inlined rows, merge the small files of the lake's append-heavy tables (those with at
    least `merge_from` files), then, with `expire`, expire old snapshots and delete the files no
    snapshot needs. Returns {table: files before merge} of the tables merged."""
    retention = _setting("SNAPSHOT_RETENTION_SECONDS", 600) if retention is None else retention
    existing = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'", [catalog]
        ).fetchall()
    }
    merged = {}
    for table in TABLES:
        if table not in existing:
            continue
        if table in INLINED:
            _flush(con, catalog, table)
        files = con.execute(f"SELECT count(*) FROM ducklake_list_files('{catalog}', '{table}')").fetchone()[0]
        if files < merge_from:
            continue
        try:
            con.execute(
                f"SELECT count(*) FROM ducklake_merge_adjacent_files('{catalog}', '{table}', "
                f"max_file_size => {MERGE_MAX_FILE_BYTES})"
            ).fetchall()
            merged[table] = files
        except Exception as error:  # a concurrent change of the same files: next time
            if "conflict" not in str(error).lower():
                raise
            log.info("merging %s conflicted; it is tried again next round (%s)", table, error)
    if not expire:
        return merged
    # (Selected through count(*): the CALLs return timestamps, which DuckDB hands over through pytz.)
    con.execute(
        f"SELECT count(*) FROM ducklake_expire_snapshots('{catalog}', "
        f"older_than => now() - to_seconds({float(retention)}))"
    ).fetchall()
    con.execute(
        f"SELECT count(*) FROM ducklake_cleanup_old_files('{catalog}', "
        f"older_than => now() - to_seconds({float(retention)}))"
    ).fetchall()
    return merged


def run(
    stop: threading.Event,
    interval: float | None = None,
    passes: Sequence[Callable[[duckdb.DuckDBPyConnection], None]] = (),
) -> None:
    """The worker's maintenance loop (a thread): the `passes` (each keeps its own schedule), then
    maintain(), every `interval` seconds until `stop`. A failed pass is logged and does not keep
    the files from being merged and expired."""
    interval = _setting("MAINTENANCE_SECONDS", 5.0) if interval is None else interval
    con, expired = None, time.monotonic()
    try:
        while not stop.wait(interval):
            try:
                if con is None:
                    con = connect()
                    # One core: a round's merges would otherwise take both, and hold up the
                    # writer's batches on a small machine.
                    con.execute("SET threads = 1")
                for upkeep in passes:
                    try:
                        upkeep(con)
                    except Exception:
                        log.exception("lake maintenance: %s failed; retrying next round", upkeep)
                started = time.perf_counter()
                expire = time.monotonic() - expired >= EXPIRE_SECONDS
                with write_lock():  # a SQLite catalog: one writer at a time (see lake.write_lock)
                    merged = maintain(con, expire=expire, merge_from=MERGE_FROM_FILES)
                if expire:
                    expired = time.monotonic()
                if merged:
                    log.debug("lake maintenance: merged %s in %.0f ms", merged, (time.perf_counter() - started) * 1000)
            except Exception:
                log.exception("lake maintenance failed; retrying next round")
                if con is not None:
                    try:
                        con.close()
                    except Exception:
                        pass
                con = None
    finally:
        if con is not None:
            con.close()
