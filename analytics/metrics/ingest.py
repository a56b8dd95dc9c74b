"""Metric events: validation of incoming batches and their durable append to DuckLake's
`metric_events` (one group commit per moment for every request of this process).

An event is acknowledged only after the DuckLake commit that holds it: the catalog lives in
PostgreSQL, so a committed batch survives a crash of this process.
"""

import datetime as dt
import json
import logging
import math
import os
import queue
import re
import sys
import tempfile
import threading
import time

from analytics.lake import connections as lake
from core.errors import GridcastError, InvalidInput
from core.events import announce
from sheets.values import check_text

from . import schema, signals
from .schema import TABLE, TAG_COLUMNS

log = logging.getLogger(__name__)

MAX_BATCH = 10_000
MAX_TAGS = 20
MAX_TAG_KEY = 64
MAX_TAG_VALUE = 200
MAX_NAME = 100
MAX_ERRORS_REPORTED = 100
METRIC_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/-]*\Z")
TAG_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
EARLIEST = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()
FUTURE_SLACK = 24 * 3600


class EventsInvalid(InvalidInput):
    code = "invalid_events"


class EventsNotStored(GridcastError):
    code = "not_stored"
    status = 503


# --- validation -------------------------------------------------------------------------------------


def _timestamp(raw, now):
    """Epoch microseconds from ISO-8601 with a timezone, or epoch seconds (milliseconds past 1e11)."""
    if isinstance(raw, bool):
        raise ValueError("timestamp must be an ISO-8601 string or epoch seconds")
    if isinstance(raw, (int, float)):
        if not math.isfinite(raw) or abs(raw) > 1e15:  # far beyond any moment in range, in ms or s
            raise ValueError("timestamp is out of range (2000-01-01 up to one day ahead)")
        seconds = raw / 1000 if raw > 1e11 else float(raw)
    elif isinstance(raw, str):
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError:
            raise ValueError("timestamp is not ISO-8601") from None
        if parsed.tzinfo is None:
            raise ValueError("timestamp needs a timezone (e.g. Z or +02:00)")
        seconds = parsed.timestamp()
    else:
        raise ValueError("timestamp must be an ISO-8601 string or epoch seconds")
    if seconds < EARLIEST or seconds > now + FUTURE_SLACK:
        raise ValueError("timestamp is out of range (2000-01-01 up to one day ahead)")
    return int(round(seconds * 1_000_000))


