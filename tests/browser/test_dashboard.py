"""The live dashboard in Chromium: charts that move while `simulate_orders` sends metrics to the
test server, a toast and the bell when an alert fires, the SSE and polling fallbacks, the status
line's response times in each mode, editing and saving widgets, a widget over a sheet that follows
its edits, a phone in the dark theme, the Superset panel saying why Superset is not there."""

import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections

from accounts.models import Role
from analytics.lake import connections as lake_connections
from analytics.metrics import ingest as metrics_ingest
from analytics.metrics import schema as metric_schema
from analytics.models_alerts import AlertRule
from analytics.models_dashboard import DashboardLayout
from analytics.writethrough import announcer
from analytics.writethrough import writer as wt_writer
from sheets import services
from sheets.models import Row
from tests.factories import WorkspaceFactory, member
from tests.realtime.servers import REPO, ServerProcess, server_env

from .conftest import ARTIFACTS, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_lake_connection():
    yield
    metric_schema.reset_connection()


@pytest.fixture
def shop():
    workspace = WorkspaceFactory(name="Shop")
    owner = member(workspace, Role.OWNER, email="owner@shop.test")
    return workspace, owner


def simulate(web_server, workspace, seconds, rate=20):
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "simulate_orders",
            "--workspace",
            str(workspace.pk),
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--url",
            web_server.http_url,
            "--seed",
            "7",
        ],
        cwd=REPO,
        env=server_env(settings.REDIS_URL),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def ingest(workspace, events):
    """The ingestion service, in a thread of its own: Playwright's event loop runs in this one,
    and the push after the commit (async_to_sync) may not run inside it."""
    thread = threading.Thread(
        target=metrics_ingest.events_ingest, kwargs={"workspace_id": workspace.pk, "payload": {"events": events}}
    )
    thread.start()
    thread.join(30)


def number(page, selector, attribute):
    value = page.locator(selector).get_attribute(attribute)
    return float(value) if value not in (None, "") else 0.0


def wait_live(page, mode):
    page.wait_for_selector(f'[data-testid=live-status][data-mode="{mode}"][data-state=live]', timeout=20_000)


def test_charts_move_while_orders_arrive_and_an_alert_fires(open_as, web_server, shop):
    workspace, owner = shop
    AlertRule.objects.create(
        workspace=workspace,
        name="Orders are coming in",
        metric="orders",
        agg="count",
        window_seconds=60,
        comparison=">",
        threshold=5,
        created_by=owner,
    )
    # An hour of history, so the line has a past to move on from.
    now = time.time()
    ingest(
        workspace,
        [
            {"metric": "orders", "value": 1, "timestamp": now - minutes * 60 - second, "tags": {"region": "eu"}}
            for minutes in range(2, 60)
            for second in range(10 + (minutes * 7) % 15)
        ],
    )
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/", viewport={"width": 1280, "height": 1000})
    wait_live(page, "ws")
    for widget in ("orders-per-minute", "revenue-by-region", "revenue-total", "error-rate", "top-products"):
        page.wait_for_selector(f'[data-widget="{widget}"] footer')  # every default widget got data
    assert number(page, '[data-widget="revenue-total"] .tile-value', "data-value") == 0
    history = number(page, '[data-widget="orders-per-minute"] .chart', "data-total")
    assert history > 0

    simulation = simulate(web_server, workspace, seconds=10)
    try:
        orders = '[data-widget="orders-per-minute"] .chart'
        page.wait_for_function(f"document.querySelector('{orders}').dataset.total > {history}", timeout=15_000)
        first = number(page, orders, "data-total")
        page.wait_for_function(f"document.querySelector('{orders}').dataset.total > {first}", timeout=10_000)
        # The revenue tile moves too, on its own refresh: first off zero, then up again.
        tile = "[data-widget=revenue-total] .tile-value"
        page.wait_for_function(f"document.querySelector('{tile}').dataset.value > 0", timeout=10_000)
        revenue_first = number(page, tile, "data-value")
        page.wait_for_function(f"document.querySelector('{tile}').dataset.value > {revenue_first}", timeout=10_000)
        # The alert fired: a toast on the page, the bell counts it, the rule shows it.
        toast = page.locator(".toast.alert", has_text="Orders are coming in")
        toast.wait_for(timeout=10_000)
        assert page.locator("[data-testid=bell-count]").inner_text() == "1"
        page.locator(".rule", has_text="Orders are coming in").locator(".badge", has_text="firing").wait_for()
        bars = page.locator('[data-widget="revenue-by-region"] .chart')
        assert (
            number(page, '[data-widget="revenue-by-region"] .chart', "data-total") > 0
            and bars.locator("canvas").count()
        )
        page.wait_for_timeout(1500)
        screenshot(page, "dashboard")
        updates = int(page.locator("[data-testid=live-status]").get_attribute("data-updates"))
        assert updates >= 10
    finally:
        output, _ = simulation.communicate(timeout=30)
    assert simulation.returncode == 0, output

    # The bell's list: mark all read.
    page.locator(".bell-button").click()
    page.locator(".bell-panel li", has_text="Orders are coming in").first.wait_for()
    page.get_by_role("button", name="Mark all read").click()
    page.locator("[data-testid=bell-count]").wait_for(state="detached")

    # The rule's history: when it fired, at which count, under which condition.
    rule = page.locator(".rule", has_text="Orders are coming in")
    rule.get_by_role("button", name="History").click()
    fired = rule.locator("[data-testid=alert-history] li", has_text="Fired")
    fired.wait_for()
    assert "count(orders) over 60s > 5" in fired.inner_text()


