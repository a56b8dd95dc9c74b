"""Reads of metric events, computed in DuckDB: aggregates (totals, time buckets, group by a tag,
tag filters, top-N), the list of a workspace's metrics, and exports of their history; and the
same aggregates over a sheet's lake view, for the dashboard's sheet widgets.

Every query is filtered by workspace_id and takes user input only as parameters; the only text
put into SQL comes from fixed tables (AGGREGATES, BUCKETS, metrics.TAG_COLUMNS) or, for sheets,
the view's column names as the lake's own state has them (chosen by a column key that must be
one of the sheet's).
"""
import csv
import datetime as dt
import io
import math
import operator
import re
import tempfile
from dataclasses import dataclass, field

from sheets import values
from core.errors import InvalidInput, NotFound, TooLarge
from core.exports import neutralize, xlsx_text_cell
from sheets.models import NUMERIC_COLUMN_TYPES, Column, Sheet

from . import lake, metrics, rollup, selectors
from .metrics import TABLE

UTC = dt.timezone.utc
AGGREGATES = {"sum": "sum(value)", "count": "count(*)", "avg": "avg(value)", "min": "min(value)", "max": "max(value)"}
# How a group's total follows from its buckets' values (an average does not: it is computed).
FROM_BUCKETS = {"sum": operator.add, "count": operator.add, "min": min, "max": max}
BUCKETS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
DEFAULT_RANGE = dt.timedelta(hours=1)
MAX_POINTS = 200_000  # buckets × groups in one answer
MAX_GROUPS = 1000
MAX_TOP = 1000
MAX_METRICS = 20
MAX_TAG_FILTERS = 10
GROUP_BY_FIELDS = ("metric", "source")  # besides tag keys
EXPORT_CHUNK = 10_000
XLSX_MAX_ROWS = 1_048_575


def iso(moment_us):
    """ISO-8601 in UTC with a Z, seconds precision unless there is a fraction."""
    moment = dt.datetime.fromtimestamp(moment_us / 1_000_000, UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def _epoch_us(moment):
    return int(round(moment.timestamp() * 1_000_000))


def parse_moment(raw, name, end=False):
    """An ISO date (midnight UTC; for `to`, the end of that day) or datetime (UTC unless it says otherwise)."""
    text = raw.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), UTC)
            return day + dt.timedelta(days=1) if end else day
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO date or datetime, e.g. 2026-01-31 or 2026-01-31T12:00:00Z",
                           field=name) from None
    except OverflowError:  # the end of 9999-12-31
        raise InvalidInput(f"{name} is out of range (years 1 to 9999 in UTC)", field=name) from None
    try:
        return values.parse_moment(moment)
    except ValueError as error:
        raise InvalidInput(f"{name}: {error}", field=name) from None


def _metric_names(raw, required=True):
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names:
        if required:
            raise InvalidInput("metric is required (a name, or several separated by commas)")
        return []
    if len(names) > MAX_METRICS:
        raise InvalidInput(f"at most {MAX_METRICS} metrics")
    for name in names:
        if len(name) > metrics.MAX_NAME or not metrics.METRIC_RE.match(name):
            raise InvalidInput(f"metric {name[:100]!r} is not a valid metric name")
    return list(dict.fromkeys(names))


def _tag_key(key, what):
    if len(key) > metrics.MAX_TAG_KEY or not metrics.TAG_KEY_RE.match(key):
        raise InvalidInput(f"{what} {key[:100]!r} is not a valid tag key")
    return key


def _range(params, default_span=DEFAULT_RANGE, now=None):
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


def _check_buckets(bucket, start, end):
    if bucket is not None and (end - start).total_seconds() / BUCKETS[bucket] > MAX_POINTS:
        raise InvalidInput(f"too many {bucket} buckets between from and to; choose a larger bucket or a shorter range")


