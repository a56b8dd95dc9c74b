"""Live dashboards: the widgets a person keeps per workspace (selectors and services), the
shape of a widget's query, and computing a widget's data: a metrics widget through the metrics
aggregate that the REST API uses (analytics' aggregate selector), so a pushed result equals a
polled one; a sheet widget through the sheet aggregate over the sheet's lake view.
"""
import importlib
import re
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from sheets import values
from core.errors import InvalidInput

from .models_dashboard import DashboardLayout

WIDGET_TYPES = ("tile", "line", "bar", "pie", "table")
AGGS = ("sum", "count", "avg", "min", "max")
BUCKETS = ("second", "minute", "hour", "day")
SOURCES = ("metrics", "sheet")  # "sheet": a sheet's DuckLake view
MAX_WIDGETS = 40
MAX_TOP = 100
MAX_RANGE_SECONDS = 366 * 86400
DEFAULT_RANGE = 3600
NAME = re.compile(r"^[A-Za-z0-9_.:\-/ ]{1,100}$")
COLUMN_KEY = re.compile(r"^c[0-9]{1,9}$")


def default_widgets():
    """What a person sees before arranging their own dashboard."""
    return [
        {"id": "orders-per-minute", "type": "line", "title": "Orders per minute",
         "query": {"source": "metrics", "metric": "orders", "agg": "sum", "bucket": "minute"}},
        {"id": "revenue-by-region", "type": "bar", "title": "Revenue by region",
         "query": {"source": "metrics", "metric": "revenue", "agg": "sum", "group_by": "region"}},
        {"id": "revenue-total", "type": "tile", "title": "Revenue",
         "query": {"source": "metrics", "metric": "revenue", "agg": "sum"}},
        {"id": "error-rate", "type": "tile", "title": "Error rate",
         "query": {"source": "metrics", "metric": "error_rate", "agg": "avg"}},
        {"id": "top-products", "type": "table", "title": "Top products by revenue",
         "query": {"source": "metrics", "metric": "revenue", "agg": "sum", "group_by": "product", "top": 5}},
    ]


def default_filters():
    return {"range": DEFAULT_RANGE, "from": None, "to": None, "tags": []}


# --- shapes -------------------------------------------------------------------------------

def _text(text, what):
    """Text a layout keeps (stored in PostgreSQL): InvalidInput when it cannot be stored."""
    try:
        return values.check_text(text, what)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def _tags(value, where):
    if value in (None, ""):
        return []
    if isinstance(value, dict):
        value = [f"{k}:{v}" for k, v in value.items()]
    if not isinstance(value, list) or len(value) > 20:
        raise InvalidInput(f"{where}: tags are a list of \"key:value\"")
    tags = []
    for tag in value:
        if not isinstance(tag, str) or ":" not in tag or not tag.split(":", 1)[0].strip() or len(tag) > 200:
            raise InvalidInput(f"{where}: a tag filter is written key:value, not {str(tag)[:200]!r}")
        _text(tag, f"{where}: a tag filter")
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


def clean_query(query, where="query"):
    """A widget's query in its one stored shape; InvalidInput says what is wrong."""
    if not isinstance(query, dict):
        raise InvalidInput(f"{where} must be an object")
    source = query.get("source") or "metrics"
    if source not in SOURCES:
        raise InvalidInput(f"{where}: source is one of {', '.join(SOURCES)}")
    if source == "sheet":
        return clean_sheet_query(query, where)
    metric = query.get("metric")
    if not isinstance(metric, str) or not NAME.match(metric):
        raise InvalidInput(f"{where}: choose a metric")
    agg, bucket = _agg(query, where), _bucket(query, where)
    group_by = query.get("group_by") or None
    if group_by is not None and (not isinstance(group_by, str) or not NAME.match(group_by)):
        raise InvalidInput(f"{where}: group_by is a tag key")
    return {"source": "metrics", "metric": metric, "agg": agg, "bucket": bucket, "group_by": group_by,
            "tags": _tags(query.get("tags"), where), "top": _top(query, where)}


def clean_sheet_query(query, where="query"):
    """{"source": "sheet", "sheet": id, "agg", "column", "group_by", "top", "time_column", "bucket"}:
    columns named by their keys (c1, c2, ...). Whether the sheet is the workspace's and its columns
    fit is checked when the widget is computed (analytics.aggregates.sheet_aggregate)."""
    sheet = query.get("sheet")
    if isinstance(sheet, str) and sheet.isdigit():
        sheet = int(sheet)
    if not isinstance(sheet, int) or isinstance(sheet, bool) or sheet < 1:
        raise InvalidInput(f"{where}: a sheet query names its sheet id")
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
    return {"source": "sheet", "sheet": sheet, "agg": agg, "column": column,
            "group_by": key("group_by", "a column"), "top": _top(query, where), "time_column": time_column,
            "bucket": bucket}


def clean_widgets(widgets):
    if not isinstance(widgets, list):
        raise InvalidInput("widgets must be a list")
    if len(widgets) > MAX_WIDGETS:
        raise InvalidInput(f"a dashboard holds at most {MAX_WIDGETS} widgets")
    cleaned, seen = [], set()
    for n, widget in enumerate(widgets, 1):
        if not isinstance(widget, dict):
            raise InvalidInput(f"widget {n} must be an object")
        wid = _text(str(widget.get("id") or uuid.uuid4().hex[:12])[:64], f"widget {n}: the id")
        if wid in seen:
            raise InvalidInput(f"widget id {wid!r} is used twice")
        seen.add(wid)
        kind = widget.get("type")
        if kind not in WIDGET_TYPES:
            raise InvalidInput(f"widget {n}: type is one of {', '.join(WIDGET_TYPES)}")
        title = _text(str(widget.get("title") or "").strip()[:120], f"widget {n}: the title")
        cleaned.append({"id": wid, "type": kind, "title": title, "query": clean_query(widget.get("query"), f"widget {n}")})
    return cleaned


