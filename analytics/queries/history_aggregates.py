"""A dashboard widget's count of the cell changes people made (the lake's cell_history) in the
dashboard's time range: the workspace's, or one sheet's; by person or by column; per time bucket
(e.g. edits per person per day). Counts only: the values a cell had stay out of dashboards, which
viewers and public links see (history is for editors)."""

import datetime as dt

import duckdb

from analytics.lake.connections import query as lake_query
from analytics.lake.schema import HISTORY_TABLE
from core.errors import NotFound
from sheets.models import Sheet

from .aggregation import BUCKETS, FROM_BUCKETS, aggregate_rows, check_buckets, epoch_us, iso, results_of

# What a history widget may group by: SQL over cell_history's own columns (never a request's text).
GROUPS = {"actor": "coalesce(actor, actor_email)", "column": "col_name"}
GROUP_LABELS = {"actor": "person", "column": "column"}


def history_aggregate(*, workspace_id: int, query: dict, start: dt.datetime, end: dt.datetime) -> dict:
    """Changes by people (not background recomputes) in [start, end), in the aggregate's shape
    (series per bucket and group, totals). NotFound for a sheet that is not the workspace's."""
    clauses = ["workspace_id = ?", "actor_id IS NOT NULL", "epoch_us(changed_at) >= ?", "epoch_us(changed_at) < ?"]
    params = [workspace_id, epoch_us(start), epoch_us(end)]
    sheet = None
    if query["sheet"] is not None:
        sheet = Sheet.objects.filter(pk=query["sheet"], workspace_id=workspace_id).first()
        if sheet is None:
            raise NotFound("no such sheet in this workspace")
        clauses.append("sheet_id = ?")
        params.append(sheet.pk)
    bucket_us = None
    if query["bucket"]:
        check_buckets(query["bucket"], start, end)
        bucket_us = BUCKETS[query["bucket"]] * 1_000_000
    group = GROUPS.get(query["group_by"], "NULL::VARCHAR")
    try:
        rows = aggregate_rows(
            lambda sql, p: lake_query(sql, p)[1],
            source=HISTORY_TABLE,
            where=" AND ".join(clauses),
            where_params=params,
            group=group,
            group_params=[],
            agg="count(*)",
            moment="epoch_us(changed_at)",
            bucket_us=bucket_us,
            top=query["top"],
            combine=FROM_BUCKETS["count"],
        )
    except duckdb.CatalogException:  # no writer ever ran on this lake: nothing changed yet
        rows = []
    label = GROUP_LABELS.get(query["group_by"])
    results = results_of(rows, agg="count", group_by=label, top=query["top"], bucket_us=bucket_us)
    return {
        "source": "history",
        "sheet": sheet.pk if sheet else None,
        "agg": "count",
        "bucket": query["bucket"],
        "group_by": query["group_by"],
        "from": iso(epoch_us(start)),
        "to": iso(epoch_us(end)),
        **results,
        "labels": {"sheet": sheet.name if sheet else None, "group_by": label},
    }
