"""Every Prometheus metric of Gridcast, in one place (docs/operations.md lists them), and their
exposition at /metrics and on the analytics worker's own port.

Two ways to run, one code path. Without PROMETHEUS_MULTIPROC_DIR each process serves its own
metrics (the embedded default is one process: web, writer and worker). With it, every process of
a machine (uvicorn workers, `manage.py analytics_worker`) writes its values to files in that
directory and any one of them serves the sum: a scrape through the load balancer sees them all.
prometheus_client chooses its value storage when imported, from that variable alone.

Labels are bounded: routes are URL patterns, never paths, and lake lag carries at most
METRICS_SHEET_LABELS sheet ids (later sheets are counted under sheet="other").
"""

import os
import threading

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)

# No `_created` series beside each counter and histogram: Prometheus does not need them.
disable_created_metrics()

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
if MULTIPROCESS:  # prometheus_client writes a file there as each metric is made: the folder must exist
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Buckets in seconds: an edit is acked in milliseconds, the lake is tens of milliseconds behind.
FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
SLOW = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# --- realtime -------------------------------------------------------------------------------------
connections = Gauge(
    "gridcast_ws_connections",
    "Open WebSocket connections (sheet and dashboard sockets, their public links)",
    multiprocess_mode="livesum",
)
edits = Counter("gridcast_ws_edits_total", "Write frames applied through WebSocket")
delivered = Counter("gridcast_ws_frames_delivered_total", "Frames written to WebSocket clients")
edit_latency = Histogram(
    "gridcast_ws_edit_latency_seconds", "From receiving a write frame to sending its ack", buckets=FAST
)

# --- HTTP -----------------------------------------------------------------------------------------
http_latency = Histogram(
    "gridcast_http_request_duration_seconds",
    "HTTP request latency by route (the URL pattern; 'unmatched' for a 404 without one)",
    ["method", "route", "status"],
    buckets=FAST,
)

# --- analytics worker -----------------------------------------------------------------------------
lake_lag = Histogram(
    "gridcast_lake_lag_seconds",
    "From an operation's commit in the database to its batch's commit in the lake",
    buckets=SLOW,
)
lake_lag_sheet = Gauge(
    "gridcast_lake_sheet_lag_seconds",
    "Lake lag of the newest operation of a sheet at its last batch (bounded set of sheets)",
    ["sheet"],
    multiprocess_mode="mostrecent",
)
lake_operations = Counter("gridcast_lake_operations_total", "Operations applied to the lake by the writer")
worker_step = Histogram("gridcast_worker_step_seconds", "One turn of the analytics writer's loop", buckets=SLOW)
worker_heartbeat = Gauge(
    "gridcast_worker_heartbeat_timestamp_seconds",
    "Unix time of the writer loop's last turn (time() minus it: the loop's lag)",
    multiprocess_mode="mostrecent",
)
worker_failures = Counter("gridcast_worker_failures_total", "Writer loop turns that failed (retried after 2 s)")
rollup_refresh = Histogram("gridcast_rollup_refresh_seconds", "One refresh of the metric rollup", buckets=SLOW)
rollup_last = Gauge(
    "gridcast_rollup_last_refresh_timestamp_seconds",
    "Unix time of the rollup's last successful refresh (time() minus it: the rollup's lag)",
    multiprocess_mode="mostrecent",
)
alert_evaluation = Histogram(
    "gridcast_alert_evaluation_seconds", "One evaluation pass over alert rules", ["trigger"], buckets=SLOW
)
import_jobs = Counter("gridcast_import_jobs_total", "Import jobs finished, by outcome", ["status"])
import_duration = Histogram("gridcast_import_job_seconds", "Import jobs from start to end", buckets=SLOW)
superset_sync_failures = Counter(
    "gridcast_superset_sync_failures_total", "Superset syncs of a workspace that failed (each try)"
)

# --- bounded per-sheet labels ---------------------------------------------------------------------
_sheet_labels: set[str] = set()
_sheet_labels_lock = threading.Lock()


def sheet_label(sheet_id: int, limit: int) -> str:
    """The sheet's label: its id while fewer than `limit` sheets have one in this process, else 'other'."""
    label = str(sheet_id)
    with _sheet_labels_lock:
        if label in _sheet_labels:
            return label
        if len(_sheet_labels) < limit:
            _sheet_labels.add(label)
            return label
    return "other"


def render() -> bytes:
    """The Prometheus text of this process, or of every process of the multiprocess directory."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def serve(port: int, addr: str = "127.0.0.1") -> None:
    """Serve /metrics on its own port from a thread (the analytics worker has no web server)."""
    registry = REGISTRY
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=addr, registry=registry)