def parse_aggregate_params(params, now=None):
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
    start, end = _range(params, now=now)
    _check_buckets(bucket, start, end)
    return AggregateQuery(metrics=_metric_names(one("metric")), agg=agg, bucket=bucket, group_by=group_by,
                          tags=tags, start=start, end=end, top=top)


def _group_expression(group_by, params):
    if group_by is None:
        return "NULL::VARCHAR"
    if group_by in GROUP_BY_FIELDS:
        return group_by
    column = metrics.tag_column(group_by)
    if column:
        return column
    params.append(group_by)
    return "tags[?]"


def _where(workspace_id, metric_names, start, end, tags, moment="ts"):
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
        params.append(start if isinstance(start, int) else _epoch_us(start))
    if end is not None:
        clauses.append(f"{moment} < {bound}")
        params.append(end if isinstance(end, int) else _epoch_us(end))
    for key, value in tags:
        column = metrics.tag_column(key)
        if column:
            clauses.append(f"{column} = ?")
            params.append(value)
        else:
            clauses.append("tags[?] = ?")
            params += [key, value]
    return " AND ".join(clauses), params


def _number(value):
    if value is None:
        return None
    return int(value) if isinstance(value, int) else float(value)


def metric_aggregate(*, workspace_id, query):
    """The aggregate in the dashboard's contract: series (when bucketed) and totals per group."""
    metrics.ensure_table()
    q = query
    group_params = []
    group = _group_expression(q.group_by, group_params)
    con = metrics.connection()
    bucket_us = BUCKETS[q.bucket] * 1_000_000 if q.bucket else None
    grain = rollup.grain_for(group_by=q.group_by, tags=q.tags, bucket_seconds=BUCKETS[q.bucket] if q.bucket else None)

    def rows_of(source, where, where_params, group, group_params, agg, moment):
        return _aggregate_rows(lambda sql, params: con.execute(sql, params).fetchall(), source=source, where=where,
                               where_params=where_params, group=group, group_params=group_params, agg=agg,
                               moment=moment, bucket_us=bucket_us, top=q.top, combine=FROM_BUCKETS.get(q.agg))

    with lake.snapshot(con):  # the rollup's watermark and the reads agree
        partials = grain and _rollup_source(con, grain, workspace_id, q, group, group_params)
        if partials:
            rows = rows_of(partials[0], "TRUE", partials[1], "g", [], rollup.FINAL[q.agg], "period")
        else:
            where, where_params = _where(workspace_id, q.metrics, q.start, q.end, q.tags)
            rows = rows_of(TABLE, where, where_params, group, group_params, AGGREGATES[q.agg], "epoch_us(ts)")
    return {
        "metric": ",".join(q.metrics),
        "agg": q.agg,
        "bucket": q.bucket,
        "group_by": q.group_by,
        "from": iso(_epoch_us(q.start)) if q.start else None,
        "to": iso(_epoch_us(q.end)),
        **_results(rows, agg=q.agg, group_by=q.group_by, top=q.top, bucket_us=bucket_us),
    }


