"""The one stored shape of a widget's query (a metric or a sheet aggregate), shared by dashboards'
widgets and sheet alert rules; InvalidInput says what is wrong with one."""

import re

from core.errors import InvalidInput
from sheets import values

AGGS = ("sum", "count", "avg", "min", "max")
BUCKETS = ("second", "minute", "hour", "day")
SOURCES = ("metrics", "sheet", "history")  # "sheet": a sheet's DuckLake view; "history": cell_history
HISTORY_GROUPS = ("actor", "column")
MAX_TOP = 100
NAME = re.compile(r"^[A-Za-z0-9_.:\-/ ]{1,100}$")
COLUMN_KEY = re.compile(r"^c[0-9]{1,9}$")


def checked_text(text: str, what: str) -> str:
    """Text a layout keeps (stored in PostgreSQL): InvalidInput when it cannot be stored."""
    try:
        return values.check_text(text, what)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def tag_filters(value: object, where: str) -> list[str]:
    if value in (None, ""):
        return []
    if isinstance(value, dict):
        value = [f"{k}:{v}" for k, v in value.items()]
    if not isinstance(value, list) or len(value) > 20:
        raise InvalidInput(f'{where}: tags are a list of "key:value"')
    tags = []
    for tag in value:
        if not isinstance(tag, str) or ":" not in tag or not tag.split(":", 1)[0].strip() or len(tag) > 200:
            raise InvalidInput(f"{where}: a tag filter is written key:value, not {str(tag)[:200]!r}")
        checked_text(tag, f"{where}: a tag filter")
        key, val = tag.split(":", 1)
        tags.append(f"{key.strip()}:{val.strip()}")
    return tags


def _top(query, where):
    top = query.get("top")
    if top in ("", None):
        return None
    try:
        top = int(top)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{where}: top is a whole number") from None
    if not 1 <= top <= MAX_TOP:
        raise InvalidInput(f"{where}: top is between 1 and {MAX_TOP}")
    return top


def _agg(query, where):
    agg = query.get("agg") or "sum"
    if agg not in AGGS:
        raise InvalidInput(f"{where}: agg is one of {', '.join(AGGS)}")
    return agg


def _bucket(query, where):
    bucket = query.get("bucket") or None
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInput(f"{where}: bucket is one of {', '.join(BUCKETS)} or none")
    return bucket


def clean_query(query: object, where: str = "query") -> dict:
    """A widget's query in its one stored shape; InvalidInput says what is wrong."""
    if not isinstance(query, dict):
        raise InvalidInput(f"{where} must be an object")
    source = query.get("source") or "metrics"
    if source not in SOURCES:
        raise InvalidInput(f"{where}: source is one of {', '.join(SOURCES)}")
    if source == "sheet":
        return clean_sheet_query(query, where)
    if source == "history":
        return clean_history_query(query, where)
    metric = query.get("metric")
    if not isinstance(metric, str) or not NAME.match(metric):
        raise InvalidInput(f"{where}: choose a metric")
    agg, bucket = _agg(query, where), _bucket(query, where)
    group_by = query.get("group_by") or None
    if group_by is not None and (not isinstance(group_by, str) or not NAME.match(group_by)):
        raise InvalidInput(f"{where}: group_by is a tag key")
    return {
        "source": "metrics",
        "metric": metric,
        "agg": agg,
        "bucket": bucket,
        "group_by": group_by,
        "tags": tag_filters(query.get("tags"), where),
        "top": _top(query, where),
    }


def _sheet_id(query, where, required):
    sheet = query.get("sheet")
    if sheet in (None, "") and not required:
        return None
    if isinstance(sheet, str) and sheet.isdigit():
        sheet = int(sheet)
    if not isinstance(sheet, int) or isinstance(sheet, bool) or sheet < 1:
        raise InvalidInput(f"{where}: a sheet query names its sheet id")
    return sheet


def clean_history_query(query: dict, where: str = "query") -> dict:
    """{"source": "history", "sheet": id or null (every sheet), "group_by": "actor" | "column" |
    null, "bucket", "top"}: a count of the changes people made (analytics.queries.history_aggregates)."""
    group_by = query.get("group_by") or None
    if group_by is not None and group_by not in HISTORY_GROUPS:
        raise InvalidInput(f"{where}: a history widget groups by {' or '.join(HISTORY_GROUPS)}, or nothing")
    return {
        "source": "history",
        "sheet": _sheet_id(query, where, required=False),
        "agg": "count",
        "group_by": group_by,
        "bucket": _bucket(query, where),
        "top": _top(query, where),
    }


def clean_sheet_query(query: dict, where: str = "query") -> dict:
    """{"source": "sheet", "sheet": id, "agg", "column", "group_by", "top", "time_column", "bucket"}:
    columns named by their keys (c1, c2, ...). Whether the sheet is the workspace's and its columns
    fit is checked when the widget is computed (analytics.queries.sheet_aggregates.sheet_aggregate)."""
    sheet = _sheet_id(query, where, required=True)
    agg = _agg(query, where)

    def key(name, what):
        value = query.get(name) or None
        if value is not None and (not isinstance(value, str) or not COLUMN_KEY.match(value)):
            raise InvalidInput(f"{where}: {name} is {what} given by its key, such as c3")
        return value

    column = key("column", "a column")
    if column is None and agg != "count":
        raise InvalidInput(f"{where}: choose the column to {agg} (only count works without one)")
    time_column, bucket = key("time_column", "a date or date-and-time column"), _bucket(query, where)
    if bucket is not None and time_column is None:
        raise InvalidInput(f"{where}: a time bucket needs a time column (a date or date-and-time column)")
    return {
        "source": "sheet",
        "sheet": sheet,
        "agg": agg,
        "column": column,
        "group_by": key("group_by", "a column"),
        "top": _top(query, where),
        "time_column": time_column,
        "bucket": bucket,
    }