@pytest.mark.parametrize("mode", ["sse", "poll"])
def test_fallback_modes_keep_the_dashboard_live(open_as, web_server, shop, mode):
    workspace, owner = shop
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/?mode={mode}")
    wait_live(page, mode)
    page.wait_for_selector('[data-widget="revenue-total"] footer')
    ingest(workspace, [{"metric": "revenue", "value": 42.5, "timestamp": time.time(), "tags": {"region": "eu"}}])
    page.wait_for_function(
        "document.querySelector('[data-widget=\"revenue-total\"] .tile-value').dataset.value == 42.5",
        timeout=10_000 if mode == "sse" else 15_000,
    )


CLOCK = r"\d{1,2}:\d{2}:\d{2}(\s?[AP]M)?"
DURATION = r"(<1 ms|\d+ ms|\d+(\.\d)? s)"
STATUS_LINES = {
    "ws": rf"^WebSocket · live · updated {CLOCK} · \d+ updates · data {DURATION} old "
    rf"\(p50 {DURATION}, max {DURATION}\)$",
    "sse": rf"^Server-Sent Events · live · updated {CLOCK} · \d+ updates · data {DURATION} old "
    rf"\(p50 {DURATION}, max {DURATION}\)$",
    "poll": rf"^Polling every 5 s · live · updated {CLOCK} · \d+ updates · round trip {DURATION} "
    rf"\(p50 {DURATION}, max {DURATION}\)$",
}


@pytest.mark.parametrize("mode", ["ws", "sse", "poll"])
def test_status_line_shows_response_times(open_as, web_server, shop, mode):
    """Pushed (WebSocket, SSE): how old the data is when it arrives (arrival minus the frame's
    as_of_ms); polling: each poll's round trip; the last value, p50 and max of the last ones."""
    workspace, owner = shop
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/?mode={mode}", viewport={"width": 1280, "height": 800})
    wait_live(page, mode)
    status = page.locator("[data-testid=live-status]")
    status.locator("[data-testid=live-latency]", has_text="p50").wait_for(timeout=15_000)  # polling: a second poll
    text = " ".join(page.locator("[data-testid=live-line]").inner_text().split())
    assert re.match(STATUS_LINES[mode], text), text
    assert status.get_attribute("data-latency-kind") == ("trip" if mode == "poll" else "age")
    assert 0 <= float(status.get_attribute("data-latency-ms")) < 5000, "same machine: well under 5 s"
    if mode != "poll":
        # After new data: a fresh push, a small age again (not the time since the page opened).
        updates = int(status.get_attribute("data-updates"))
        page.wait_for_timeout(1500)
        ingest(workspace, [{"metric": "revenue", "value": 3, "timestamp": time.time(), "tags": {"region": "eu"}}])
        page.wait_for_function(
            f"document.querySelector('[data-testid=live-status]').dataset.updates > {updates}", timeout=10_000
        )
        assert float(status.get_attribute("data-latency-ms")) < 3000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(".dash-head").screenshot(path=str(ARTIFACTS / f"dashboard-status-{mode}.png"))


def test_websocket_failures_fall_back_to_sse(open_as, web_server, shop):
    workspace, owner = shop
    page = open_as(owner, "/accounts/login/")  # a first page, to break the dashboard's WebSocket before it opens
    page.add_init_script(
        "window.WebSocket = class extends WebSocket {"
        " constructor(url) { super(url.replace('/ws/dashboards/', '/ws/nowhere/')); } }"
    )
    page.goto(f"/workspaces/{workspace.pk}/dashboard/")
    wait_live(page, "sse")
    page.wait_for_selector('[data-widget="revenue-total"] footer')


