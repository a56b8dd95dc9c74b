"""Reads of the analytics lake: the name of a sheet's view, and SQL queries on DuckLake.

Each thread keeps one DuckDB connection with the lake attached as `lake`; every query runs in
its own transaction, so it sees the latest committed lake snapshot.
"""
import datetime as dt
import threading

from .lake import connect
from .writethrough import view_name

_local = threading.local()


def sheet_view_name(sheet_id):
    """The qualified name of the sheet's view, e.g. `lake.sheet_42`: `_row`, `_position`,
    `workspace_id` and one typed column per active column of the sheet (names sanitised)."""
    return f"lake.{view_name(sheet_id)}"


def _connection():
    con = getattr(_local, "con", None)
    if con is None:
        con = _local.con = connect()
        con.execute("SET TimeZone = 'UTC'")
    return con


def close():
    """Close this thread's lake connection (it holds a connection to the catalog database)."""
    con = getattr(_local, "con", None)
    _local.con = None
    if con is not None:
        con.close()


def query(sql, params=None):
    """Run one read query on the lake: (column names, list of row tuples)."""
    con = _connection()
    try:
        cursor = con.execute(sql, params or [])
    except Exception:
        _local.con = None  # a broken connection is not reused
        try:
            con.close()
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
    select = ", ".join(f"{_quote(n)}::TIMESTAMP AS {_quote(n)}" if n in zoned else _quote(n) for n, *_ in described)
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


def _quote(name):
    return '"' + name.replace('"', '""') + '"'