def _name(event, field, default=None):
    value = event.get(field, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be a non-empty string")
    if len(value) > MAX_NAME:
        raise ValueError(f"{field} is longer than {MAX_NAME} characters")
    return check_text(value, field)


def _tags(raw):
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValueError("tags must be an object of strings")
    if len(raw) > MAX_TAGS:
        raise ValueError(f"at most {MAX_TAGS} tags")
    for key, value in raw.items():
        if len(key) > MAX_TAG_KEY or not TAG_KEY_RE.match(key):
            raise ValueError(
                f"tag key {key[:MAX_TAG_KEY]!r} is invalid (letters, digits, _ . -, at most {MAX_TAG_KEY})"
            )
        if not isinstance(value, str):
            raise ValueError(f"tag {key!r} must be a string")
        if len(value) > MAX_TAG_VALUE:
            raise ValueError(f"tag {key!r} is longer than {MAX_TAG_VALUE} characters")
        check_text(value, f"tag {key!r}")
    return raw


ALLOWED_FIELDS = frozenset({"source", "metric", "value", "timestamp", "ts", "tags"})


def _event(event, now):
    if not isinstance(event, dict):
        raise ValueError("an event must be an object")
    if not ALLOWED_FIELDS.issuperset(event):
        unknown = sorted(set(event) - ALLOWED_FIELDS)
        raise ValueError(f"unknown field {unknown[0]!r}")
    metric = _name(event, "metric")
    if not METRIC_RE.match(metric):
        raise ValueError("metric may hold letters, digits and _ . : / - only")
    source = _name(event, "source", "api")
    value = event.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("value must be a number")
    if (isinstance(value, int) and abs(value) > sys.float_info.max) or not math.isfinite(value):
        raise ValueError("value must be a finite number (at most ±1.8e308)")
    value = float(value)
    raw_ts = event.get("timestamp", event.get("ts"))
    ts = int(now * 1_000_000) if raw_ts is None else _timestamp(raw_ts, now)
    return source, metric, value, ts, _tags(event.get("tags"))


def validate_events(payload: object) -> list[tuple]:
    """[(source, metric, value, epoch_us, tags)] from a request body ({"events": [...]} or a list).
    Raises EventsInvalid listing every bad event by index (the whole batch is refused)."""
    events = payload.get("events") if isinstance(payload, dict) else payload
    if not isinstance(events, list):
        raise EventsInvalid('send {"events": [...]} or a list of events')
    if not events:
        raise EventsInvalid("the batch is empty")
    if len(events) > MAX_BATCH:
        raise EventsInvalid(f"at most {MAX_BATCH} events per batch (got {len(events)})")
    now = time.time()
    rows, errors = [], []
    for index, event in enumerate(events):
        try:
            rows.append(_event(event, now))
        except ValueError as exc:
            errors.append({"index": index, "reason": str(exc)})
            if len(errors) >= MAX_ERRORS_REPORTED:
                break
    if errors:
        first = errors[0]
        raise EventsInvalid(
            f"event {first['index']}: {first['reason']} ({len(errors)} bad event(s) listed; nothing was stored)",
            errors=errors,
        )
    return rows


# --- the writer ------------------------------------------------------------------------------------


def _before_commit(con):
    """A seam for tests: runs inside the DuckLake transaction, after the insert, before COMMIT."""


def _spool_dir():
    return "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _insert(con, batches):
    """One DuckLake transaction appending every (workspace_id, rows) batch, sorted so that each
    Parquet file holds runs of one workspace and metric (file statistics then prune reads)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", dir=_spool_dir(), delete=False) as spool:
        # dumps, not dump: the one-shot C encoder is 3-4x faster than dump's chunked writes.
        spool.write(
            json.dumps(
                [
                    {"w": workspace_id, "s": source, "m": metric, "v": value, "t": ts, "g": tags}
                    for workspace_id, rows in batches
                    for source, metric, value, ts, tags in rows
                ],
                separators=(",", ":"),
                allow_nan=False,
            )
        )
    try:
        promoted = ", ".join(f"g['{key}']" for key in TAG_COLUMNS)  # constants, not user text
        with lake.transaction(con):
            con.execute(
                f"INSERT INTO {TABLE} SELECT w, s, m, v, make_timestamp(t)::TIMESTAMPTZ, g, {promoted} "
                "FROM read_json(?, format = 'array', columns = {w: 'BIGINT', s: 'VARCHAR', m: 'VARCHAR', "
                "v: 'DOUBLE', t: 'BIGINT', g: 'MAP(VARCHAR, VARCHAR)'}) ORDER BY w, m, t",
                [spool.name],
            )
            _before_commit(con)
    finally:
        os.unlink(spool.name)


class _Pending:
    __slots__ = ("workspace_id", "rows", "done", "error")

    def __init__(self, workspace_id, rows):
        self.workspace_id, self.rows, self.done, self.error = workspace_id, rows, threading.Event(), None


class GroupWriter:
    """One thread per process appends whatever batches are waiting in a single DuckLake commit:
    concurrent requests share the cost of a commit (a catalog transaction and a Parquet file)."""

    MAX_ROWS_PER_COMMIT = 100_000

    def __init__(self):
        self._queue = queue.Queue()
        self._thread = None
        self._lock = threading.Lock()
        self.commits = 0

    def _start(self):
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="metric-writer", daemon=True)
                self._thread.start()

    def write(self, workspace_id: int, rows: list[tuple], timeout: float = 60) -> None:
        pending = _Pending(workspace_id, rows)
        self._start()
        self._queue.put(pending)
        if not pending.done.wait(timeout):
            raise EventsNotStored("the events could not be stored in time; send them again")
        if pending.error is not None:
            raise EventsNotStored("the events were not stored; send them again") from pending.error

    def _run(self):
        con, generation = None, None
        while True:
            group = [self._queue.get()]
            size = len(group[0].rows)
            while size < self.MAX_ROWS_PER_COMMIT:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(item)
                size += len(item.rows)
            con, generation = self._commit(con, generation, group)
            for pending in group:
                pending.done.set()

    def _commit(self, con, generation, group):
        """Append the group in one commit. When that fails and the group holds several requests'
        batches, each is committed on its own: whatever one batch holds that the lake refuses
        fails that request only, never another workspace's. Returns the connection to go on with."""
        try:
            if con is None or generation != schema.connection_generation() or schema.renewal_due():
                con = schema.connection()
                generation = schema.connection_generation()
                schema.ensure_table(con)
            _insert(con, [(p.workspace_id, p.rows) for p in group])
            self.commits += 1
            return con, generation
        except Exception as exc:  # noqa: BLE001 - the waiting requests learn of it
            log.exception(
                "metric events not stored (%d events of %d requests)", sum(len(p.rows) for p in group), len(group)
            )
            if len(group) == 1:
                group[0].error = exc
                return None, generation  # a fresh cursor after a failure
        con = None  # a fresh cursor after a failure
        for pending in group:
            con, generation = self._commit(con, generation, [pending])
        return con, generation


writer = GroupWriter()


def events_ingest(*, workspace_id: int, payload: object) -> tuple[int, list[str]]:
    """Validate and durably append a batch; returns (count, metric names). Nothing of a bad or
    failed batch is stored. After the commit, signals.metrics_ingested tells its subscribers."""
    rows = validate_events(payload)
    writer.write(workspace_id, rows)
    metrics = sorted({row[1] for row in rows})
    _after_commit(workspace_id, metrics)
    return len(rows), metrics


def _after_commit(workspace_id, metrics):
    """Tell the subscribers of signals.metrics_ingested (live dashboards, alert rules)."""
    announce(signals.metrics_ingested, GroupWriter, "metrics ingested", workspace_id=workspace_id, metrics=metrics)
