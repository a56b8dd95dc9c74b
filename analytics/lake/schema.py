"""The sheet lake's schema, owned here: the write-through's tables (`cell_events`, `sheet_state`,
`writer_state`, `sheet_versions`, `cell_history`), each sheet's base table and view, their names
and DDL, and the SQL of a sheet's view (base + events after its watermark). The design is in
analytics/writethrough/."""

import re
from typing import Any, Protocol

import duckdb

from sheets.column_types import duckdb_type, value_type

from .connections import postgres_conninfo, write_lock

RESERVED_NAMES = {"_row", "_position", "workspace_id"}


class SheetShape(Protocol):
    """What the view's SQL needs of a sheet's state (writethrough.state.SheetState)."""

    sheet_id: int
    workspace_id: int
    watermark: int
    columns: dict
    base_keys: list


def view_name(sheet_id: int) -> str:
    """The unqualified name of the sheet's view (on a connection that `USE lake`)."""
    return f"sheet_{int(sheet_id)}"


def sheet_view_name(sheet_id: int) -> str:
    """The qualified name of the sheet's view, e.g. `lake.sheet_42`: `_row`, `_position`,
    `workspace_id` and one typed column per active column of the sheet (names sanitised)."""
    return f"lake.{view_name(sheet_id)}"


def base_name(sheet_id: int) -> str:
    return f"sheet_{int(sheet_id)}_base"


def quote_name(name: str) -> str:
    """A name as an SQL identifier (names from the lake's own state, never from requests)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


def column_names(columns: dict[str, dict[str, Any]]) -> dict[str, str]:
    """{key: SQL column name} for the active columns: lower case letters, digits and
    underscores, not starting with a digit, unique, never one of the reserved names."""
    names, taken = {}, set(RESERVED_NAMES)
    for key, column in sorted(columns.items(), key=lambda kv: (kv[1]["position"], key_number(kv[0]))):
        if column.get("deleted"):
            continue
        base = re.sub(r"[^0-9a-z_]+", "_", column["name"].strip().lower()).strip("_") or key
        if base[0].isdigit():
            base = "_" + base
        base = base[:60]
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        taken.add(name)
        names[key] = name
    return names


def key_number(key: str) -> int:
    return int(key[1:]) if key[1:].isdigit() else 0


def merge_sql(state: SheetShape, upto: int | None = None) -> str:
    """SELECT of the sheet's raw state (_row, _position, one VARCHAR per known key): the base
    table plus the events after the watermark (up to batch `upto`). The last write per cell wins;
    a row (re)inserted ignores everything before its insert; a delete after the last insert
    removes the row."""
    sid = int(state.sheet_id)
    keys = sorted(set(state.columns) | set(state.base_keys), key=key_number)
    bound = f" AND batch <= {int(upto)}" if upto is not None else ""
    picks = ", ".join(
        f"arg_max({{'v': ev.value}}, ev.ord) FILTER (WHERE ev.col = {_literal(k)}) AS {quote_name(k)}" for k in keys
    )
    cells = ", ".join(
        f"CASE WHEN c.{quote_name(k)} IS NOT NULL THEN c.{quote_name(k)}.v WHEN r.ins IS NOT NULL THEN NULL "
        f"ELSE {('b.' + quote_name(k)) if k in state.base_keys else 'NULL'} END AS {quote_name(k)}"
        for k in keys
    )
    return f"""
WITH ev AS (
  SELECT ord, op, row_ref, col, value, num FROM cell_events
   WHERE sheet_id = {sid} AND batch > {int(state.watermark)}{bound}
), r AS (
  SELECT row_ref, max(ord) FILTER (WHERE op = 'insert') AS ins, max(ord) FILTER (WHERE op = 'delete') AS del,
         arg_max(num, ord) FILTER (WHERE op IN ('insert', 'move')) AS pos
    FROM ev WHERE op <> 'set' GROUP BY row_ref
), c AS (
  SELECT ev.row_ref{", " + picks if picks else ""}
    FROM ev LEFT JOIN r ON r.row_ref = ev.row_ref
   WHERE ev.op = 'set' AND ev.ord > coalesce(r.ins, -1) GROUP BY ev.row_ref
)
SELECT coalesce(b._row, r.row_ref) AS _row, coalesce(r.pos, b._position) AS _position{", " + cells if cells else ""}
  FROM {base_name(sid)} b FULL JOIN r ON r.row_ref = b._row
  LEFT JOIN c ON c.row_ref = coalesce(b._row, r.row_ref)
 WHERE CASE WHEN r.ins IS NULL AND r.del IS NULL THEN b._row IS NOT NULL
            ELSE coalesce(r.ins, -1) > coalesce(r.del, -1) END