def test_add_edit_arrange_and_save_widgets(open_as, web_server, shop):
    workspace, owner = shop
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/")
    wait_live(page, "ws")
    page.get_by_role("button", name="Add widget").first.click()
    editor = page.locator("form.widget-editor")
    editor.get_by_label("Kind").select_option("pie")
    editor.get_by_label("Title").fill("Revenue share by product")
    editor.get_by_label("Metric").fill("revenue")
    editor.get_by_label("Group by tag").fill("product")
    editor.get_by_role("button", name="Add widget").click()
    new = page.locator(".widget.pie", has_text="Revenue share by product")
    new.wait_for()
    new.get_by_role("button", name="Move up").click()
    page.locator('[data-widget="error-rate"]').get_by_role("button", name="Remove widget").click()
    page.get_by_role("button", name="Save layout").click()
    page.locator(".toast", has_text="Dashboard saved").wait_for()
    layout = DashboardLayout.objects.get(user=owner, workspace=workspace)
    titles = [w["title"] for w in layout.widgets]
    assert titles == [
        "Orders per minute",
        "Revenue by region",
        "Revenue",
        "Revenue share by product",
        "Top products by revenue",
    ]
    assert layout.widgets[3]["query"]["group_by"] == "product"
    page.reload()
    wait_live(page, "ws")
    assert page.locator(".widget h3").all_inner_texts() == titles


@pytest.fixture
def writer():
    w = wt_writer.Writer()
    yield w
    w.close()
    lake_connections.close_all()


def in_thread(fn):
    """Run fn in a thread of its own (see ingest), which gives its database connection back."""

    def run():
        try:
            fn()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)


@pytest.mark.parametrize("mode", ["ws", "poll"])
def test_a_sheet_widget_added_in_the_editor_follows_the_sheets_edits(open_as, web_server, shop, writer, mode):
    workspace, owner = shop
    sheet = services.sheet_create(
        workspace=workspace,
        name="Orders",
        actor=owner,
        columns=[{"name": "Region", "type": "text"}, {"name": "Amount", "type": "number"}],
    )
    services.rows_insert(
        sheet=sheet, actor=owner, rows=[{"c1": "eu", "c2": 10}, {"c1": "us", "c2": 5}, {"c1": "eu", "c2": 2.5}]
    )

    def apply():  # what the analytics worker does after each batch
        writer.catch_up()
        announcer.announce(writer.take_applied())

    in_thread(apply)
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/?mode={mode}")
    wait_live(page, mode)
    page.get_by_role("button", name="Add widget").first.click()
    editor = page.locator("form.widget-editor")
    editor.get_by_label("Kind").select_option("tile")
    editor.get_by_label("Data from").select_option("sheet")
    editor.get_by_label("Sheet", exact=True).select_option(label="Orders")
    editor.get_by_label("Aggregate").select_option("sum")
    # Only number columns can be summed: the text column is not offered.
    assert editor.get_by_label("Column", exact=True).locator("option").all_inner_texts() == ["Amount (number)"]
    editor.get_by_label("Column", exact=True).select_option(label="Amount (number)")
    if mode == "ws":
        screenshot(page, "dashboard-sheet-widget-editor")
    editor.get_by_role("button", name="Add widget").click()
    tile = page.locator(".widget.tile", has_text="sum of Amount in Orders")
    tile.locator(".tile-value[data-value='17.5']").wait_for(timeout=15_000)

    row = Row.objects.filter(sheet=sheet).order_by("position")[1]
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row.pk, "col": "c2", "value": 40}])
    in_thread(apply)
    tile.locator(".tile-value[data-value='52.5']").wait_for(timeout=5_000 if mode == "ws" else 15_000)
    if mode == "ws":
        tile.scroll_into_view_if_needed()
        screenshot(page, "dashboard-sheet-widget")

    page.get_by_role("button", name="Save layout").click()
    page.locator(".toast", has_text="Dashboard saved").wait_for()
    saved = DashboardLayout.objects.get(user=owner, workspace=workspace).widgets[-1]
    assert saved["type"] == "tile" and saved["query"] == {
        "source": "sheet",
        "sheet": sheet.pk,
        "agg": "sum",
        "column": "c2",
        "group_by": None,
        "top": None,
        "time_column": None,
        "bucket": None,
    }


