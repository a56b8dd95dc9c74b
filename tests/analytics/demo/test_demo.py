"""The live demo of `make run`: seed_demo's day of metrics, dashboards and alert rule; the stream
inside the server (the shop's events through the ingestion service, the collaborator's edits and
presence through the sheet's real paths); the rule firing on the stream's incidents; the thread
that never takes the server down; and where it is turned on."""

import asyncio
import datetime as dt
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.apps import apps
from django.core.management import call_command
from django.db import connections

from accounts.models import ApiToken, Membership, User
from analytics import apps as analytics_apps
from analytics.alerts import notify as alert_notify
from analytics.demo import stream as demo
from analytics.demo.simulation import Simulation
from analytics.lake import connections as lake_connections
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule, DashboardLayout, Notification
from analytics.queries import metric_aggregates
from config.asgi import application
from sheets import selectors as sheet_selectors
from sheets.demo import DEMO_BOT, DEMO_BOT_NAME, DEMO_MEMBERS, demo_workspace
from sheets.models import Operation, Row, Sheet
from tests.analytics.metric_helpers import stored
from tests.realtime.conftest import Client

UTC = dt.UTC
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SHOP_METRICS = ["active_users", "cpu", "error_rate", "latency_ms", "orders", "page_views", "revenue"]


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connections():
    yield
    metric_schema.reset_connection()  # its PostgreSQL session would keep the test database from being dropped
    lake_connections.close_all()


@pytest.fixture
def seeded(lake_files, transactional_db):
    """The Demo workspace as `make run` seeds it (fewer rows)."""
    call_command("seed_demo", rows=60, cols=10, seed=5, verbosity=0, stdout=io.StringIO())
    workspace = demo_workspace()
    return workspace, Sheet.objects.get(workspace=workspace, name="orders"), User.objects.get(email=DEMO_BOT)


def aggregate(workspace, **params):
    now = dt.datetime.now(UTC)
    return metric_aggregates.metric_aggregate(
        workspace_id=workspace.pk, query=metric_aggregates.parse_aggregate_params(params, now=now)
    )


def test_seeding_writes_a_day_of_metrics_a_dashboard_per_member_and_an_alert_rule(seeded):
    workspace, sheet, bot = seeded
    since = (dt.datetime.now(UTC) - dt.timedelta(hours=24)).isoformat()

    # Orders all over the last day, shaped by the time of day: every hour has some.
    hourly = aggregate(workspace, metric="orders", agg="sum", bucket="hour", **{"from": since})
    points = hourly["series"][0]["points"]
    assert len(points) >= 24 and all(value > 0 for _, value in points)
    assert max(v for _, v in points) > 1.5 * min(v for _, v in points)
    assert 0.5 * 3 * 86400 < hourly["totals"][0]["value"] < 1.5 * 3 * 86400  # ~3 orders a second
    # ... with their tags (failed ones too), revenue by region, and the gauges.
    by_status = {
        t["group"]: t["value"]
        for t in aggregate(workspace, metric="orders", agg="sum", group_by="status", **{"from": since})["totals"]
    }
    assert by_status.keys() == {"paid", "failed"} and 0 < by_status["failed"] < by_status["paid"]
    regions = aggregate(workspace, metric="revenue", agg="sum", group_by="region", **{"from": since})["totals"]
    assert {t["group"] for t in regions} == {"eu", "us", "asia", "latam"}
    catalog = metric_aggregates.metric_catalog(workspace_id=workspace.pk)
    assert [m["name"] for m in catalog["metrics"]] == SHOP_METRICS
    assert {"region", "product", "status", "host", "page"} <= set(catalog["tag_keys"])
    # Nothing of it lies in the last minute, where it would trip the alert rule at the start.
    last_minute = (dt.datetime.now(UTC) - dt.timedelta(seconds=60)).isoformat()
    assert aggregate(workspace, metric="error_rate", agg="count", **{"from": last_minute})["totals"][0]["value"] == 0

    # A dashboard for each person (not the collaborator), with a widget over the orders sheet.
    layouts = DashboardLayout.objects.filter(workspace=workspace)
    assert sorted(layouts.values_list("user__email", flat=True)) == sorted(email for email, _ in DEMO_MEMBERS)
    widgets = {w["id"]: w for w in layouts.first().widgets}
    assert {"orders-per-minute", "revenue-by-region", "revenue-total", "top-products", "orders-sheet"} <= widgets.keys()
    assert widgets["orders-per-minute"]["type"] == "line" and widgets["top-products"]["type"] == "table"
    assert widgets["orders-sheet"]["query"] == {
        "source": "sheet",
        "sheet": sheet.pk,
        "agg": "sum",
        "column": "c7",
        "group_by": "c3",
        "top": 10,
        "time_column": None,
        "bucket": None,
    }

    rule = AlertRule.objects.get(workspace=workspace)
    condition = (rule.metric, rule.agg, rule.window_seconds, rule.comparison, rule.threshold)
    assert condition == ("error_rate", "avg", 60, ">", 0.05)
    assert rule.enabled and rule.state == "ok" and not Notification.objects.exists()