"""


def lake_type(column: dict[str, Any]) -> str:
    """The column type whose DuckDB type the view casts a column to: the type of its values (a
    formula column's result type; a state written before value types: its own type)."""
    return column.get("value_type") or value_type(column["type"])


def view_sql(state: SheetShape) -> str:
    """The sheet's view: each column cast to its values' type (a value that does not cast, like a
    formula's error #DIV/0! in a number column, is NULL)."""
    names = column_names(state.columns)
    columns = [
        f"TRY_CAST(m.{quote_name(key)} AS {duckdb_type(lake_type(state.columns[key]))}) AS {quote_name(name)}"
        for key, name in names.items()
    ]
    select = ", ".join(["m._row", "m._position", f"{int(state.workspace_id)}::BIGINT AS workspace_id", *columns])
    return f"CREATE OR REPLACE VIEW {view_name(state.sheet_id)} AS SELECT {select} FROM ({merge_sql(state)}) m"


def base_ddl(sheet_id: int, keys: list[str]) -> str:
    columns = ", ".join(["_row BIGINT", "_position DOUBLE", *(f"{quote_name(k)} VARCHAR" for k in keys)])
    return f"CREATE OR REPLACE TABLE {base_name(sheet_id)} ({columns})"


# --- the lake's own tables ---------------------------------------------------------------------

# Every cell change, kept (analytics/writethrough/history.py): the table Superset's "Sheet history"
# dataset and the dashboards' history queries read, under the workspace's row-level security.
HISTORY_TABLE = "lake.cell_history"
HISTORY_COLUMNS = [
    ("workspace_id", "BIGINT"),
    ("sheet_id", "BIGINT"),
    ("version", "BIGINT"),
    ("changed_at", "TIMESTAMPTZ"),
    ("actor_id", "BIGINT"),
    ("actor", "VARCHAR"),
    ("actor_email", "VARCHAR"),
    ("operation", "VARCHAR"),  # the operation's kind: cells.update, rows.insert, rows.import...
    ("change", "VARCHAR"),  # created, changed or deleted (a row created or deleted has no col)
    ("row_ref", "BIGINT"),  # the row's id (its _row in the sheet's view; "row_id" is DuckLake's own)
    ("col", "VARCHAR"),
    ("col_name", "VARCHAR"),
    ("old_value", "VARCHAR"),  # a cell's canonical text; a whole row's values as JSON
    ("new_value", "VARCHAR"),
]

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS cell_events (batch BIGINT, sheet_id BIGINT, ord BIGINT, op VARCHAR, row_ref BIGINT,"
    " col VARCHAR, value VARCHAR, num DOUBLE)",
    "CREATE TABLE IF NOT EXISTS sheet_state (sheet_id BIGINT, workspace_id BIGINT, name VARCHAR, version BIGINT,"
    " watermark BIGINT, columns VARCHAR, base_keys VARCHAR)",
    "CREATE TABLE IF NOT EXISTS writer_state (id INTEGER, batch BIGINT)",
    # The per-batch checkpoint, append-only (a DELETE + INSERT of sheet_state per batch cost
    # ~20 ms): a sheet's applied version is the highest here or in sheet_state.
    "CREATE TABLE IF NOT EXISTS sheet_versions (batch BIGINT, sheet_id BIGINT, version BIGINT)",
    "CREATE TABLE IF NOT EXISTS cell_history (" + ", ".join(f"{n} {t}" for n, t in HISTORY_COLUMNS) + ")",
]
INLINE_ROWS = 2000
EVENT_TYPES = ["BIGINT", "BIGINT", "BIGINT", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "DOUBLE"]


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    with write_lock():
        _ensure_schema(con)


def _ensure_schema(con):
    for statement in SCHEMA:
        con.execute(statement)
    # A batch of up to INLINE_ROWS events goes into the catalog's own tables instead of a Parquet
    # file of its own: under 200 edits/s a batch commits in ~17 ms instead of ~28, and a sheet's
    # view opens no file per batch. The worker's upkeep flushes them to Parquet (maintenance.py).
    # Only with a PostgreSQL catalog, where it was measured: SQLite allows one writer at a time.
    for table in ("cell_events", "sheet_versions", "cell_history"):
        limit = INLINE_ROWS if postgres_conninfo() else 0
        con.execute(f"CALL ducklake_set_option('lake', 'data_inlining_row_limit', {limit}, table_name => '{table}')")
    con.execute("BEGIN")
    try:
        if con.execute("SELECT count(*) FROM writer_state").fetchone()[0] == 0:
            con.execute("INSERT INTO writer_state VALUES (1, 0)")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        if con.execute("SELECT count(*) FROM writer_state").fetchone()[0] == 0:
            raise
