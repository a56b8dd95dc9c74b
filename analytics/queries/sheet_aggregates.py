"""A dashboard widget's (or a sheet alert rule's) aggregate over one of the workspace's sheets,
computed on the sheet's lake view, in the metric aggregate's shape. The only text put into SQL is
the view's column names as the lake's own state has them (chosen by a column key of the sheet)."""

import datetime as dt

from analytics.lake.connections import query as lake_query
from analytics.lake.schema import quote_name, sheet_view_name
from core.errors import InvalidInput, NotFound
from sheets import column_types
from sheets.models import Column, Sheet

from . import selectors
from .aggregation import BUCKETS, FROM_BUCKETS, aggregate_rows, check_buckets, epoch_us, iso, results_of

NUMERIC_TYPES, TIME_TYPES = column_types.numeric_types(), column_types.time_types()
# The column types each aggregate takes, and what to say otherwise (count takes any column).
VALUE_TYPES = {
    "sum": (NUMERIC_TYPES, "sum needs a number column"),
    "avg": (NUMERIC_TYPES, "avg needs a number column"),
    "min": (NUMERIC_TYPES + TIME_TYPES, "min needs a number, date or date-and-time column"),
    "max": (NUMERIC_TYPES + TIME_TYPES, "max needs a number, date or date-and-time column"),
}
DAY_US = 86_400_000_000


class SheetNotInLake(InvalidInput):
    """The sheet (or its latest column change) has not been written to the lake yet."""

    code = "unavailable"


def _values(column: Column) -> str:
    """The type of a column's values (a formula column's: its result type)."""
    return column_types.value_type(column.type, column.options)


def _sheet_columns(workspace_id, query):
    """(sheet, {role: Column or None}) of a sheet query, checked against the sheet's columns."""
    sheet = Sheet.objects.filter(pk=query["sheet"], workspace_id=workspace_id).first()
    if sheet is None:
        raise NotFound("no such sheet in this workspace")
    columns = {c.key: c for c in Column.objects.filter(sheet_id=sheet.pk)}

    def active(role, types=None, need=None):
        key = query[role]
        if key is None:
            return None
        column = columns.get(key)
        if column is None:
            raise InvalidInput(f"{role}: the sheet {sheet.name!r} has no column {key}")
        if column.deleted:
            raise InvalidInput(f"{role}: the column {column.name!r} was deleted from the sheet {sheet.name!r}")
        if types and _values(column) not in types:
            raise InvalidInput(f"{role}: {need}, and {column.name!r} is a {column.get_type_display().lower()} column")
        return column

    chosen = {
        "column": active("column", *VALUE_TYPES.get(query["agg"], ())),
        "group_by": active("group_by"),
        "time_column": active("time_column", TIME_TYPES, "the time column is a date or date-and-time column"),
    }
    if query["bucket"] not in (None, "day") and chosen["time_column"] and _values(chosen["time_column"]) == "date":
        raise InvalidInput(f"bucket: {chosen['time_column'].name!r} holds dates, so its bucket is a day")
    return sheet, chosen


def _day_text(epoch_us):
    return None if epoch_us is None else iso(epoch_us)[:10]


def _moment_text(epoch_us):
    return None if epoch_us is None else iso(epoch_us)


def sheet_aggregate(
    *, workspace_id: int, query: dict, start: dt.datetime | None = None, end: dt.datetime | None = None
) -> dict:
    """A dashboard widget's aggregate over one of the workspace's sheets (`query`: the sheet shape
    of queries.widget_query.clean_query), computed on the sheet's lake view, in metric_aggregate's shape,
    plus the names of the sheet and its columns in `labels`. With a time column, only the rows
    whose time falls in [start, end) count (a date: whose day overlaps it), and a bucket makes
    series. A min or max of a date or datetime is ISO text. NotFound for a sheet of another
    workspace or a deleted one; InvalidInput for a missing, deleted or unfit column."""
    sheet, chosen = _sheet_columns(workspace_id, query)
    view_columns = selectors.sheet_view_columns(sheet.pk)
    if view_columns is None:
        raise SheetNotInLake(
            f"the sheet {sheet.name!r} has not reached analytics yet; it shows here once the "
            "analytics worker has written it"
        )

    def name(column):
        found = view_columns.get(column.key)
        if found is None or found[1] != _values(column):  # changed a moment ago
            raise SheetNotInLake(
                f"the latest change of the column {column.name!r} is on its way to analytics; it shows here in a moment"
            )
        return quote_name(found[0])

    def epoch(sql, column):  # a date or datetime as epoch microseconds (a date: its midnight, UTC)
        return f"epoch_us({sql}::TIMESTAMP)" if _values(column) == "date" else f"epoch_us({sql})"

    agg, value = query["agg"], None
    column, group_column, time_column = chosen["column"], chosen["group_by"], chosen["time_column"]
    if column is None:
        agg_sql = "count(*)"
    elif _values(column) in TIME_TYPES:  # min or max: as a number, shown as ISO text (no pytz for TIMESTAMPTZ)
        agg_sql = epoch(f"{agg}({name(column)})", column)
        value = _day_text if _values(column) == "date" else _moment_text
    else:
        agg_sql = f"{agg}({name(column)})"
    group = f"CAST({name(group_column)} AS VARCHAR)" if group_column else "NULL::VARCHAR"
    clauses, params = ["workspace_id = ?"], [workspace_id]
    moment, bucket_us = None, None
    if time_column is not None:
        moment = epoch(name(time_column), time_column)
        clauses.append(f"{moment} IS NOT NULL")
        if start is not None:  # a date counts when its day overlaps the window
            clauses.append(f"{moment} >= ?")
            params.append(epoch_us(start) - (DAY_US - 1 if _values(time_column) == "date" else 0))
        if end is not None:
            clauses.append(f"{moment} < ?")
            params.append(epoch_us(end))
        if query["bucket"]:
            if start is not None and end is not None:
                check_buckets(query["bucket"], start, end)
            bucket_us = BUCKETS[query["bucket"]] * 1_000_000
    rows = aggregate_rows(
        lambda sql, p: lake_query(sql, p)[1],
        source=sheet_view_name(sheet.pk),
        where=" AND ".join(clauses),
        where_params=params,
        group=group,
        group_params=[],
        agg=agg_sql,
        moment=moment,
        bucket_us=bucket_us,
        top=query["top"],
        combine=FROM_BUCKETS.get(agg),
    )
    results = results_of(
        rows,
        agg=agg,
        group_by=group_column.name if group_column else None,
        top=query["top"],
        bucket_us=bucket_us,
        value=value,
    )
    windowed = time_column is not None
    return {
        "source": "sheet",
        "sheet": sheet.pk,
        "agg": agg,
        "column": query["column"],
        "bucket": query["bucket"],
        "group_by": query["group_by"],
        "time_column": query["time_column"],
        "from": iso(epoch_us(start)) if windowed and start else None,
        "to": iso(epoch_us(end)) if windowed and end else None,
        **results,
        "labels": {
            "sheet": sheet.name,
            "column": column.name if column else None,
            "group_by": group_column.name if group_column else None,
            "time_column": time_column.name if time_column else None,
        },
    }
