"""Hostile input to live dashboards: layouts, the polling endpoint, the Server-Sent Events stream
and the dashboard socket answer a 400 (an error frame) naming what is wrong, and a sheet widget
whose sum overflows is answered in JSON, marked "overflow", never with Infinity.

Before: an invalid date (2026-02-30), a NUL in a title, an id or a tag, 1e400 as the range and
10,000 levels of JSON were HTML 500s of the layout and widget endpoints; a year 1 moment with a
positive offset was saved, then every widget of that dashboard failed; on the socket those frames
ended the connection; a sheet widget's overflowing sum was answered as "Infinity" (not JSON)."""

import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.test import AsyncClient

from analytics.dashboards import live
from analytics.models_dashboard import DashboardLayout
from sheets import services
from tests.factories import make_sheet

from .test_dashboard import open_socket

WIDGET = {"id": "w", "type": "tile", "title": "Orders", "query": {"metric": "orders", "agg": "sum"}}


def strict(response):
    def refuse(name):
        raise AssertionError(f"{name} in a JSON answer")

    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return json.loads(response.content, parse_constant=refuse)


def widget(**changes):
    return {**WIDGET, **changes}


def query(**changes):
    return widget(query={**WIDGET["query"], **changes})


# (JSON text of the layout, what the error says)
HOSTILE_LAYOUTS = [
    (json.dumps({"widgets": [WIDGET], "filters": {"from": "2026-02-30T00:00:00"}}), "from is not a date and time"),
    (json.dumps({"widgets": [WIDGET], "filters": {"from": "0001-01-01T00:00:00+05:00"}}), "from: "),
    (
        json.dumps(
            {"widgets": [WIDGET], "filters": {"from": "2026-01-01T00:00:00Z", "to": "9999-12-31T23:59:59-05:00"}}
        ),
        "to: ",
    ),
    (json.dumps({"widgets": [widget(title="a\u0000b")]}), "the title contains a NUL character"),
    (json.dumps({"widgets": [widget(id="a\u0000b")]}), "the id contains a NUL character"),
    (json.dumps({"widgets": [query(tags=["region:e\u0000u"])]}), "a tag filter contains a NUL character"),
    (json.dumps({"widgets": [widget(title="\ud800")]}), "widgets[0].title: text is not valid Unicode"),
    ('{"widgets": [], "filters": {"range": 1e400}}', "filters.range: the number is out of range"),
    ('{"widgets": [], "filters": {"range": NaN}}', "filters.range: NaN is not a number"),
    ('{"widgets": ' + "[" * 10_000 + "]" * 10_000 + "}", "nested deeper than 32"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("body, words", HOSTILE_LAYOUTS)
def test_a_hostile_layout_is_a_400_naming_what_is_wrong_and_nothing_is_saved(client, workspace, viewer, body, words):
    client.raise_request_exception = False
    client.force_login(viewer)
    response = client.put(f"/workspaces/{workspace.pk}/dashboard/layout/", body, content_type="application/json")
    assert response.status_code == 400, response.content[:300]
    assert words in strict(response)["error"]["message"]
    assert not DashboardLayout.objects.exists()


@pytest.mark.django_db
def test_the_edges_of_the_range_are_kept_in_utc(client, workspace, viewer):
    client.force_login(viewer)
    filters = {"from": "0001-01-01T05:00:00+05:00", "to": "9999-12-31T18:59:59-05:00"}
    response = client.put(
        f"/workspaces/{workspace.pk}/dashboard/layout/",
        {"widgets": [WIDGET], "filters": filters},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    saved = strict(response)["filters"]
    assert (saved["from"], saved["to"]) == ("0001-01-01T00:00:00+00:00", "9999-12-31T23:59:59+00:00")


HOSTILE_PARAMS = [
    ({"query": json.dumps(WIDGET["query"]), "filters": json.dumps({"from": "2026-02-30T00:00:00"})}, "from is not"),
    ({"query": json.dumps(WIDGET["query"]), "filters": json.dumps({"from": "0001-01-01T00:00:00+05:00"})}, "from: "),
    ({"query": json.dumps(WIDGET["query"]), "filters": '{"range": 1e400}'}, "out of range"),
    ({"query": "[" * 10_000, "filters": "{}"}, "nested deeper"),
    ({"query": json.dumps({**WIDGET["query"], "tags": ["region:\u0000"]})}, "NUL character"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("params, words", HOSTILE_PARAMS)
def test_hostile_widget_parameters_are_a_400(client, workspace, viewer, params, words):
    client.raise_request_exception = False
    client.force_login(viewer)
    response = client.get(f"/workspaces/{workspace.pk}/dashboard/widget/", params)
    assert response.status_code == 400, response.content[:300]
    assert words in strict(response)["error"]["message"]


@pytest.mark.django_db(transaction=True)
async def test_hostile_stream_parameters_are_a_400(workspace, viewer):
    client = AsyncClient(raise_request_exception=False)
    await sync_to_async(client.force_login)(viewer)
    for params, words in HOSTILE_PARAMS:
        query = params["query"]
        widgets = json.dumps([{"id": "w", "query": json.loads(query)}]) if query.startswith("{") else query
        response = await client.get(
            f"/workspaces/{workspace.pk}/dashboard/events/",
            {"widgets": widgets, "filters": params.get("filters", "{}")},
        )
        assert response.status_code == 400, (params, response.status_code)
        assert words in strict(response)["error"]["message"]


@pytest.mark.django_db(transaction=True)
async def test_hostile_subscriptions_are_error_frames_and_the_socket_stays_open(workspace, viewer):
    socket, _ = await open_socket(viewer, workspace.pk)
    for text in (
        '{"type": "subscribe", "widgets": ' + "[" * 10_000 + "]" * 10_000 + "}",
        json.dumps({"type": "subscribe", "widgets": [], "filters": {"from": "2026-02-30T00:00:00"}}),
        json.dumps({"type": "subscribe", "widgets": [], "filters": {"from": "0001-01-01T00:00:00+05:00"}}),
        '{"type": "subscribe", "widgets": [], "filters": {"range": 1e400}}',
        '{"type": "ping", "t": "\\ud800"}',
    ):
        await socket.ws.send_to(text_data=text)
        error = await socket.recv_type("error")
        assert error["code"] == "invalid" and error["message"], error
    await socket.send({"type": "ping", "t": 5})
    assert (await socket.recv_type("pong"))["t"] == 5
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("widget_threads_return_connections")
def test_a_sheet_widget_whose_sum_overflows_is_reported_as_such(client, workspace, owner, viewer, writer):
    sheet = make_sheet(
        workspace, owner, columns=[{"name": "Region", "type": "text"}, {"name": "Amount", "type": "number"}]
    )
    services.rows_insert(
        sheet=sheet, actor=owner, rows=[{"c1": "eu", "c2": 1e308}, {"c1": "eu", "c2": 1e308}, {"c1": "us", "c2": 7}]
    )
    writer.catch_up()
    client.force_login(viewer)
    url = f"/workspaces/{workspace.pk}/dashboard/widget/"
    total = strict(
        client.get(url, {"query": json.dumps({"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2"})})
    )
    assert total["totals"] == [{"group": None, "value": None, "overflow": True}] and total["overflow"] is True
    grouped = strict(
        client.get(
            url,
            {
                "query": json.dumps(
                    {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2", "group_by": "c1"}
                )
            },
        )
    )
    assert grouped["totals"] == [{"group": "eu", "value": None, "overflow": True}, {"group": "us", "value": 7.0}]
    # What the live connection pushes is the same, and encodes.
    pushed = live.compute(
        workspace.pk,
        [("w", {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c2"})],
        {"range": 3600, "from": None, "to": None, "tags": []},
    )
    assert pushed["w"][0] == "result" and pushed["w"][1]["overflow"] is True


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("widget_threads_return_connections")
async def test_the_socket_pushes_an_overflowed_sheet_widget_as_json(workspace, owner, viewer, writer):
    def prepare():
        sheet = make_sheet(workspace, owner, columns=[{"name": "Amount", "type": "number"}])
        services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 1e308}, {"c1": 1e308}])
        writer.catch_up()
        return sheet

    sheet = await database_sync_to_async(prepare)()
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send(
        {
            "type": "subscribe",
            "widgets": [{"id": "w", "query": {"source": "sheet", "sheet": sheet.pk, "agg": "sum", "column": "c1"}}],
        }
    )
    text = await socket.ws.receive_from(timeout=5)
    while '"type":"data"' not in text.replace(" ", ""):
        text = await socket.ws.receive_from(timeout=5)
    frame = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} pushed"))
    assert frame["result"]["totals"] == [{"group": None, "value": None, "overflow": True}]
    await socket.ws.disconnect()
