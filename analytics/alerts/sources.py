"""The registry of alert sources: what a rule can watch. Each source says how a rule's value is
computed, which rules share one computation (their condition), and which announcement of new data
concerns which of its rules; evaluation and the receivers know no source by name. A new source is
its fields on AlertRule (with their migration and check), one `register(AlertSource(...))` here, and
its fields in the API's serializer."""

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q
from django.dispatch import Signal

from analytics.metrics.signals import metrics_ingested
from analytics.models import AlertRule
from analytics.queries.metric_aggregates import window_value
from analytics.queries.sheet_aggregates import SheetNotInLake, sheet_aggregate
from analytics.queries.widget_query import clean_sheet_query
from analytics.writethrough.signals import cells_written
from sheets import column_types
from sheets.models import Column


class ValueUnavailable(Exception):
    """The lake is behind the database for this rule (a sheet not written yet, a column added,
    renamed or retyped a moment ago): the rule keeps its state until the next evaluation."""


@dataclass(frozen=True)
class AlertSource:
    name: str  # AlertRule.source
    value: Callable[[AlertRule, dt.datetime | None], float | None]  # what the rule compares now
    condition: Callable[[dict[str, Any]], tuple]  # rules with equal conditions share one value
    announced_by: Signal  # new data for rules of this source...
    concerned: Callable[..., Q]  # ...and which of them, from the signal's arguments


SOURCES: dict[str, AlertSource] = {}
# The rule fields a condition may read (one query loads them for a whole pass).
CONDITION_FIELDS = (
    "pk",
    "workspace_id",
    "source",
    "metric",
    "agg",
    "window_seconds",
    "tag_filter",
    "sheet_id",
    "column",
)


def register(source: AlertSource) -> AlertSource:
    if source.name in SOURCES:
        raise ValueError(f"alert source {source.name!r} is registered twice")
    SOURCES[source.name] = source
    return source


# --- metric: an aggregate of a metric's events over a moving window ------------------------------


def metric_value(rule: AlertRule, now: dt.datetime | None) -> float | None:
    return window_value(
        workspace_id=rule.workspace_id,
        metric=rule.metric,
        agg=rule.agg,
        window_seconds=rule.window_seconds,
        tags=sorted((rule.tag_filter or {}).items()),
        now=now,
    )


def _metric_condition(row: dict[str, Any]) -> tuple:
    tags = json.dumps(row["tag_filter"] or {}, sort_keys=True)
    return ("metric", row["workspace_id"], row["metric"], row["agg"], row["window_seconds"], tags)


register(
    AlertSource(
        name=AlertRule.Source.METRIC,
        value=metric_value,
        condition=_metric_condition,
        announced_by=metrics_ingested,
        concerned=lambda *, workspace_id, metrics, **kwargs: Q(workspace_id=workspace_id, metric__in=metrics),
    )
)


# --- sheet: an aggregate of one column's current values ------------------------------------------


def sheet_column_value(*, sheet_id: int, column_key: str, agg: str) -> float | None:
    """`agg` of the column's current values in the sheet's lake view, computed as a dashboard's
    sheet tile is (queries.sheet_aggregates.sheet_aggregate): count counts filled cells, sum and
    count of none are 0. None when the column was deleted, or retyped to a non-number for an
    aggregate other than count (the rule then has nothing to compare); ValueUnavailable while the
    lake is behind the database."""
    column = (
        Column.objects.filter(sheet_id=sheet_id, key=column_key)
        .values("deleted", "type", "options", "sheet__workspace_id")
        .first()
    )
    values = column and column_types.value_type(column["type"], column["options"])
    if column is None or column["deleted"] or (agg != "count" and values not in column_types.numeric_types()):
        return None
    query = clean_sheet_query({"sheet": sheet_id, "agg": agg, "column": column_key})
    try:
        answer = sheet_aggregate(workspace_id=column["sheet__workspace_id"], query=query)
    except SheetNotInLake as error:  # the sheet, or this column's latest change, is on its way
        raise ValueUnavailable(f"sheet {sheet_id} column {column_key}: {error.message}") from None
    total = answer["totals"][0]
    if total.get("overflow"):  # beyond what a float holds: no value to compare
        return None
    value = total["value"]
    if value is None:
        return 0.0 if agg in ("sum", "count") else None
    return float(value)


register(
    AlertSource(
        name=AlertRule.Source.SHEET,
        value=lambda rule, now: sheet_column_value(sheet_id=rule.sheet_id, column_key=rule.column, agg=rule.agg),
        condition=lambda row: ("sheet", row["sheet_id"], row["column"], row["agg"]),
        announced_by=cells_written,
        concerned=lambda *, applied, **kwargs: Q(sheet_id__in=list(applied)),
    )
)
