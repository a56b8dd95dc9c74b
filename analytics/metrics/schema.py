"""The metrics' schema in the lake, owned here: `metric_events` (its promoted tag columns and file
options), the rollup's tables (`metric_rollup`, `metric_rollup_state`, `metric_tag_keys`), the
retention's (`metric_retention`), their DDL, and this process's shared connection to them."""

import threading
import time

import duckdb

from analytics.lake import connections as lake

# Tags people group and filter by most get a column of their own as well as their place in
# the `tags` map: grouping by a plain VARCHAR column measured 2.7x faster than by a map element
# (25 ms against 67 ms for 250k of 10M events) and 3.5x faster than by a JSON field (86 ms).
TAG_COLUMNS = ("region", "product", "status", "host", "service")
TABLE = "lake.metric_events"
# Parquet files of metric_events are written uncompressed: every aggregate decodes millions of
# values, and on two cores Snappy's decompression was a third of a scan (over 10M events, one day
# of one workspace: group by tag 147 -> 99 ms, filtered top-N 190 -> 107 ms, 1-minute buckets
# 240 -> 145-196 ms; best of 7 on a busy machine). The price is disk: 191 MB instead of 122 MB
# per 10M events. Parquet version 2 (delta-encoded timestamps) measured no faster.
PARQUET_OPTIONS = {"parquet_compression": "uncompressed"}
ROLLUP = "lake.metric_rollup"
STATE = "lake.metric_rollup_state"
TAG_KEYS_TABLE = "lake.metric_tag_keys"  # the tag keys seen per workspace and metric (the dashboard's pickers)
TAG_KEYS = tuple(f"tag_{key}" for key in TAG_COLUMNS)
# Per workspace, the moment (epoch microseconds) before which its raw events may have been deleted
# by the retention (analytics/metrics/retention.py): aggregates answer from the rollup there.
RETENTION_TABLE = "lake.metric_retention"


def tag_column(key: str) -> str | None:
    """The column holding this tag when it has one (a name from TAG_COLUMNS, never user text)."""
    return f"tag_{key}" if key in TAG_COLUMNS else None


# --- the table -----------------------------------------------------------------------------------

_shared = None
_shared_opened = 0.0
_retired = None  # the connection replaced last (connections.renewal_due), closed at the next renewal
_shared_lock = threading.Lock()
_table_ready = False
_generation = 0  # bumped when the shared connection is replaced: cursors of older ones are dropped


def connection() -> duckdb.DuckDBPyConnection:
    """A cursor on this process's DuckLake connection (attaching costs ~250 ms; a cursor < 1 ms).
    Cursors do not inherit `USE lake`: name tables as lake.<table>."""
    global _shared, _shared_opened, _retired, _generation
    if _shared is None or lake.renewal_due(_shared_opened):
        with _shared_lock:
            if _shared is None or lake.renewal_due(_shared_opened):
                con = lake.connect()
                con.execute("SET TimeZone = 'UTC'")
                if _shared is not None:  # old: it grows with every commit; its cursors may be in use
                    lake.close_quietly(_retired)
                    _retired = _shared
                    _generation += 1  # the metric writer takes a cursor of the new one
                _shared, _shared_opened = con, time.monotonic()
    cursor = _shared.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    return cursor


def renewal_due() -> bool:
    """Whether the shared connection is old enough to be replaced (connections.renewal_due): a
    holder of a cursor takes a new one from connection(), which replaces it."""
    return _shared is not None and lake.renewal_due(_shared_opened)


def reset_connection() -> None:
    """Forget the shared connection (tests that recreate the database, forked processes)."""
    global _shared, _retired, _table_ready, _generation
    with _shared_lock:
        _generation += 1
        lake.close_quietly(_shared, _retired)
        _shared = _retired = None
        _table_ready = False


def ensure_table(con: duckdb.DuckDBPyConnection | None = None) -> None:
    global _table_ready
    if _table_ready:
        return
    con = con or connection()
    tag_columns = ", ".join(f"tag_{key} VARCHAR" for key in TAG_COLUMNS)
    with lake.write_lock():  # DDL writes the catalog (one writer at a time on SQLite)
        for attempt in range(5):
            try:
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (workspace_id BIGINT, source VARCHAR, metric VARCHAR, "
                    f"value DOUBLE, ts TIMESTAMPTZ, tags MAP(VARCHAR, VARCHAR), {tag_columns})"
                )
                existing = {row[0] for row in con.execute(f"DESCRIBE {TABLE}").fetchall()}
                promoted = [key for key in TAG_COLUMNS if f"tag_{key}" not in existing]
                for key in promoted:  # a tag promoted later: add and fill its column
                    con.execute(f"ALTER TABLE {TABLE} ADD COLUMN tag_{key} VARCHAR")
                    con.execute(f"UPDATE {TABLE} SET tag_{key} = tags[?] WHERE tags[?] IS NOT NULL", [key, key])
                _set_file_options(con)
                # The UPDATE rewrote events under new snapshot ids: the rollup is folded again.
                create_tables(con, forget=bool(promoted))
                break
            except Exception:  # another process created it at the same moment: look again
                if attempt == 4:
                    raise
                time.sleep(0.05 * (attempt + 1))
    _table_ready = True


def _set_file_options(con):
    """PARQUET_OPTIONS on metric_events (applies to files written from now on, merges included)."""
    catalog, table = TABLE.split(".")
    have = dict(
        con.execute(
            f"SELECT option_name, value FROM ducklake_options('{catalog}') WHERE scope = 'TABLE' AND scope_entry = ?",
            [f"main.{table}"],
        ).fetchall()
    )
    for name, value in PARQUET_OPTIONS.items():
        if have.get(name, "").lower() != value:
            con.execute(f"CALL ducklake_set_option('{catalog}', '{name}', '{value}', table_name => '{table}')")


def create_tables(con: duckdb.DuckDBPyConnection, forget: bool = False) -> None:
    """The rollup's tables (ensure_table calls this); `forget`: make them anew, so that
    the next refresh folds every event again (after events were rewritten, e.g. a tag promoted)."""
    if forget:
        for table in (ROLLUP, STATE, TAG_KEYS_TABLE):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    tags = "".join(f", {column} VARCHAR" for column in TAG_KEYS)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {ROLLUP} (workspace_id BIGINT, metric VARCHAR, grain INTEGER, "
        f"period BIGINT, source VARCHAR{tags}, n BIGINT, total DOUBLE, lo DOUBLE, hi DOUBLE)"
    )
    # rewrite_after: set while the retention rewrites metric_events' files (rollup.refresh explains it).
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {STATE} (upto BIGINT, folded BIGINT, folded_at TIMESTAMPTZ, rewrite_after BIGINT)"
    )
    # A lake made before the retention gets the column once: an ALTER each time made a new schema
    # version each time, and a reader of the embedded lake's inlined rows then failed
    # ("ducklake_inlined_data_3_3 does not exist").
    if "rewrite_after" not in {row[0] for row in con.execute(f"DESCRIBE {STATE}").fetchall()}:
        con.execute(f"ALTER TABLE {STATE} ADD COLUMN rewrite_after BIGINT")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {RETENTION_TABLE} (workspace_id BIGINT, horizon BIGINT, deleted BIGINT, "
        "applied_at TIMESTAMPTZ)"
    )
    con.execute(f"CREATE TABLE IF NOT EXISTS {TAG_KEYS_TABLE} (workspace_id BIGINT, metric VARCHAR, key VARCHAR)")


def connection_generation() -> int:
    """Bumped by reset_connection(): a cursor taken at an older generation must be dropped."""
    return _generation
