"""Exports of a workspace's metric history: CSV in chunks, or an XLSX workbook (text neutralized
against formulas)."""

import csv
import datetime as dt
import io
import re
import tempfile
from collections.abc import Iterator, Mapping
from typing import IO, Any

from analytics.metrics import schema
from analytics.metrics.schema import TABLE
from core.errors import InvalidInput, TooLarge
from core.exports import neutralize, xlsx_text_cell

from .aggregation import UTC, iso
from .metric_aggregates import parse_metric_names, time_range, where_clause

EXPORT_CHUNK = 10_000
XLSX_MAX_ROWS = 1_048_575


def parse_export_params(params: Mapping[str, Any]) -> tuple[list[str], dt.datetime | None, dt.datetime, str]:
    start, end = time_range(params, default_span=None)
    kind = params.get("format") or "csv"
    if kind not in ("csv", "xlsx"):
        raise InvalidInput("format must be csv or xlsx")
    return parse_metric_names(params.get("metric"), required=False), start, end, kind


EXPORT_HEADER = ["timestamp", "metric", "value", "source", "tags"]


def _export_cursor(workspace_id, metric_names, start, end):
    schema.ensure_table()
    where, params = where_clause(workspace_id, metric_names, start, end, [])
    return schema.connection().execute(
        f"SELECT epoch_us(ts), metric, value, source, CASE WHEN cardinality(tags) > 0 THEN to_json(tags)::VARCHAR END "
        f"FROM {TABLE} WHERE {where} ORDER BY ts, metric",
        params,
    )


def export_csv_chunks(
    *, workspace_id: int, metric_names: list[str], start: dt.datetime | None, end: dt.datetime
) -> Iterator[bytes]:
    """The history as CSV, in chunks of EXPORT_CHUNK events (text neutralized against formulas)."""
    cursor = _export_cursor(workspace_id, metric_names, start, end)
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(EXPORT_HEADER)
    try:
        while True:
            rows = cursor.fetchmany(EXPORT_CHUNK)
            for ts, metric, value, source, tags in rows:
                out.writerow(
                    [
                        iso(ts),
                        neutralize(metric),
                        repr(value) if value != int(value) else int(value),
                        neutralize(source),
                        neutralize(tags) if tags else "",
                    ]
                )
            if buffer.tell():
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
            if not rows:
                break
    finally:
        cursor.close()


def export_xlsx_file(
    *, workspace_id: int, metric_names: list[str], start: dt.datetime | None, end: dt.datetime
) -> IO[bytes]:
    """The history as an XLSX workbook in a temporary file at its start; TooLarge past Excel's rows."""
    # openpyxl is loaded by the first export, not by every process that serves requests.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    where, params = where_clause(workspace_id, metric_names, start, end, [])
    schema.ensure_table()
    count = schema.connection().execute(f"SELECT count(*) FROM {TABLE} WHERE {where}", params).fetchone()[0]
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


def export_filename(kind: str, metric_names: list[str]) -> str:
    stem = "-".join(metric_names)[:60] if metric_names else "metrics"
    return f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', stem)}.{kind}"