def _instant(value, what):
    """An aware datetime in UTC from ISO 8601 text (in the current time zone unless it names one)."""
    if value in (None, ""):
        return None
    try:
        parsed = value if isinstance(value, datetime) else parse_datetime(str(value))
    except ValueError:  # well formed but no such day (2026-02-30)
        parsed = None
    if parsed is None:
        raise InvalidInput(f"{what} is not a date and time (ISO 8601)", field=what)
    try:
        return values.parse_moment(parsed, default_tz=timezone.get_current_timezone())
    except ValueError as error:  # out of range once in UTC
        raise InvalidInput(f"{what}: {error}", field=what) from None


def clean_filters(filters):
    """Whole-dashboard filters: a sliding range in seconds (live) or a fixed from/to, and tags."""
    filters = filters or {}
    if not isinstance(filters, dict):
        raise InvalidInput("filters must be an object")
    start, end = _instant(filters.get("from"), "from"), _instant(filters.get("to"), "to")
    if start and end and start >= end:
        raise InvalidInput("from must come before to")
    seconds = filters.get("range")
    if seconds in (None, "") or start:
        seconds = None
    else:
        try:
            seconds = int(seconds)
        except (TypeError, ValueError, OverflowError):
            raise InvalidInput("range is a number of seconds") from None
        if not 1 <= seconds <= MAX_RANGE_SECONDS:
            raise InvalidInput("range is between 1 second and a year")
    return {"range": seconds, "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "tags": _tags(filters.get("tags"), "filters")}


def window(filters, now=None):
    """(start, end) of the filters at this moment: a sliding range ends now."""
    now = now or timezone.now()
    if filters.get("from"):
        return _instant(filters["from"], "from"), _instant(filters.get("to"), "to") or now
    return now - timedelta(seconds=filters.get("range") or DEFAULT_RANGE), now


# --- layouts ------------------------------------------------------------------------------

def dashboard_for_user(*, user, workspace_id):
    """{"widgets", "filters", "saved"}: the person's own, or the defaults when they have none."""
    layout = DashboardLayout.objects.filter(user=user, workspace_id=workspace_id).first()
    if layout is None:
        return {"widgets": default_widgets(), "filters": default_filters(), "saved": False}
    return {"widgets": layout.widgets, "filters": {**default_filters(), **(layout.filters or {})}, "saved": True}


@transaction.atomic
def dashboard_save(*, user, workspace_id, widgets, filters=None):
    widgets = clean_widgets(widgets)
    filters = clean_filters(filters) if filters is not None else default_filters()
    layout, _ = DashboardLayout.objects.update_or_create(
        user=user, workspace_id=workspace_id, defaults={"widgets": widgets, "filters": filters})
    return {"widgets": layout.widgets, "filters": layout.filters, "saved": True}


@transaction.atomic
def dashboard_reset(*, user, workspace_id):
    DashboardLayout.objects.filter(user=user, workspace_id=workspace_id).delete()
    return dashboard_for_user(user=user, workspace_id=workspace_id)


# --- data ---------------------------------------------------------------------------------

class AggregateUnavailable(InvalidInput):
    code = "unavailable"


def aggregate_selector():
    """The metrics aggregate behind GET /api/v1/workspaces/<id>/metrics/aggregate/, imported
    when first needed (analytics.aggregates is the metrics engineer's): a callable
    (workspace_id, params, now) -> the REST answer, params being that endpoint's query parameters."""
    try:
        module = importlib.import_module("analytics.aggregates")
        parse, aggregate = module.parse_aggregate_params, module.metric_aggregate
    except (ImportError, AttributeError) as error:
        raise AggregateUnavailable("metric aggregates are not available on this server yet") from error

    def run(*, workspace_id, params, now):
        return aggregate(workspace_id=workspace_id, query=parse(params, now=now))

    return run


def aggregate_params(query, filters, now=None):
    """The REST aggregate's query parameters for one widget under the dashboard filters (the
    page's polling mode builds the same ones in the browser)."""
    start, end = window(filters, now)
    params = {"metric": query["metric"], "agg": query["agg"], "tag": query["tags"] + list(filters.get("tags") or []),
              "from": start.isoformat(), "to": end.isoformat()}
    for name in ("bucket", "group_by", "top"):
        if query.get(name) is not None:
            params[name] = str(query[name])
    return params


def widget_data(*, workspace_id, query, filters, now=None):
    """One widget's data for the dashboard filters, in the REST aggregate's shape. A sheet widget
    takes the dashboard's time range only on its time column, and no tag filters."""
    query = clean_query(query)
    now = now or timezone.now()
    if query["source"] == "sheet":
        from .aggregates import sheet_aggregate

        start, end = window(filters, now)
        return sheet_aggregate(workspace_id=workspace_id, query=query, start=start, end=end)
    return aggregate_selector()(workspace_id=workspace_id, params=aggregate_params(query, filters, now), now=now)
