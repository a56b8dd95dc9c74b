"""Reads of the analytics lake: the names of a sheet's view and of its columns, and SQL queries
on DuckLake.

Each thread keeps one DuckDB connection with the lake attached as `lake`; every query runs in
its own transaction, so it sees the latest committed lake snapshot.
"""
import datetime as dt
import json
import threading

import duckdb

from .lake import connect
from .writethrough import column_names, quote_name, view_name

_local = threading.local()
_opened = set()  # every thread's connection, for close_all()
_opened_lock = threading.Lock()


def sheet_view_name(sheet_id):
    """The qualified name of the sheet's view, e.g. `lake.sheet_42`: `_row`, `_position`,
    `workspace_id` and one typed column per active column of the sheet (names sanitised)."""
    return f"lake.{view_name(sheet_id)}"


def sheet_view_columns(sheet_id):
    """{column key: (view column name, column type)} of the sheet's view as the lake has it now
    (the view is made from these same columns, in the same lake transaction), or None when the
    sheet has not reached the lake."""
    try:
        _, rows = query("SELECT columns FROM lake.sheet_state WHERE sheet_id = ?", [int(sheet_id)])
    except duckdb.CatalogException:  # no writer ever ran on this lake
        return None
    if not rows:
        return None
    columns = json.loads(rows[0][0])
    return {key: (name, columns[key]["type"]) for key, name in column_names(columns).items()}


def _connection():
    con = getattr(_local, "con", None)
    if con is not None and con not in _opened:  # closed by close_all()
        con = None
    if con is None:
        con = _local.con = connect()
        con.execute("SET TimeZone = 'UTC'")
        with _opened_lock:
            _opened.add(con)
    return con


def _close(con):
    with _opened_lock:
        _opened.discard(con)
    con.close()


def close():
    """Close this thread's lake connection (it holds a connection to the catalog database)."""
    con = getattr(_local, "con", None)
    _local.con = None
    if con is not None:
        _close(con)


def close_all():
    """Close the lake connections of every thread (the dashboards' widgets are computed in a pool
    of threads): before the catalog database goes away, as at the end of tests. A thread opens
    a new one at its next query."""
    with _opened_lock:
        cons = list(_opened)
    for con in cons:
        try:
            _close(con)
        except Exception:  # noqa: BLE001 - closing anyway
            pass


def query(sql, params=None):
    """Run one read query on the lake: (column names, list of row tuples)."""
    con = _connection()
    try:
        cursor = con.execute(sql, params or [])
    except Exception:
        _local.con = None  # a broken connection is not reused
        try:
            _close(con)
        except Exception:
            pass
        raise
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall()


def sheet_rows(sheet_id, order_by_position=True):
    """Every row of the sheet's view as dicts (column name -> typed value; datetimes aware, UTC)."""
    view = sheet_view_name(sheet_id)
    # DuckDB hands TIMESTAMPTZ to Python through pytz, which Gridcast does not install: read
    # them as UTC timestamps and attach the zone here.
    described = query(f"DESCRIBE {view}")[1]
    zoned = {name for name, kind, *_ in described if kind == "TIMESTAMP WITH TIME ZONE"}
    select = ", ".join(f"{quote_name(n)}::TIMESTAMP AS {quote_name(n)}" if n in zoned else quote_name(n)
                       for n, *_ in described)
    order = " ORDER BY _position, _row" if order_by_position else ""
    columns, rows = query(f"SELECT {select} FROM {view}{order}")
    out = []
    for row in rows:
        item = dict(zip(columns, row))
        for name in zoned:
            if item[name] is not None:
                item[name] = item[name].replace(tzinfo=dt.timezone.utc)
        out.append(item)
    return out

