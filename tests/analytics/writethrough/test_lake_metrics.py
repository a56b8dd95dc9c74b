"""What the writer tells operators (analytics/writethrough/lag.py, core/metrics.py): the lake's lag
per sheet and overall, the operations applied, and each operation's op_id in its debug log line."""

import logging
import signal
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest
from django.conf import settings
from prometheus_client import REGISTRY

from core import metrics
from sheets import services
from sheets.models import Row
from tests.analytics.writethrough.test_writethrough import _subprocess_env
from tests.config.test_metrics import sample
from tests.factories import make_sheet
from tests.realtime.servers import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]


def value(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_observes_the_lake_lag_of_each_sheet(writer, workspace, owner, caplog):
    sheet = make_sheet(workspace, owner, rows=1)
    row = Row.objects.filter(sheet=sheet).first().pk
    writer.catch_up()
    before_ops, before_lags = value("gridcast_lake_operations_total"), value("gridcast_lake_lag_seconds_count")
    op_id = uuid.uuid4()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "a"}], op_id=op_id)
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "b"}])
    with caplog.at_level(logging.DEBUG, logger="analytics.writethrough.writer"):
        assert writer.step() == 2
    assert value("gridcast_lake_operations_total") == before_ops + 2
    assert value("gridcast_lake_lag_seconds_count") == before_lags + 1  # one sheet in the batch
    lag = value("gridcast_lake_sheet_lag_seconds", sheet=str(sheet.pk))
    assert 0 < lag < 30
    assert any(f"op_id {op_id}" in record.getMessage() for record in caplog.records)


def test_sheet_labels_are_bounded():
    seen = {metrics.sheet_label(n, limit=10**9) for n in range(3)}  # labels of this process so far
    limit = len(metrics._sheet_labels)
    assert metrics.sheet_label(10**12, limit=limit) == "other"
    assert seen <= metrics._sheet_labels
    assert metrics.sheet_label(1, limit=limit) == "1"  # a sheet with a label keeps it


def test_the_worker_process_serves_its_metrics_on_its_port(workspace, owner):
    """`manage.py analytics_worker` with GRIDCAST_WORKER_METRICS_PORT: its loop's heartbeat and
    the lake lag of the sheet it wrote, scraped from the worker itself."""
    sheet = make_sheet(workspace, owner, rows=2)
    port = free_port()
    env = {**_subprocess_env(), "GRIDCAST_WORKER_METRICS_PORT": str(port)}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "analytics_worker", "-v", "0"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        text, deadline = "", time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
            except OSError:
                text = ""
            if sample(text, "gridcast_lake_sheet_lag_seconds", sheet=str(sheet.pk)):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"the worker's metrics never showed sheet {sheet.pk}:\n{text[-2000:]}")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
    assert abs(sample(text, "gridcast_worker_heartbeat_timestamp_seconds") - time.time()) < 60
    assert sample(text, "gridcast_worker_step_seconds_count") >= 1
    assert sample(text, "gridcast_lake_operations_total") >= 1


def test_a_rest_edit_can_be_followed_from_its_request_to_the_lake(writer, workspace, owner, api, caplog):
    """The request id is on the service's line of the operation; the writer's line names the same
    sheet, version and op_id (docs/operations.md, Logs)."""
    sheet = make_sheet(workspace, owner, rows=1)
    row = Row.objects.filter(sheet=sheet).first().pk
    writer.catch_up()
    op_id = str(uuid.uuid4())
    with caplog.at_level(logging.DEBUG, logger="sheets.services.operations"):
        response = api(owner).post(
            f"/api/v1/sheets/{sheet.pk}/cells/",
            {"op_id": op_id, "cells": [{"row": row, "col": "c1", "value": "followed"}]},
            format="json",
            HTTP_X_REQUEST_ID="rest-edit-7",
        )
    assert response.status_code == 200, response.content
    assert response["X-Request-ID"] == "rest-edit-7"
    version = response.json()["version"]
    appended = [r for r in caplog.records if r.name == "sheets.services.operations" and op_id in r.getMessage()]
    assert appended and appended[0].request_id == "rest-edit-7"
    assert f"sheet {sheet.pk} v{version} " in appended[0].getMessage()
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="analytics.writethrough.writer"):
        writer.step()
    written = [r.getMessage() for r in caplog.records if r.name == "analytics.writethrough.writer"]
    assert f"sheet {sheet.pk} v{version} cells.update op_id {op_id} to the lake" in written
