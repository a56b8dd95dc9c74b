"""Reads of metric events, computed in DuckDB: aggregates (totals, time buckets, group by a tag,
tag filters, top-N), the list of a workspace's metrics, and the value an alert rule compares.

Every query is filtered by workspace_id and takes user input only as parameters; the only text
put into SQL comes from fixed tables (AGGREGATES, BUCKETS, metrics.schema.TAG_COLUMNS).
"""

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import duckdb

from accounts import models as accounts_models
from analytics.lake import connections as lake
from analytics.metrics import ingest, rollup, schema
from analytics.metrics.schema import TABLE
from core.errors import InvalidInput
from sheets import values

from .aggregation import (
    AGGREGATES,
    BUCKETS,
    FROM_BUCKETS,
    UTC,
    aggregate_rows,
    check_buckets,
    epoch_us,
    iso,
    number,
    overflowed,
    results_of,
)

DEFAULT_RANGE = dt.timedelta(hours=1)
MAX_TOP = 1000
MAX_METRICS = 20
MAX_TAG_FILTERS = 10
GROUP_BY_FIELDS = ("metric", "source")  # besides tag keys


def parse_moment(raw: str, name: str, end: bool = False) -> dt.datetime:
    """An ISO date (midnight UTC; for `to`, the end of that day) or datetime (UTC unless it says otherwise)."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), UTC)
            return day + dt.timedelta(days=1) if end else day
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise InvalidInput(
            f"{name} must be an ISO date or datetime, e.g. 2026-01-31 or 2026-01-31T12:00:00Z", field=name
        ) from None
    except OverflowError:  # the end of 9999-12-31
        raise InvalidInput(f"{name} is out of range (years 1 to 9999 in UTC)", field=name) from None
    try:
        return values.parse_moment(moment)
    except ValueError as error:
        raise InvalidInput(f"{name}: {error}", field=name) from None


def parse_metric_names(raw: str | None, required: bool = True) -> list[str]:
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names:
        if required:
            raise InvalidInput("metric is required (a name, or several separated by commas)")
        return []
    if len(names) > MAX_METRICS:
        raise InvalidInput(f"at most {MAX_METRICS} metrics")
    for name in names:
        if len(name) > ingest.MAX_NAME or not ingest.METRIC_RE.match(name):
            raise InvalidInput(f"metric {name[:100]!r} is not a valid metric name")
    return list(dict.fromkeys(names))


def _tag_key(key, what):
    if len(key) > ingest.MAX_TAG_KEY or not ingest.TAG_KEY_RE.match(key):
        raise InvalidInput(f"{what} {key[:100]!r} is not a valid tag key")
    return key


def time_range(
    params: Mapping[str, Any], default_span: dt.timedelta | None = DEFAULT_RANGE, now: dt.datetime | None = None
) -> tuple[dt.datetime | None, dt.datetime]:
    now = now or dt.datetime.now(UTC)
    raw_from, raw_to = params.get("from"), params.get("to")
    end = parse_moment(raw_to, "to", end=True) if raw_to else now
    start = parse_moment(raw_from, "from") if raw_from else (end - default_span if default_span else None)
    if start is not None and start >= end:
        raise InvalidInput("from must be before to")
    return start, end


@dataclass
class AggregateQuery:
    metrics: list
    agg: str = "sum"
    bucket: str | None = None
    group_by: str | None = None
    tags: list = field(default_factory=list)  # [(key, value)]
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    top: int | None = None


def parse_aggregate_params(params: Mapping[str, Any], now: dt.datetime | None = None) -> AggregateQuery:
    """An AggregateQuery from query parameters (a QueryDict or a dict of str / lists); InvalidInput
    with a message naming the parameter otherwise."""

    def one(name):
        value = params.get(name)
        return value if value not in ("", None) else None

    def many(name):
        if hasattr(params, "getlist"):
            return params.getlist(name)
        value = params.get(name)
        return value if isinstance(value, list) else ([value] if value else [])

    agg = one("agg") or "sum"
    if agg not in AGGREGATES:
        raise InvalidInput("agg must be one of " + ", ".join(AGGREGATES))
    bucket = one("bucket")
    if bucket is not None and bucket not in BUCKETS:
        raise InvalidInput("bucket must be one of " + ", ".join(BUCKETS))
    group_by = one("group_by")
    if group_by is not None and group_by not in GROUP_BY_FIELDS:
        _tag_key(group_by, "group_by")
    tags = []
    for raw in many("tag"):
        key, sep, value = raw.partition(":")
        if not sep:
            raise InvalidInput("tag must be key:value")
        try:
            tags.append((_tag_key(key, "tag"), values.check_text(value, f"tag {key!r}")))
        except ValueError as error:
            raise InvalidInput(str(error), field="tag") from None
    if len(tags) > MAX_TAG_FILTERS:
        raise InvalidInput(f"at most {MAX_TAG_FILTERS} tag filters")
    top = one("top")
    if top is not None:
        try:
            top = int(top)
        except ValueError:
            raise InvalidInput("top must be a whole number") from None
        if not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top must be between 1 and {MAX_TOP}")
    start, end = time_range(params, now=now)
    check_buckets(bucket, start, end)
    return AggregateQuery(
        metrics=parse_metric_names(one("metric")),
        agg=agg,
        bucket=bucket,
        group_by=group_by,
        tags=tags,
        start=start,
        end=end,
        top=top,
    )


def _group_expression(group_by, params):
    if group_by is None:
        return "NULL::VARCHAR"
    if group_by in GROUP_BY_FIELDS:
        return group_by
    column = schema.tag_column(group_by)
    if column:
        return column
    params.append(group_by)
    return "tags[?]"


def where_clause(
    workspace_id: int,
    metric_names: list[str],
    start: dt.datetime | int | None,
    end: dt.datetime | int | None,
    tags: list,
    moment: str = "ts",
) -> tuple[str, list]:
    """(SQL, parameters) of the filter shared by every read: the workspace first, always. `start`
    and `end` are datetimes or epoch microseconds; `moment` the time column (a rollup's: "period",
    epoch microseconds)."""
    clauses, params = ["workspace_id = ?"], [workspace_id]
    if metric_names:
        clauses.append("metric IN (" + ", ".join("?" for _ in metric_names) + ")")
        params += metric_names
    bound = "?" if moment == "period" else "make_timestamp(?)::TIMESTAMPTZ"
    if start is not None:
        clauses.append(f"{moment} >= {bound}")
        params.append(start if isinstance(start, int) else epoch_us(start))
    if end is not None:
        clauses.append(f"{moment} < {bound}")
        params.append(end if isinstance(end, int) else epoch_us(end))
    for key, value in tags:
        column = schema.tag_column(key)
        if column:
            clauses.append(f"{column} = ?")
            params.append(value)
        else:
            clauses.append("tags[?] = ?")
            params += [key, value]
    return " AND ".join(clauses), params


def metric_aggregate(*, workspace_id: int, query: AggregateQuery) -> dict:
    """The aggregate in the dashboard's contract: series (when bucketed) and totals per group."""
    schema.ensure_table()
    q = query
    group_params = []
    group = _group_expression(q.group_by, group_params)
    con = schema.connection()
    bucket_us = BUCKETS[q.bucket] * 1_000_000 if q.bucket else None
    grain = rollup.grain_for(group_by=q.group_by, tags=q.tags, bucket_seconds=BUCKETS[q.bucket] if q.bucket else None)

    def rows_of(source, where, where_params, group, group_params, agg, moment):
        return aggregate_rows(
            lambda sql, params: con.execute(sql, params).fetchall(),
            source=source,
            where=where,
            where_params=where_params,
            group=group,
            group_params=group_params,
            agg=agg,
            moment=moment,
            bucket_us=bucket_us,
            top=q.top,
            combine=FROM_BUCKETS.get(q.agg),
        )

    with lake.snapshot(con):  # the rollup's watermark and the reads agree
        partials = grain and _rollup_source(con, grain, workspace_id, q, group, group_params)
        if partials:
            rows = rows_of(partials[0], "TRUE", partials[1], "g", [], rollup.FINAL[q.agg], "period")
        else:
            where, where_params = where_clause(workspace_id, q.metrics, q.start, q.end, q.tags)
            rows = rows_of(TABLE, where, where_params, group, group_params, AGGREGATES[q.agg], "epoch_us(ts)")
    return {
        "metric": ",".join(q.metrics),
        "agg": q.agg,
        "bucket": q.bucket,
        "group_by": q.group_by,
        "from": iso(epoch_us(q.start)) if q.start else None,
        "to": iso(epoch_us(q.end)),
        **results_of(rows, agg=q.agg, group_by=q.group_by, top=q.top, bucket_us=bucket_us),
    }