def test_phone_in_the_dark(open_as, web_server, shop):
    workspace, owner = shop
    owner.theme = "dark"
    owner.save(update_fields=["theme"])
    page = open_as(
        owner,
        f"/workspaces/{workspace.pk}/dashboard/",
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
    )
    wait_live(page, "ws")
    page.wait_for_selector('[data-widget="orders-per-minute"] canvas')
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "dashboard-phone-dark")
    page.locator(".bell-button").click()
    page.locator(".bell-panel").wait_for()
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screenshot(page, "dashboard-phone-bell")


def test_superset_panel_says_why_superset_is_not_running(open_as, web_server, shop):
    """A server whose VAR_DIR is the test's and whose Superset does not answer: without
    `<VAR_DIR>/superset/failed` the panel says Superset is not running and how to start it; with
    it, the file's text (as text: markup in it is not markup), read on every page."""
    workspace, owner = shop
    var_dir = Path(tempfile.mkdtemp(prefix="gc-var-"))
    env = server_env(
        settings.REDIS_URL,
        GRIDCAST_VAR_DIR=var_dir,
        SUPERSET_URL="http://127.0.0.1:9",
        ANALYTICS_DATA_PATH=settings.ANALYTICS["DATA_PATH"],
        ANALYTICS_EXTENSION_DIR=settings.ANALYTICS["EXTENSION_DIR"],
    )
    log_dir = tempfile.mkdtemp(prefix="gc-web-")
    server = ServerProcess("uvicorn", env, log_dir).start()
    try:
        page = open_as(owner, f"{server.http_url}/workspaces/{workspace.pk}/dashboard/")
        panel = page.locator("[data-testid=superset-panel][data-status=off]")
        off = panel.locator("[data-testid=superset-off]")
        off.wait_for()
        assert "Superset is not running (start it with make superset)" in " ".join(off.inner_text().split())
        assert not panel.locator("[data-testid=superset-failed]").count()

        reason = (
            "Superset could not be started: pip install failed (exit 1); see var/superset/install.log:\n"
            "ERROR: could not reach <b>pypi.org</b> (a log line with one ` in it)\n"
            "retry with `make superset` (or start without it: `SUPERSET=0 make run`)."
        )
        (var_dir / "superset").mkdir()
        (var_dir / "superset" / "failed").write_text(reason + "\n")
        page.reload()
        failed = panel.locator("[data-testid=superset-failed]")
        failed.wait_for()
        lines = reason.splitlines()
        assert failed.inner_text().splitlines() == [lines[0], lines[1], lines[2].replace("`", "")]
        assert failed.locator("code").all_inner_texts() == ["make superset", "SUPERSET=0 make run"]
        assert not failed.locator("b").count()
        assert not panel.locator("[data-testid=superset-off]").count()
        panel.scroll_into_view_if_needed()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        panel.screenshot(path=str(ARTIFACTS / "dashboard-superset-failed.png"))
        page.goto("about:blank")  # nothing left reconnecting to the server that stops
    finally:
        server.stop()
        shutil.rmtree(var_dir, ignore_errors=True)
        shutil.rmtree(log_dir, ignore_errors=True)


def test_a_history_widget_counts_edits_and_follows_new_ones(open_as, web_server, shop, writer):
    """A widget of "Data from: Edits": the cells people changed, from the lake's history, following
    new edits as the worker applies them."""
    workspace, owner = shop
    owner.display_name = "Olive"
    owner.save(update_fields=["display_name"])
    sheet = services.sheet_create(
        workspace=workspace, name="Orders", actor=owner, columns=[{"name": "A", "type": "text"}]
    )
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "x"}, {"c1": "y"}])

    def apply():
        writer.catch_up()
        announcer.announce(writer.take_applied())

    in_thread(apply)
    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/?mode=ws")
    wait_live(page, "ws")
    page.get_by_role("button", name="Add widget").first.click()
    editor = page.locator("form.widget-editor")
    editor.get_by_label("Kind").select_option("tile")
    editor.get_by_label("Data from").select_option("history")
    assert editor.get_by_label("Group by").input_value() == "actor"
    editor.get_by_label("Group by").select_option("")
    editor.get_by_role("button", name="Add widget").click()
    tile = page.locator(".widget.tile", has_text="Changes in every sheet")
    tile.locator(".tile-value[data-value='2']").wait_for(timeout=15_000)  # two rows added

    row = Row.objects.filter(sheet=sheet).order_by("position").first()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row.pk, "col": "c1", "value": "z"}])
    in_thread(apply)
    tile.locator(".tile-value[data-value='3']").wait_for(timeout=10_000)
