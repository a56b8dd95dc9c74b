"""The workspace's Superset dashboard embedded in the dashboard page, in Chromium against the real
Superset (`make superset`): its charts really render inside the iframe with the workspace's rows,
and a sheet edit shows up after a reload."""

import time

import pytest

from analytics.lake import connections as lake_connections
from analytics.metrics import ingest
from analytics.metrics import schema as metric_schema
from analytics.superset import provisioning
from analytics.writethrough.writer import Writer
from sheets import services
from sheets.models import Row
from tests.analytics.superset_helpers import shop, superset_running  # noqa: F401

from .conftest import screenshot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("superset_running")]


@pytest.fixture
def writer():
    w = Writer()
    yield w
    w.close()
    lake_connections.close()
    metric_schema.reset_connection()


def test_embedded_superset_dashboard_shows_the_sheet_and_follows_edits(open_as, web_server, writer, settings):
    workspace, owner, sheet = shop("Embedded shop", orders=4, regions=["eu", "us"], rows=[("Ada", 5), ("Bob", 7)])
    other, _, _ = shop("Other shop", orders=9, regions=["asia"], rows=[("Mallory", 1)])
    now = time.time()  # half an hour of orders, for a line worth looking at
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload={
            "events": [
                {"metric": "orders", "value": 1 + (m * 7) % 5, "timestamp": now - 60 * m, "tags": {"region": "eu"}}
                for m in range(1, 31)
            ]
        },
    )
    writer.catch_up()
    settings.SUPERSET = {**settings.SUPERSET, "EMBED_ORIGINS": [web_server.http_url]}
    provisioning.sync_workspace(workspace.pk)
    provisioning.sync_workspace(other.pk)

    page = open_as(owner, f"/workspaces/{workspace.pk}/dashboard/", viewport={"width": 1280, "height": 1400})
    refused, errors = [], []  # answers of 400 or more (Gridcast's and Superset's), uncaught errors
    page.on("response", lambda r: r.status >= 400 and refused.append(f"{r.status} {r.request.method} {r.url}"))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.locator("[data-testid=superset-panel][data-status=ready]").wait_for(timeout=30_000)
    page.locator("[data-testid=superset-panel]").scroll_into_view_if_needed()
    frame = page.frame_locator("iframe[title='Superset dashboard']")
    # The sheet summary table drew the workspace's rows (not another workspace's).
    frame.locator("td", has_text="Ada").first.wait_for(timeout=90_000)
    frame.locator("td", has_text="Bob").first.wait_for()
    assert frame.get_by_text("Mallory").count() == 0
    # The line and pie charts drew too (ECharts renders into a canvas inside each chart).
    frame.locator(".dashboard-component-chart-holder canvas").first.wait_for(timeout=60_000)
    assert frame.locator(".dashboard-component-chart-holder canvas").count() >= 2
    height = page.evaluate(
        "document.querySelector(\"iframe[title='Superset dashboard']\").getBoundingClientRect().height"
    )
    assert height > 300  # sized to its content, not a fixed small box
    page.locator("[data-testid=superset-panel]").scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # ECharts animates its first drawing
    screenshot(page, "superset-dashboard")

    row = Row.objects.filter(sheet=sheet).order_by("position").first()
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row.pk, "col": "c1", "value": "Adele"}])
    writer.catch_up()
    page.reload()
    frame = page.frame_locator("iframe[title='Superset dashboard']")
    frame.locator("td", has_text="Adele").first.wait_for(timeout=90_000)
    assert frame.locator("td").filter(has_text="Ada").filter(has_not_text="Adele").count() == 0

    # Leaving the page: Superset's dashboard stores the label colours it worked out as it unloads,
    # which a guest may not do; that was a 403 and an uncaught error on every page left.
    frame.locator(".dashboard-component-chart-holder canvas").first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    page.goto("/")
    page.wait_for_timeout(1000)
    assert refused == [] and errors == []