def _rollup_source(con, grain, workspace_id, q, group, group_params):
    """(SQL of a subquery of partial aggregates (g, period, n, total, lo, hi), its parameters) for
    the events of the query: the rollup for the whole periods of `grain` inside [start, end), the
    events themselves for the ragged ends and for the snapshots not yet in the rollup. None when
    the range holds no whole period. Inside a lake transaction (see analytics/metrics/rollup.py)."""
    start, end, size = epoch_us(q.start), epoch_us(q.end), grain.micros
    horizon = retention_horizon(con, workspace_id, start)
    # Before the horizon the folded events are gone: a partial period there counts whole (the
    # rollup's grain is the finest left), its events not yet folded counted from the events.
    if start < horizon:
        start = start // size * size
    if end <= horizon:
        end = -(-end // size) * size
    inner_start, inner_end = -(-start // size) * size, end // size * size
    if inner_start >= inner_end:
        return None
    arms, params = [], []

    def events(low, high, extra=""):
        where, where_params = where_clause(workspace_id, q.metrics, low, high, q.tags)
        arms.append(
            f"SELECT {group} AS g, epoch_us(ts) // {size} * {size} AS period, count(*) AS n, "
            f"sum(value) AS total, min(value) AS lo, max(value) AS hi FROM {TABLE} "
            f"WHERE {where}{extra} GROUP BY g, period"
        )
        params.extend(group_params + where_params)

    where, where_params = where_clause(workspace_id, q.metrics, inner_start, inner_end, q.tags, moment="period")
    arms.append(
        f"SELECT {group} AS g, period, n, total, lo, hi FROM {schema.ROLLUP} WHERE grain = {grain.seconds} AND {where}"
    )
    params.extend(group_params + where_params)
    events(inner_start, inner_end, f" AND {rollup.unfolded(con)}")
    if start < inner_start:
        events(start, inner_start)
    if inner_end < end:
        events(inner_end, end)
    return "(" + " UNION ALL ".join(arms) + ") AS partials", params


def retention_horizon(con: duckdb.DuckDBPyConnection, workspace_id: int, start_us: int) -> int:
    """The moment (epoch microseconds) before which the workspace's folded events may have been
    deleted by the retention (0: none), as of con's transaction. A range starting within the
    shortest retention never reaches it: not looked up."""
    shortest = accounts_models.METRIC_RETENTION_MIN_DAYS * 86_400_000_000
    if start_us >= epoch_us(dt.datetime.now(UTC)) - shortest:
        return 0
    return con.execute(
        f"SELECT coalesce(max(horizon), 0) FROM {schema.RETENTION_TABLE} WHERE workspace_id = ?", [workspace_id]
    ).fetchone()[0]


def window_value(
    *,
    workspace_id: int,
    metric: str,
    agg: str,
    window_seconds: int,
    tags: Iterable[tuple[str, str]] = (),
    now: dt.datetime | None = None,
) -> float | None:
    """One aggregate of a metric over the last window_seconds (what an alert rule compares)."""
    schema.ensure_table()
    end = now or dt.datetime.now(UTC)
    where, params = where_clause(workspace_id, [metric], end - dt.timedelta(seconds=window_seconds), None, list(tags))
    value = schema.connection().execute(f"SELECT {AGGREGATES[agg]} FROM {TABLE} WHERE {where}", params).fetchone()[0]
    if value is None and agg in ("sum", "count"):
        return 0.0
    value = number(value)
    return None if overflowed(value) else value  # an overflowed aggregate has no value to compare


def metric_catalog(*, workspace_id: int) -> dict:
    """The workspace's metrics (events, last timestamp, tag keys seen) for the dashboard's pickers."""
    schema.ensure_table()
    con = schema.connection()
    with lake.snapshot(con):  # the rollup's tag keys, its watermark and the newer events agree
        horizon = retention_horizon(con, workspace_id, 0)
        if horizon:
            # Before the retention's horizon, the folded events are counted in the rollup (the
            # deleted ones are only there; "last" of a metric seen only there is its last minute).
            folded_before = f"ts < make_timestamp({int(horizon)})::TIMESTAMPTZ AND NOT ({rollup.unfolded(con)})"
            found = con.execute(
                f"SELECT metric, sum(n)::BIGINT, max(last) FROM (SELECT metric, count(*) AS n, epoch_us(max(ts)) "
                f"AS last FROM {TABLE} WHERE workspace_id = ? AND NOT ({folded_before}) GROUP BY metric "
                f"UNION ALL SELECT metric, sum(n), max(period) FROM {schema.ROLLUP} WHERE workspace_id = ? "
                f"AND grain = {rollup.MINUTE.seconds} AND period < {int(horizon)} GROUP BY metric) "
                "GROUP BY metric ORDER BY metric",
                [workspace_id, workspace_id],
            ).fetchall()
        else:
            found = con.execute(
                f"SELECT metric, count(*), epoch_us(max(ts)) FROM {TABLE} WHERE workspace_id = ? GROUP BY metric "
                "ORDER BY metric",
                [workspace_id],
            ).fetchall()
        # The tag keys of every event is a scan of each one's map (~0.8 s for 10M events): those
        # folded into the rollup are listed there, only the newer events are read.
        newer = f"workspace_id = {int(workspace_id)} AND {rollup.unfolded(con)}"
        keys = dict(
            con.execute(
                f"SELECT metric, list(DISTINCT key ORDER BY key) FROM (SELECT metric, key FROM {schema.TAG_KEYS_TABLE} "
                f"WHERE workspace_id = ? UNION ALL SELECT metric, key FROM ({rollup.tag_keys_sql(newer)})) "
                "GROUP BY metric",
                [workspace_id],
            ).fetchall()
        )
    listed = [
        {"name": name, "count": count, "last": iso(last), "tag_keys": keys.get(name) or []}
        for name, count, last in found
    ]
    return {"metrics": listed, "tag_keys": sorted({k for item in listed for k in item["tag_keys"]})}