def test_a_minute_of_history_sums_what_its_seconds_would_bring():
    """History is one event per tag combination and minute; the live stream one per order: the
    orders (and their revenue) per minute agree."""
    start = 1_700_000_040
    events, figures = Simulation(3, seed=1).minute(start)
    orders = [e for e in events if e["metric"] == "orders"]
    assert sum(e["value"] for e in orders) == figures["orders"] and len(orders) < figures["orders"]
    assert all(e["timestamp"] == start for e in events)
    assert {e["metric"] for e in events} == set(SHOP_METRICS)
    seconds = Simulation(3, seed=1)
    live = sum(seconds.second(start + s)[1]["orders"] for s in range(60))
    assert 0.5 * figures["orders"] < live < 2 * figures["orders"]


async def test_the_stream_ingests_and_its_collaborator_edits_and_shows_in_presence(seeded):
    workspace, sheet, bot = seeded
    owner = await database_sync_to_async(User.objects.get)(email=DEMO_MEMBERS[0][0])
    _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="ws")
    socket = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=[(b"origin", b"http://127.0.0.1:8000")]
    )
    assert (await socket.connect(timeout=5))[0]
    person = Client(socket)
    await person.recv_type("welcome")
    try:
        start = time.time()
        stream = demo.Stream(start=start, seed=3)
        for second in range(20):  # the first edit is due 5 to 15 s after the start, and takes 4 s
            assert await database_sync_to_async(stream.tick)(start + second)

        joined = await person.recv_type("presence")
        assert joined["event"] == "joined"
        who = joined["who"]
        assert (who["user"], who["name"], who["editing"]) == (bot.pk, DEMO_BOT_NAME, False)
        cell = who["selection"]
        assert set(cell) == {"row", "col"}
        editing = await person.recv_type("presence")
        assert (editing["event"], editing["who"]["editing"], editing["who"]["selection"]) == ("update", True, cell)
        ops = await person.recv_type("ops")
        assert (ops["actor"], ops["kind"]) == (bot.pk, "cells.update")
        [changed] = ops["changes"]["cells"]
        assert (changed["row"], changed["col"]) == (cell["row"], cell["col"])
        assert changed["value"] in ("processing", "shipped", "delivered", "new")
        done = await person.recv_type("presence")
        assert (done["event"], done["who"]["editing"]) == ("update", False)
        left = await person.recv_type("presence")
        assert (left["event"], left["who"]["connection"]) == ("left", who["connection"])
    finally:
        await socket.disconnect()
        await database_sync_to_async(connections.close_all)()

    def check_database():
        operation = Operation.objects.get(sheet=sheet, version=ops["version"])
        assert operation.actor_id == bot.pk and operation.op_id is not None
        assert Row.objects.get(pk=cell["row"]).data[cell["col"]] == changed["value"]
        # The activity feed names the actor: the collaborator is one of the sheet's people.
        assert sheet_selectors.sheet_people(sheet)[bot.pk] == DEMO_BOT_NAME
        # The ticks' moments run ahead of the clock (20 s ingested at once): ask up to their end.
        since, until = (dt.datetime.fromtimestamp(start + s, UTC).isoformat() for s in (0, 20))
        live = aggregate(workspace, metric="orders", agg="count", **{"from": since, "to": until})["totals"][0]["value"]
        assert live > 20  # ~3 a second for 20 seconds, one event each
        assert stored(workspace.pk) > 70_000

    await database_sync_to_async(check_database)()