def _rollup_source(con, grain, workspace_id, q, group, group_params):
    """(SQL of a subquery of partial aggregates (g, period, n, total, lo, hi), its parameters) for
    the events of the query: the rollup for the whole periods of `grain` inside [start, end), the
    events themselves for the ragged ends and for the snapshots not yet in the rollup. None when
    the range holds no whole period. Inside a lake transaction (see analytics/rollup.py)."""
    start, end, size = _epoch_us(q.start), _epoch_us(q.end), grain.micros
    inner_start, inner_end = -(-start // size) * size, end // size * size
    if inner_start >= inner_end:
        return None
    arms, params = [], []

    def events(low, high, extra=""):
        where, where_params = _where(workspace_id, q.metrics, low, high, q.tags)
        arms.append(f"SELECT {group} AS g, epoch_us(ts) // {size} * {size} AS period, count(*) AS n, "
                    f"sum(value) AS total, min(value) AS lo, max(value) AS hi FROM {TABLE} "
                    f"WHERE {where}{extra} GROUP BY g, period")
        params.extend(group_params + where_params)

    where, where_params = _where(workspace_id, q.metrics, inner_start, inner_end, q.tags, moment="period")
    arms.append(f"SELECT {group} AS g, period, n, total, lo, hi FROM {rollup.ROLLUP} "
                f"WHERE grain = {grain.seconds} AND {where}")
    params.extend(group_params + where_params)
    events(inner_start, inner_end, f" AND snapshot_id > {int(rollup.watermark(con))}")
    if start < inner_start:
        events(start, inner_start)
    if inner_end < end:
        events(inner_end, end)
    return "(" + " UNION ALL ".join(arms) + ") AS partials", params


def _aggregate_rows(execute, *, source, where, where_params, group, group_params, agg, moment, bucket_us, top,
                    combine=None):
    """(group, bucket number or None for a group's total, value) rows of one aggregate over
    `source` filtered by `where`: `group` and `agg` are SQL expressions (from fixed tables; their
    parameters in group_params), `moment` the SQL of a row's time in epoch microseconds.
    `combine(a, b)`, where the aggregate allows, makes a group's total from its buckets' values.
    `execute(sql, params)` returns the rows."""
    params = group_params + where_params
    limit = top if top is not None else MAX_GROUPS + 1
    # Plain scans, no materialized intermediate (a CTE over millions of rows cost 10x):
    # totals alone; or buckets and totals in one GROUPING SETS pass; or, for top-N with buckets,
    # the top groups first and then the buckets of those groups only.
    if not bucket_us:
        return execute(
            f"SELECT {group} AS g, NULL::BIGINT, {agg} AS v FROM {source} WHERE {where} GROUP BY g "
            f"ORDER BY v DESC NULLS LAST, g NULLS LAST LIMIT {int(limit)}", params)
    if top is None and combine is not None:
        # Totals from the buckets: one plain GROUP BY costs about a third less than GROUPING SETS
        # over millions of rows (a day of 1-minute buckets over 6M events: 185 -> 130 ms).
        rows = execute(f"SELECT {group} AS g, {moment} // {int(bucket_us)} AS b, {agg} AS v FROM {source} "
                       f"WHERE {where} GROUP BY g, b", params)
        totals = {}
        for g, _, v in rows:
            total = totals.get(g)
            totals[g] = v if total is None else total if v is None else combine(total, v)
        return rows + [(g, None, v) for g, v in totals.items()]
    if top is None:
        rows = execute(
            f"SELECT {group} AS g, {moment} // {int(bucket_us)} AS b, {agg} AS v, grouping(b) AS total "
            f"FROM {source} WHERE {where} GROUP BY GROUPING SETS ((g, b), (g))", params)
        return [(g, None if total else b, v) for g, b, v, total in rows]
    rows = execute(
        f"SELECT {group} AS g, NULL::BIGINT, {agg} AS v FROM {source} WHERE {where} GROUP BY g "
        f"ORDER BY v DESC NULLS LAST, g NULLS LAST LIMIT {int(limit)}", params)
    chosen = [g for g, _, _ in rows if g is not None]
    wanted, wanted_params = [], []
    if chosen:
        wanted.append(f"{group} IN (" + ", ".join("?" for _ in chosen) + ")")
        wanted_params += group_params + chosen  # the group's own parameters again, per use
    if any(g is None for g, _, _ in rows):
        wanted.append(f"{group} IS NULL")
        wanted_params += group_params
    if wanted:
        rows += execute(
            f"SELECT {group} AS g, {moment} // {int(bucket_us)} AS b, {agg} FROM {source} "
            f"WHERE {where} AND ({' OR '.join(wanted)}) GROUP BY g, b",
            params + wanted_params,
        )
    return rows


def overflowed(value):
    """Whether a computed value is beyond what a float holds: ±Infinity, or NaN (Infinity - Infinity)."""
    return isinstance(value, float) and not math.isfinite(value)


def _rank(value):
    """Largest first (an overflowed +inf too); no value, or NaN (inf - inf), last."""
    return (1, 0) if value is None or value != value else (0, -value)


def _results(rows, *, agg, group_by, top, bucket_us, value=None):
    """The answer's series and totals from _aggregate_rows' rows, largest total first; `value`
    turns a computed value into the answer's (a number by default). A value beyond what a float
    holds (a sum of 1e308s is Infinity in DuckDB and Python alike) is shown as null: its total is
    marked "overflow": true, and so is the answer (JSON has no Infinity or NaN)."""
    value = value or _number
    totals = [(g, _number(v)) for g, b, v in rows if b is None]
    if group_by is not None and top is None and len(totals) > MAX_GROUPS:
        raise InvalidInput(f"more than {MAX_GROUPS} groups of {group_by}; ask for the top=N of them")
    totals.sort(key=lambda item: _rank(item[1]))
    if group_by is None and not totals:
        totals = [(None, 0 if agg in ("sum", "count") else None)]
    overflow = False

    def shown(v):
        nonlocal overflow
        v = value(v)
        if overflowed(v):
            overflow = True
            return None
        return v

    series = []
    if bucket_us:
        points = {}
        for g, b, v in rows:
            if b is not None:
                points.setdefault(g, []).append((b, v))
        for g, _ in totals:
            series.append({"group": g,
                           "points": [[iso(b * bucket_us), shown(v)] for b, v in sorted(points.get(g, ()))]})
    results = {"series": series, "totals": []}
    for g, v in totals:
        total = {"group": g, "value": shown(v)}
        if overflowed(v):
            total["overflow"] = True
        results["totals"].append(total)
    if overflow:
        results["overflow"] = True
    return results


# --- sheets -----------------------------------------------------------------------------------

TIME_TYPES = ("date", "datetime")
# The column types each aggregate takes, and what to say otherwise (count takes any column).
VALUE_TYPES = {
    "sum": (NUMERIC_COLUMN_TYPES, "sum needs a number column"),
    "avg": (NUMERIC_COLUMN_TYPES, "avg needs a number column"),
    "min": (NUMERIC_COLUMN_TYPES + TIME_TYPES, "min needs a number, date or date-and-time column"),
    "max": (NUMERIC_COLUMN_TYPES + TIME_TYPES, "max needs a number, date or date-and-time column"),
}
DAY_US = 86_400_000_000


class SheetNotInLake(InvalidInput):
    """The sheet (or its latest column change) has not been written to the lake yet."""
    code = "unavailable"


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
        if types and column.type not in types:
            raise InvalidInput(f"{role}: {need}, and {column.name!r} is a {column.get_type_display().lower()} column")
        return column

    chosen = {
        "column": active("column", *VALUE_TYPES.get(query["agg"], ())),
        "group_by": active("group_by"),
        "time_column": active("time_column", TIME_TYPES, "the time column is a date or date-and-time column"),
    }
    if query["bucket"] not in (None, "day") and chosen["time_column"] and chosen["time_column"].type == "date":
        raise InvalidInput(f"bucket: {chosen['time_column'].name!r} holds dates, so its bucket is a day")
    return sheet, chosen


def _day_text(epoch_us):
    return None if epoch_us is None else iso(epoch_us)[:10]


def _moment_text(epoch_us):
    return None if epoch_us is None else iso(epoch_us)


def sheet_aggregate(*, workspace_id, query, start=None, end=None):
    """A dashboard widget's aggregate over one of the workspace's sheets (`query`: the sheet shape
    of dashboards.clean_query), computed on the sheet's lake view, in metric_aggregate's shape,
    plus the names of the sheet and its columns in `labels`. With a time column, only the rows
    whose time falls in [start, end) count (a date: whose day overlaps it), and a bucket makes
    series. A min or max of a date or datetime is ISO text. NotFound for a sheet of another
    workspace or a deleted one; InvalidInput for a missing, deleted or unfit column."""
    sheet, chosen = _sheet_columns(workspace_id, query)
    view_columns = selectors.sheet_view_columns(sheet.pk)
    if view_columns is None:
        raise SheetNotInLake(f"the sheet {sheet.name!r} has not reached analytics yet; it shows here once the "
                             "analytics worker has written it")

    def name(column):
        found = view_columns.get(column.key)
        if found is None or found[1] != column.type:  # a column added or retyped a moment ago
            raise SheetNotInLake(f"the latest change of the column {column.name!r} is on its way to analytics; "
                                 "it shows here in a moment")
        return selectors.quote_name(found[0])

    def epoch(sql, column):  # a date or datetime as epoch microseconds (a date: its midnight, UTC)
        return f"epoch_us({sql}::TIMESTAMP)" if column.type == "date" else f"epoch_us({sql})"

    agg, value = query["agg"], None
    column, group_column, time_column = chosen["column"], chosen["group_by"], chosen["time_column"]
    if column is None:
        agg_sql = "count(*)"
    elif column.type in TIME_TYPES:  # min or max: as a number, shown as ISO text (no pytz for TIMESTAMPTZ)
        agg_sql = epoch(f"{agg}({name(column)})", column)
        value = _day_text if column.type == "date" else _moment_text
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
            params.append(_epoch_us(start) - (DAY_US - 1 if time_column.type == "date" else 0))
        if end is not None:
            clauses.append(f"{moment} < ?")
            params.append(_epoch_us(end))
        if query["bucket"]:
            if start is not None and end is not None:
                _check_buckets(query["bucket"], start, end)
            bucket_us = BUCKETS[query["bucket"]] * 1_000_000
    rows = _aggregate_rows(lambda sql, p: selectors.query(sql, p)[1], source=selectors.sheet_view_name(sheet.pk),
                           where=" AND ".join(clauses), where_params=params, group=group, group_params=[],
                           agg=agg_sql, moment=moment, bucket_us=bucket_us, top=query["top"],
                           combine=FROM_BUCKETS.get(agg))
    results = _results(rows, agg=agg, group_by=group_column.name if group_column else None, top=query["top"],
                       bucket_us=bucket_us, value=value)
    windowed = time_column is not None
    return {
        "source": "sheet",
        "sheet": sheet.pk,
        "agg": agg,
        "column": query["column"],
        "bucket": query["bucket"],
        "group_by": query["group_by"],
        "time_column": query["time_column"],
        "from": iso(_epoch_us(start)) if windowed and start else None,
        "to": iso(_epoch_us(end)) if windowed and end else None,
        **results,
        "labels": {"sheet": sheet.name, "column": column.name if column else None,
                   "group_by": group_column.name if group_column else None,
                   "time_column": time_column.name if time_column else None},
    }


def window_value(*, workspace_id, metric, agg, window_seconds, tags=(), now=None):
    """One aggregate of a metric over the last window_seconds (what an alert rule compares)."""
    metrics.ensure_table()
    end = now or dt.datetime.now(UTC)
    where, params = _where(workspace_id, [metric], end - dt.timedelta(seconds=window_seconds), None, list(tags))
    value = metrics.connection().execute(f"SELECT {AGGREGATES[agg]} FROM {TABLE} WHERE {where}", params).fetchone()[0]
    if value is None and agg in ("sum", "count"):
        return 0.0
    value = _number(value)
    return None if overflowed(value) else value  # an overflowed aggregate has no value to compare


def metric_catalog(*, workspace_id):
    """The workspace's metrics (events, last timestamp, tag keys seen) for the dashboard's pickers."""
    metrics.ensure_table()
    con = metrics.connection()
    with lake.snapshot(con):  # the rollup's tag keys, its watermark and the newer events agree
        found = con.execute(
            f"SELECT metric, count(*), epoch_us(max(ts)) FROM {TABLE} WHERE workspace_id = ? GROUP BY metric "
            "ORDER BY metric", [workspace_id]).fetchall()
        # The tag keys of every event is a scan of each one's map (~0.8 s for 10M events): those
        # folded into the rollup are listed there, only the newer events are read.
        newer = f"workspace_id = {int(workspace_id)} AND snapshot_id > {int(rollup.watermark(con))}"
        keys = dict(con.execute(
            f"SELECT metric, list(DISTINCT key ORDER BY key) FROM (SELECT metric, key FROM {rollup.TAG_KEYS_TABLE} "
            f"WHERE workspace_id = ? UNION ALL SELECT metric, key FROM ({rollup.tag_keys_sql(newer)})) GROUP BY metric",
            [workspace_id]).fetchall())
    listed = [{"name": name, "count": count, "last": iso(last), "tag_keys": keys.get(name) or []}
              for name, count, last in found]
    return {"metrics": listed, "tag_keys": sorted({k for item in listed for k in item["tag_keys"]})}


def parse_export_params(params):
    start, end = _range(params, default_span=None)
    kind = params.get("format") or "csv"
    if kind not in ("csv", "xlsx"):
        raise InvalidInput("format must be csv or xlsx")
    return _metric_names(params.get("metric"), required=False), start, end, kind


EXPORT_HEADER = ["timestamp", "metric", "value", "source", "tags"]


def _export_cursor(workspace_id, metric_names, start, end):
    metrics.ensure_table()
    where, params = _where(workspace_id, metric_names, start, end, [])
    return metrics.connection().execute(
        f"SELECT epoch_us(ts), metric, value, source, CASE WHEN cardinality(tags) > 0 THEN to_json(tags)::VARCHAR END "
        f"FROM {TABLE} WHERE {where} ORDER BY ts, metric",
        params,
    )


def export_csv_chunks(*, workspace_id, metric_names, start, end):
    """The history as CSV, in chunks of EXPORT_CHUNK events (text neutralized against formulas)."""
    cursor = _export_cursor(workspace_id, metric_names, start, end)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(EXPORT_HEADER)
    try:
        while True:
            rows = cursor.fetchmany(EXPORT_CHUNK)
            for ts, metric, value, source, tags in rows:
                out.writerow([iso(ts), neutralize(metric), repr(value) if value != int(value) else int(value),
                              neutralize(source), neutralize(tags) if tags else ""])
            if buffer.tell():
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
            if not rows:
                break
    finally:
        cursor.close()


def export_xlsx_file(*, workspace_id, metric_names, start, end):
    """The history as an XLSX workbook in a temporary file at its start; TooLarge past Excel's rows."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    where, params = _where(workspace_id, metric_names, start, end, [])
    metrics.ensure_table()
    count = metrics.connection().execute(f"SELECT count(*) FROM {TABLE} WHERE {where}", params).fetchone()[0]
    if count > XLSX_MAX_ROWS:
        raise TooLarge(f"{count} events are too many for an XLSX workbook; export them as CSV or a shorter range")
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet("Metrics")
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in EXPORT_HEADER:
        cell = WriteOnlyCell(ws, value=name)
        cell.font = bold
        header.append(cell)
    ws.append(header)
    cursor = _export_cursor(workspace_id, metric_names, start, end)
    try:
        while rows := cursor.fetchmany(EXPORT_CHUNK):
            for ts, metric, value, source, tags in rows:
                moment = WriteOnlyCell(ws, value=dt.datetime.fromtimestamp(ts / 1_000_000, UTC).replace(tzinfo=None))
                moment.number_format = "yyyy-mm-dd hh:mm:ss"
                texts = [xlsx_text_cell(ws, t) for t in (metric, source, tags or "")]
                ws.append([moment, texts[0], value, texts[1], texts[2]])
    finally:
        cursor.close()
    output = tempfile.TemporaryFile()
    try:
        workbook.save(output)
    except BaseException:
        output.close()
        raise
    output.seek(0)
    return output


def export_filename(kind, metric_names):
    stem = "-".join(metric_names)[:60] if metric_names else "metrics"
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}.{kind}"

