"""Live dashboards: the widgets a person keeps per workspace (selectors and services), their
filters, and computing a widget's data: a metrics widget through the metrics aggregate that the
REST API uses, so a pushed result equals a polled one; a sheet widget through the sheet aggregate
over the sheet's lake view. The shape of a widget's query is analytics.queries.widget_query.
"""

import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import User
from analytics.models_dashboard import DashboardLayout
from analytics.queries.history_aggregates import history_aggregate
from analytics.queries.metric_aggregates import metric_aggregate, parse_aggregate_params
from analytics.queries.sheet_aggregates import sheet_aggregate
from analytics.queries.widget_query import checked_text, clean_query, tag_filters
from core.errors import InvalidInput
from sheets import values

WIDGET_TYPES = ("tile", "line", "bar", "pie", "table")
MAX_WIDGETS = 40
MAX_RANGE_SECONDS = 366 * 86400
DEFAULT_RANGE = 3600


def default_widgets() -> list[dict]:
    """What a person sees before arranging their own dashboard."""
    return [
        {
            "id": "orders-per-minute",
            "type": "line",
            "title": "Orders per minute",
            "query": {"source": "metrics", "metric": "orders", "agg": "sum", "bucket": "minute"},
        },
        {
            "id": "revenue-by-region",
            "type": "bar",
            "title": "Revenue by region",
            "query": {"source": "metrics", "metric": "revenue", "agg": "sum", "group_by": "region"},
        },
        {
            "id": "revenue-total",
            "type": "tile",
            "title": "Revenue",
            "query": {"source": "metrics", "metric": "revenue", "agg": "sum"},
        },
        {
            "id": "error-rate",
            "type": "tile",
            "title": "Error rate",
            "query": {"source": "metrics", "metric": "error_rate", "agg": "avg"},
        },
        {
            "id": "top-products",
            "type": "table",
            "title": "Top products by revenue",
            "query": {"source": "metrics", "metric": "revenue", "agg": "sum", "group_by": "product", "top": 5},
        },
    ]


def default_filters() -> dict:
    return {"range": DEFAULT_RANGE, "from": None, "to": None, "tags": []}


# --- shapes -------------------------------------------------------------------------------


def clean_widgets(widgets: object) -> list[dict]:
    if not isinstance(widgets, list):
        raise InvalidInput("widgets must be a list")
    if len(widgets) > MAX_WIDGETS:
        raise InvalidInput(f"a dashboard holds at most {MAX_WIDGETS} widgets")
    cleaned, seen = [], set()
    for n, widget in enumerate(widgets, 1):
        if not isinstance(widget, dict):
            raise InvalidInput(f"widget {n} must be an object")
        wid = checked_text(str(widget.get("id") or uuid.uuid4().hex[:12])[:64], f"widget {n}: the id")
        if wid in seen:
            raise InvalidInput(f"widget id {wid!r} is used twice")
        seen.add(wid)
        kind = widget.get("type")
        if kind not in WIDGET_TYPES:
            raise InvalidInput(f"widget {n}: type is one of {', '.join(WIDGET_TYPES)}")
        title = checked_text(str(widget.get("title") or "").strip()[:120], f"widget {n}: the title")
        cleaned.append(
            {"id": wid, "type": kind, "title": title, "query": clean_query(widget.get("query"), f"widget {n}")}
        )
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


def clean_filters(filters: object) -> dict:
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
    return {
        "range": seconds,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
        "tags": tag_filters(filters.get("tags"), "filters"),
    }


def window(filters: dict, now: datetime | None = None) -> tuple[datetime, datetime]:
    """(start, end) of the filters at this moment: a sliding range ends now."""
    now = now or timezone.now()
    if filters.get("from"):
        return _instant(filters["from"], "from"), _instant(filters.get("to"), "to") or now
    return now - timedelta(seconds=filters.get("range") or DEFAULT_RANGE), now


# --- layouts ------------------------------------------------------------------------------


def dashboard_for_user(*, user: User, workspace_id: int) -> dict:
    """{"widgets", "filters", "saved"}: the person's own, or the defaults when they have none."""
    layout = DashboardLayout.objects.filter(user=user, workspace_id=workspace_id).first()
    if layout is None:
        return {"widgets": default_widgets(), "filters": default_filters(), "saved": False}
    return {"widgets": layout.widgets, "filters": {**default_filters(), **(layout.filters or {})}, "saved": True}


@transaction.atomic
def dashboard_save(*, user: User, workspace_id: int, widgets: object, filters: object = None) -> dict:
    widgets = clean_widgets(widgets)
    filters = clean_filters(filters) if filters is not None else default_filters()
    layout, _ = DashboardLayout.objects.update_or_create(
        user=user, workspace_id=workspace_id, defaults={"widgets": widgets, "filters": filters}
    )
    return {"widgets": layout.widgets, "filters": layout.filters, "saved": True}


@transaction.atomic
def dashboard_reset(*, user: User, workspace_id: int) -> dict:
    DashboardLayout.objects.filter(user=user, workspace_id=workspace_id).delete()
    return dashboard_for_user(user=user, workspace_id=workspace_id)


# --- data ---------------------------------------------------------------------------------


def metric_widget_data(*, workspace_id: int, params: dict, now: datetime) -> dict:
    """A metrics widget's data: the aggregate behind GET /api/v1/workspaces/<id>/metrics/aggregate/
    for these query parameters, so that a pushed result equals a polled one."""
    return metric_aggregate(workspace_id=workspace_id, query=parse_aggregate_params(params, now=now))


def aggregate_params(query: dict, filters: dict, now: datetime | None = None) -> dict:
    """The REST aggregate's query parameters for one widget under the dashboard filters (the
    page's polling mode builds the same ones in the browser)."""
    start, end = window(filters, now)
    params = {
        "metric": query["metric"],
        "agg": query["agg"],
        "tag": query["tags"] + list(filters.get("tags") or []),
        "from": start.isoformat(),
        "to": end.isoformat(),
    }
    for name in ("bucket", "group_by", "top"):
        if query.get(name) is not None:
            params[name] = str(query[name])
    return params


def widget_data(*, workspace_id: int, query: object, filters: dict, now: datetime | None = None) -> dict:
    """One widget's data for the dashboard filters, in the REST aggregate's shape. A sheet widget
    takes the dashboard's time range only on its time column, and no tag filters."""
    query = clean_query(query)
    now = now or timezone.now()
    if query["source"] == "sheet":
        start, end = window(filters, now)
        return sheet_aggregate(workspace_id=workspace_id, query=query, start=start, end=end)
    if query["source"] == "history":
        start, end = window(filters, now)
        return history_aggregate(workspace_id=workspace_id, query=query, start=start, end=end)
    return metric_widget_data(workspace_id=workspace_id, params=aggregate_params(query, filters, now), now=now)