def test_the_alert_rule_fires_on_an_incident_of_the_stream_and_not_at_once(seeded):
    workspace, _, _ = seeded
    rule = AlertRule.objects.get(workspace=workspace)
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(alert_notify.workspace_group(workspace.pk), channel)
    start = time.time() - 60  # the last minute, compressed: each tick is ingested at once
    stream = demo.Stream(start=start, seed=11)
    assert 60 <= stream.simulation.incident_from - start <= 150  # the first incident comes after a minute or two

    for second in range(20):
        stream.tick(start + second)
    rule.refresh_from_db()
    assert rule.state == "ok" and rule.last_value < 0.02 and not Notification.objects.exists()

    stream.simulation.plan_incident(start + 25, 40)
    for second in range(20, 60):
        stream.tick(start + second)
    rule.refresh_from_db()
    assert rule.state == "firing" and rule.last_value > 0.05
    members = set(Membership.objects.filter(workspace=workspace).values_list("user_id", flat=True))
    assert set(Notification.objects.filter(rule=rule).values_list("user_id", flat=True)) == members
    pushed = async_to_sync(asyncio.wait_for)(layer.receive(channel), 5)
    assert pushed["type"] == "notification.created" and pushed["notification"]["rule"] == rule.pk
    assert pushed["notification"]["message"].startswith("Error rate above 5 %: avg(error_rate) over 60s is ")


def test_the_stream_thread_logs_errors_goes_on_and_stops_with_its_event(caplog):
    class Flaky:
        ticks = 0

        def tick(self, now):
            self.ticks += 1
            if self.ticks == 1:
                raise RuntimeError("the lake is away")
            return True

    stream, stop = Flaky(), threading.Event()
    thread = threading.Thread(target=demo.run, args=(stop, stream), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while stream.ticks < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join(5)
    assert stream.ticks >= 3 and not thread.is_alive()
    assert "the demo stream failed; retrying" in caplog.text and "the lake is away" in caplog.text


def test_the_server_process_starts_the_stream_when_the_demo_is_on(monkeypatch, settings):
    started = []
    monkeypatch.setattr(demo, "start_stream", lambda: started.append(True))
    monkeypatch.setattr(analytics_apps, "_serving", lambda: True)
    config = apps.get_app_config("analytics")
    settings.GRIDCAST_DEMO = False
    config.ready()
    assert started == []
    settings.GRIDCAST_DEMO = True
    config.ready()
    assert started == [True]


@pytest.mark.parametrize("value, on", [(None, True), ("0", False)])
def test_the_demo_is_on_by_default_on_the_embedded_default_only(value, on):
    env = {k: v for k, v in os.environ.items() if k != "GRIDCAST_DEMO"}
    if value is not None:
        env["GRIDCAST_DEMO"] = value
    code = "import importlib, sys; print(importlib.import_module(sys.argv[1]).GRIDCAST_DEMO)"
    for module, expected in [("config.settings.embedded", on), ("config.settings.test", False)]:
        out = subprocess.run(
            [sys.executable, "-c", code, module], env=env, cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip()
        assert out == str(expected), module
