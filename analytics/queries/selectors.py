"""Reads of a sheet's lake view: the names of its columns as the lake has them, and its rows."""

import datetime as dt
import json

import duckdb

from analytics.lake.connections import query
from analytics.lake.schema import column_names, lake_type, quote_name, sheet_view_name


def sheet_view_columns(sheet_id: int) -> dict[str, tuple[str, str]] | None:
    """{column key: (view column name, the type of its values)} of the sheet's view as the lake has it now
    (the view is made from these same columns, in the same lake transaction), or None when the
    sheet has not reached the lake."""
    try:
        _, rows = query("SELECT columns FROM lake.sheet_state WHERE sheet_id = ?", [int(sheet_id)])
    except duckdb.CatalogException:  # no writer ever ran on this lake
        return None
    if not rows:
        return None
    columns = json.loads(rows[0][0])
    return {key: (name, lake_type(columns[key])) for key, name in column_names(columns).items()}


def sheet_rows(sheet_id: int, order_by_position: bool = True) -> list[dict]:
    """Every row of the sheet's view as dicts (column name -> typed value; datetimes aware, UTC)."""
    view = sheet_view_name(sheet_id)
    # DuckDB hands TIMESTAMPTZ to Python through pytz, which Gridcast does not install: read
    # them as UTC timestamps and attach the zone here.
    described = query(f"DESCRIBE {view}")[1]
    zoned = {name for name, kind, *_ in described if kind == "TIMESTAMP WITH TIME ZONE"}
    select = ", ".join(
        f"{quote_name(n)}::TIMESTAMP AS {quote_name(n)}" if n in zoned else quote_name(n) for n, *_ in described
    )
    order = " ORDER BY _position, _row" if order_by_position else ""
    columns, rows = query(f"SELECT {select} FROM {view}{order}")
    out = []
    for row in rows:
        item = dict(zip(columns, row))
        for name in zoned:
            if item[name] is not None:
                item[name] = item[name].replace(tzinfo=dt.UTC)
        out.append(item)
    return out
