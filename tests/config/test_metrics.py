"""/metrics (config/health.py, core/metrics.py): Prometheus text, HTTP latency by route (never by
raw path), open unless GRIDCAST_METRICS_TOKEN is set."""

import json
import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import make_sheet

pytestmark = pytest.mark.django_db


def scrape(client=None, **headers) -> str:
    response = (client or Client()).get("/metrics", **headers)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return response.content.decode()


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition text (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = "^" + re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "") + r" (\S+)$"
    found = re.search(pattern, text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def test_every_metric_is_exposed_with_help_and_type():
    text = scrape()
    for name, kind in {
        "gridcast_ws_connections": "gauge",
        "gridcast_ws_edits": "counter",
        "gridcast_ws_frames_delivered": "counter",
        "gridcast_ws_edit_latency_seconds": "histogram",
        "gridcast_http_request_duration_seconds": "histogram",
        "gridcast_lake_lag_seconds": "histogram",
        "gridcast_lake_sheet_lag_seconds": "gauge",
        "gridcast_lake_operations": "counter",
        "gridcast_worker_step_seconds": "histogram",
        "gridcast_worker_heartbeat_timestamp_seconds": "gauge",
        "gridcast_worker_failures": "counter",
        "gridcast_rollup_refresh_seconds": "histogram",
        "gridcast_rollup_last_refresh_timestamp_seconds": "gauge",
        "gridcast_alert_evaluation_seconds": "histogram",
        "gridcast_import_jobs": "counter",
        "gridcast_import_job_seconds": "histogram",
        "gridcast_superset_sync_failures": "counter",
    }.items():
        exposed = f"{name}_total" if kind == "counter" else name
        assert f"# TYPE {exposed} {kind}" in text, name
        assert f"# HELP {exposed} " in text, name
    assert "_created" not in text  # one series less per counter and histogram


def test_http_requests_are_timed_by_route_not_by_path(workspace, owner, api):
    sheet = make_sheet(workspace, owner)
    route = "/api/v1/sheets/<int:pk>/"
    labels = {"method": "GET", "route": route, "status": "200"}
    before = sample(scrape(), "gridcast_http_request_duration_seconds_count", **labels)
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/").status_code == 200
    text = scrape()
    assert sample(text, "gridcast_http_request_duration_seconds_count", **labels) == before + 2
    assert f"/api/v1/sheets/{sheet.pk}/" not in text  # the id never becomes a label value
    Client().get("/no/such/page/123456789")
    text = scrape()
    assert "123456789" not in text
    assert sample(text, "gridcast_http_request_duration_seconds_count", method="GET", route="unmatched", status="404")


def test_hostile_methods_and_paths_do_not_make_new_label_values():
    Client().generic("BREW", "/healthz")
    text = scrape()
    assert "BREW" not in text
    assert sample(text, "gridcast_http_request_duration_seconds_count", method="other", route="/healthz", status="405")


def test_a_metrics_token_is_required_once_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    response = Client().get("/metrics")
    assert response.status_code == 401 and response["WWW-Authenticate"] == "Bearer"
    assert b"gridcast_" not in response.content
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Token s3cret-scrape-token").status_code == 401
    assert "gridcast_ws_connections" in scrape(HTTP_AUTHORIZATION="Bearer s3cret-scrape-token")
    # The health probes never ask for it.
    assert Client().get("/healthz").status_code == 200


def test_processes_sharing_a_multiprocess_directory_are_served_as_one(tmp_path):
    """PROMETHEUS_MULTIPROC_DIR (production, several uvicorn processes and the worker): any one
    process's /metrics has every process's values."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "not-made-yet")}

    def run(code):
        done = subprocess.run(
            [sys.executable, "-c", f"from core import metrics\n{code}"],
            env=env,
            cwd=settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("metrics.edits.inc(2)\nmetrics.connections.inc(3)")  # a web process
    run("metrics.edits.inc(5)\nmetrics.lake_lag_sheet.labels('7').set(0.25)")  # another, the worker
    text = run("import sys; sys.stdout.write(metrics.render().decode())")
    assert sample(text, "gridcast_ws_edits_total") == 7
    assert sample(text, "gridcast_lake_sheet_lag_seconds", sheet="7") == 0.25


def _metric_names() -> set[str]:
    from core import metrics

    return {
        m._name + ("_total" if m._type == "counter" else "")
        for m in vars(metrics).values()
        if hasattr(m, "_name") and m._name.startswith("gridcast_")
    }


def test_every_metric_is_documented_and_the_dashboard_reads_only_real_ones():
    docs = settings.BASE_DIR / "docs"
    names = _metric_names()
    assert len(names) == 17
    table = (docs / "operations.md").read_text()
    assert not [name for name in names if f"| `{name}` |" not in table]
    dashboard = json.loads((docs / "grafana-dashboard.json").read_text())
    used = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"gridcast_[a-z_]+", target["expr"])
    }
    assert used and used <= names, used - names
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
