"""The request id (core/requests.py): from X-Request-ID or made, echoed, on every log line of the
request or WebSocket connection, as plain text or JSON lines (GRIDCAST_LOG_FORMAT=json)."""

import io
import json
import logging
import os
import re
import subprocess
import sys
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.models import ApiToken
from config.asgi import application
from core.requests import JsonFormatter, RequestIdFilter
from sheets.models import Row
from tests.factories import make_sheet


@pytest.fixture
def json_lines():
    """Log lines of the root logger as the JSON formatter writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)


def test_a_sane_request_id_is_kept_and_echoed():
    response = Client().get("/healthz", HTTP_X_REQUEST_ID="lb-7f3a.42:x_y")
    assert response["X-Request-ID"] == "lb-7f3a.42:x_y"


@pytest.mark.parametrize("given", ["", "forged\nERROR root fake line", "x" * 129, "a b", "ü"])
def test_a_hostile_or_missing_request_id_is_replaced(given):
    headers = {"HTTP_X_REQUEST_ID": given} if given else {}
    response = Client().get("/healthz", **headers)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_json_log_lines_of_a_request_carry_its_id(json_lines):
    Client().get("/no-such-page/", HTTP_X_REQUEST_ID="req-404-test")  # django.request logs a warning
    lines = [line for line in json_lines() if line["logger"] == "django.request"]
    assert lines and lines[-1]["request_id"] == "req-404-test"
    assert lines[-1]["level"] == "WARNING" and "/no-such-page/" in lines[-1]["message"]
    assert set(lines[-1]) == {"time", "level", "logger", "message", "request_id"}


def test_json_lines_carry_the_exception():
    formatter, record_filter = JsonFormatter(), RequestIdFilter()
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x", logging.ERROR, __file__, 1, "failed %s", ("once",), sys.exc_info()
        )
    record_filter.filter(record)
    line = json.loads(formatter.format(record))
    assert line["message"] == "failed once" and line["request_id"] == "-"
    assert "ValueError: boom" in line["exception"]


@pytest.mark.django_db(transaction=True)
async def test_a_websocket_connection_logs_with_its_request_id(workspace, owner, json_lines):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=1)
    row = await database_sync_to_async(lambda: Row.objects.filter(sheet=sheet).first().pk)()
    _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="ws")
    socket = WebsocketCommunicator(
        application,
        f"/ws/sheets/{sheet.pk}/?token={key}",
        headers=[(b"origin", b"http://127.0.0.1:8000"), (b"x-request-id", b"ws-conn-1")],
    )
    consumers = logging.getLogger("realtime.consumers")
    level = consumers.level
    consumers.setLevel(logging.DEBUG)
    try:
        assert (await socket.connect(timeout=5))[0]
        op_id = str(uuid.uuid4())
        await socket.send_to(
            text_data=json.dumps({"type": "edit", "op_id": op_id, "cells": [{"row": row, "col": "c1", "value": "x"}]})
        )
        while json.loads(await socket.receive_from(timeout=5))["type"] != "ack":
            pass
    finally:
        consumers.setLevel(level)
        await socket.disconnect()
    acked = [line for line in json_lines() if op_id in line["message"]]
    assert acked and acked[0]["request_id"] == "ws-conn-1" and acked[0]["logger"] == "realtime.consumers"


def _start(env):
    code = "import django, logging; django.setup(); logging.getLogger('gridcast.test').warning('hello %s', 1)"
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gridcast_log_format_json_switches_logging_to_json_lines():
    result = _start({"GRIDCAST_LOG_FORMAT": "json"})
    line = json.loads(result.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello 1" and line["logger"] == "gridcast.test" and line["request_id"] == "-"
    plain = _start({"GRIDCAST_LOG_FORMAT": "plain"}).stderr.strip().splitlines()[-1]
    assert plain.endswith("WARNING gridcast.test [-] hello 1")
    refused = _start({"GRIDCAST_LOG_FORMAT": "xml"})
    assert refused.returncode != 0 and "GRIDCAST_LOG_FORMAT" in refused.stderr
