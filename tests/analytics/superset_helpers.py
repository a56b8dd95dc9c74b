"""Helpers of the Superset tests: the real Superset that `make superset` started (make test
does), a workspace with a sheet and metrics in the lake, and chart data read as a guest."""

import json
import urllib.error
import urllib.request

import pytest

from accounts.models import Role
from analytics.metrics import ingest
from analytics.models_superset import SupersetObject
from analytics.superset import client as superset_client
from analytics.superset import provisioning
from sheets import services
from tests.factories import WorkspaceFactory, make_sheet, member


@pytest.fixture(scope="session")
def superset_running(django_db_setup, django_db_blocker):
    if not superset_client.available(timeout=3):
        pytest.fail(f"Superset does not answer at {superset_client.conf('URL')}: run `make superset` (make test does)")
    yield
    with django_db_blocker.unblock():
        try:
            provisioning.remove_all()  # leave Superset as the session found it
        except Exception as error:  # noqa: BLE001  (cleanup only)
            print(f"superset cleanup: {error}")


def shop(name, orders, regions, rows):
    """A workspace with an owner, an Orders sheet holding `rows` (name, amount) and `orders`
    order events (value 1) and revenue events per region."""
    workspace = WorkspaceFactory(name=name)
    owner = member(workspace, Role.OWNER)
    sheet = make_sheet(
        workspace,
        owner,
        columns=[{"name": "Customer", "type": "text"}, {"name": "Amount", "type": "number"}],
        name=f"{name} orders",
    )
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": n, "c2": a} for n, a in rows])
    events = [{"metric": "orders", "value": 1, "tags": {"region": regions[i % len(regions)]}} for i in range(orders)]
    events += [{"metric": "revenue", "value": 10.0, "tags": {"region": region}} for region in regions]
    ingest.events_ingest(workspace_id=workspace.pk, payload={"events": events})
    sheet.refresh_from_db()
    return workspace, owner, sheet


def stored(kind, key):
    return SupersetObject.objects.get(kind=kind, key=key)


def chart_data(token, chart_key, dashboard_key=None, change=None):
    """POST /api/v1/chart/data as a guest (X-GuestToken) with the stored chart's query: (status, body)."""
    chart = stored("chart", chart_key)
    dashboard = stored("dashboard", dashboard_key or ":".join(chart_key.split(":")[:2]))
    query = json.loads(superset_client.Client().get(f"/api/v1/chart/{chart.superset_id}")["result"]["query_context"])
    query["form_data"].update(slice_id=chart.superset_id, dashboardId=dashboard.superset_id)
    if change:
        change(query)
    request = urllib.request.Request(
        superset_client.conf("URL") + "/api/v1/chart/data",
        data=json.dumps(query).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "X-GuestToken": token},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
