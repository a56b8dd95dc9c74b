"""Live dashboards: the page and its permission, saved layouts, the WebSocket consumer
(ws/dashboards/<id>/) and the Server-Sent Events fallback.

The widgets' data comes from the metric aggregates of analytics.queries (the REST aggregate's
selector, through dashboards.layouts.metric_widget_data). Tests of the push plumbing put a
recording aggregate in its place; one test runs against the real one.
"""

import asyncio
import json
import time
from datetime import UTC, datetime

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient
from prometheus_client import REGISTRY

from accounts.models import ApiToken, Role
from analytics.alerts import notify as alert_notify
from analytics.dashboards import layouts, live
from analytics.metrics import ingest
from analytics.metrics import schema as metric_schema
from analytics.models_dashboard import DashboardLayout
from analytics.superset import client as superset_client
from analytics.superset import provisioning
from analytics.superset import sync as superset_sync
from config.asgi import application
from tests.factories import member, pushed_notification
from tests.frames import checked

ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]
WIDGETS = [
    {"id": "w1", "query": {"metric": "orders", "agg": "sum", "bucket": "minute"}},
    {"id": "w2", "query": {"metric": "revenue", "agg": "sum", "group_by": "region", "top": 3}},
]


@pytest.fixture
def recording_aggregate(monkeypatch):
    """A stand-in for the REST aggregate (layouts.metric_widget_data) that records the query parameters
    it was given and answers in the REST shape, the value counting the calls (so that a
    recomputation is visible)."""
    calls = []

    def metric_aggregate(*, workspace_id, params, now):
        calls.append({"workspace_id": workspace_id, **params, "at": time.monotonic()})
        return {
            "metric": params["metric"],
            "agg": params["agg"],
            "bucket": params.get("bucket"),
            "from": params["from"],
            "to": params["to"],
            "series": [{"group": None, "points": [[params["to"], len(calls)]]}],
            "totals": [{"group": None, "value": len(calls)}],
        }

    monkeypatch.setattr(layouts, "metric_widget_data", metric_aggregate)
    return calls


# --- the page and layouts -------------------------------------------------------------------


@pytest.mark.django_db
def test_page_needs_login_and_view_access(client, workspace, viewer, outsider):
    url = f"/workspaces/{workspace.pk}/dashboard/"
    response = client.get(url)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.get("/workspaces/999999/dashboard/").status_code == 404
    client.force_login(viewer)
    response = client.get(url)
    assert response.status_code == 200
    config = response.context["config"]
    assert config["access"] == "view" and config["workspace"]["id"] == workspace.pk
    assert [w["id"] for w in config["dashboard"]["widgets"]] == [w["id"] for w in layouts.default_widgets()]
    assert config["dashboard"]["saved"] is False
    assert b'id="dashboard-config"' in response.content and b"/static/dist/assets/dashboard-" in response.content


@pytest.mark.django_db
def test_layout_is_saved_per_user_and_workspace(client, workspace, viewer, editor, outsider):
    url = f"/workspaces/{workspace.pk}/dashboard/layout/"
    client.force_login(viewer)
    widgets = [
        {
            "id": "a",
            "type": "pie",
            "title": "Revenue share",
            "query": {"metric": "revenue", "group_by": "region", "tags": ["status: paid"]},
        }
    ]
    response = client.put(
        url,
        json.dumps({"widgets": widgets, "filters": {"range": 900, "tags": ["region:eu"]}}),
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    saved = response.json()
    assert saved["widgets"][0]["query"] == {
        "source": "metrics",
        "metric": "revenue",
        "agg": "sum",
        "bucket": None,
        "group_by": "region",
        "tags": ["status:paid"],
        "top": None,
    }
    assert saved["filters"]["range"] == 900 and saved["filters"]["tags"] == ["region:eu"]
    assert client.get(url).json()["widgets"][0]["type"] == "pie"
    assert DashboardLayout.objects.get(user=viewer, workspace=workspace).widgets[0]["title"] == "Revenue share"
    # Another person still has the defaults; a stranger gets nothing.
    client.force_login(editor)
    assert client.get(url).json()["saved"] is False
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    assert client.put(url, json.dumps({"widgets": []}), content_type="application/json").status_code == 404


@pytest.mark.django_db
def test_bad_layouts_are_refused_with_a_reason(client, workspace, viewer):
    url = f"/workspaces/{workspace.pk}/dashboard/layout/"
    client.force_login(viewer)
    cases = [
        ([{"type": "gauge", "query": {"metric": "x"}}], "type is one of"),
        ([{"type": "line", "query": {"metric": "x", "agg": "median"}}], "agg is one of"),
        ([{"type": "line", "query": {"metric": "x", "bucket": "week"}}], "bucket is one of"),
        ([{"type": "table", "query": {"metric": "x", "top": 0}}], "top is between"),
        ([{"type": "tile", "query": {"metric": "x", "tags": ["novalue"]}}], "key:value"),
        ([{"id": "a", "type": "tile", "query": {"metric": "x"}}] * 2, "used twice"),
    ]
    for widgets, reason in cases:
        response = client.put(url, json.dumps({"widgets": widgets}), content_type="application/json")
        assert response.status_code == 400 and reason in response.json()["error"]["message"], (
            widgets,
            response.content,
        )
    sheet_cases = [
        ({"source": "sheet", "column": "c2"}, "names its sheet id"),
        ({"source": "sheet", "sheet": 4, "agg": "avg"}, "choose the column to avg"),
        ({"source": "sheet", "sheet": 4, "column": "Amount"}, "column is a column given by its key"),
    ]
    for query, reason in sheet_cases:
        response = client.put(
            url, json.dumps({"widgets": [{"type": "tile", "query": query}]}), content_type="application/json"
        )
        assert response.status_code == 400 and reason in response.json()["error"]["message"], (query, response.content)
    assert not DashboardLayout.objects.exists()
    # A sheet widget is stored in its one shape (whether the sheet and its columns fit is checked
    # when it is computed: tests/analytics/test_sheet_widgets.py).
    ok = client.put(
        url,
        json.dumps({"widgets": [{"type": "table", "query": {"source": "sheet", "sheet": 4, "column": "c2"}}]}),
        content_type="application/json",
    )
    assert ok.status_code == 200 and ok.json()["widgets"][0]["query"] == {
        "source": "sheet",
        "sheet": 4,
        "agg": "sum",
        "column": "c2",
        "group_by": None,
        "top": None,
        "time_column": None,
        "bucket": None,
    }
    assert client.delete(url).json()["saved"] is False


def test_sliding_and_fixed_windows():
    from datetime import datetime

    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    start, end = layouts.window(layouts.clean_filters({"range": 600}), now)
    assert (end - start).total_seconds() == 600 and end == now
    fixed = layouts.clean_filters({"from": "2026-01-01T10:00:00Z", "to": "2026-01-01T11:00:00Z", "range": 600})
    assert fixed["range"] is None
    start, end = layouts.window(fixed, now)
    assert start.hour == 10 and end.hour == 11


# --- the WebSocket consumer -----------------------------------------------------------------


class Socket:
    def __init__(self, communicator):
        self.ws = communicator

    async def send(self, frame):
        await self.ws.send_to(text_data=json.dumps(frame))

    async def recv(self, timeout=5):
        return json.loads(await self.ws.receive_from(timeout=timeout))

    async def recv_type(self, kind, timeout=5):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv(max(0.01, deadline - loop.time()))
            if frame["type"] == kind:
                return frame

    async def data(self, count, timeout=5):
        """The next `count` data frames, by widget id."""
        frames = {}
        while len(frames) < count:
            frame = await self.recv_type("data", timeout)
            frames[frame["widget"]] = frame
        return frames


async def open_socket(person, workspace_id, with_token=True):
    path = f"/ws/dashboards/{workspace_id}/"
    if with_token:
        _, key = await database_sync_to_async(ApiToken.issue)(user=person, name="dash")
        path += f"?token={key}"
    communicator = WebsocketCommunicator(application, path, headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    return (Socket(communicator) if connected else None), code


@pytest.mark.django_db(transaction=True)
async def test_socket_refuses_strangers_and_anonymous(workspace, outsider):
    socket, code = await open_socket(outsider, workspace.pk)
    assert socket is None and code == 4403
    communicator = WebsocketCommunicator(application, f"/ws/dashboards/{workspace.pk}/", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4403
    # A token scoped to another workspace reaches nothing here.
    other = await database_sync_to_async(lambda: type(workspace).objects.create(name="Other"))()
    person = await database_sync_to_async(member)(workspace, Role.OWNER)
    _, key = await database_sync_to_async(ApiToken.issue)(user=person, name="scoped", workspace=other)
    communicator = WebsocketCommunicator(application, f"/ws/dashboards/{workspace.pk}/?token={key}", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4403


@pytest.mark.django_db(transaction=True)
async def test_socket_pushes_widget_data_on_subscribe_and_when_metrics_arrive(workspace, viewer, recording_aggregate):
    socket, _ = await open_socket(viewer, workspace.pk)
    welcome = await socket.recv_type("welcome")
    assert welcome == {"type": "welcome", "workspace": workspace.pk, "access": "view"}
    await socket.send({"type": "subscribe", "widgets": WIDGETS, "filters": {"range": 900, "tags": ["status:paid"]}})
    assert (await socket.recv_type("subscribed"))["widgets"] == ["w1", "w2"]
    first = await socket.data(2)
    assert first["w1"]["result"]["metric"] == "orders" and first["w2"]["result"]["metric"] == "revenue"
    call = recording_aggregate[-1]
    assert call["workspace_id"] == workspace.pk and call["group_by"] == "region" and call["top"] == "3"
    assert call["tag"] == ["status:paid"]
    assert (datetime.fromisoformat(call["to"]) - datetime.fromisoformat(call["from"])).total_seconds() == 900

    before = len(recording_aggregate)
    sent = time.monotonic()
    await sync_to_async(live.data_arrived)(workspace.pk)
    again = await socket.data(2)
    assert time.monotonic() - sent < 1.0, "pushed within a second of the arrival"
    assert len(recording_aggregate) == before + 2
    assert again["w1"]["result"]["totals"][0]["value"] > first["w1"]["result"]["totals"][0]["value"]
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_pushed_data_is_stamped_with_when_it_was_read(workspace, viewer, recording_aggregate, monkeypatch):
    """Each data frame keeps its fields and carries `as_of_ms`: epoch milliseconds of the moment
    its computation started (the page shows arrival minus it as the data's age), the same for all
    frames of one recomputation; `at` stays the ISO time the computation ended."""
    compute = layouts.metric_widget_data

    def slow(**kwargs):
        time.sleep(0.15)
        return compute(**kwargs)

    monkeypatch.setattr(layouts, "metric_widget_data", slow)
    socket, _ = await open_socket(viewer, workspace.pk)
    before = time.time() * 1000
    await socket.send({"type": "subscribe", "widgets": WIDGETS, "filters": {"range": 900}})
    first = await socket.data(2)
    after = time.time() * 1000
    for frame in first.values():
        assert set(frame) == {"type", "widget", "at", "as_of_ms", "result"}, frame
        assert isinstance(frame["as_of_ms"], int) and before - 1 <= frame["as_of_ms"] <= after
        ended = datetime.fromisoformat(frame["at"]).timestamp() * 1000
        assert ended - frame["as_of_ms"] >= 2 * 150 - 5, "stamped when the computation of both widgets started"
    assert first["w1"]["as_of_ms"] == first["w2"]["as_of_ms"]
    await asyncio.sleep(0.5)
    await sync_to_async(live.data_arrived)(workspace.pk)
    again = await socket.data(2)
    assert again["w1"]["as_of_ms"] > first["w1"]["as_of_ms"] + 500
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_burst_of_arrivals_is_recomputed_at_most_twice_a_second(workspace, viewer, recording_aggregate):
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send({"type": "subscribe", "widgets": WIDGETS[:1], "filters": {"range": 60}})
    await socket.data(1)
    start = len(recording_aggregate)
    layer = get_channel_layer()
    for _ in range(30):  # 30 arrivals in about 1.5 s
        await layer.group_send(live.dashboard_group(workspace.pk), {"type": "data.arrived"})
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.7)
    computed = recording_aggregate[start:]
    assert 2 <= len(computed) <= 5, len(computed)
    gaps = [b["at"] - a["at"] for a, b in zip(computed, computed[1:])]
    assert all(gap >= 0.45 for gap in gaps), gaps
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_other_workspaces_arrivals_and_bad_frames(workspace, viewer, recording_aggregate):
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send({"type": "subscribe", "widgets": [{"id": "x", "query": {"metric": "orders", "agg": "p99"}}]})
    error = await socket.recv_type("error")
    assert error["code"] == "invalid" and "agg is one of" in error["message"]
    await socket.send({"type": "subscribe", "widgets": WIDGETS[:1]})
    await socket.data(1)
    count = len(recording_aggregate)
    await sync_to_async(live.data_arrived)(workspace.pk + 1000)
    assert await socket.ws.receive_nothing(timeout=0.8)
    assert len(recording_aggregate) == count
    await socket.send({"type": "ping", "t": 5})
    assert (await socket.recv_type("pong"))["t"] == 5
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("widget_threads_return_connections")
async def test_widget_errors_are_reported_per_widget(workspace, viewer, recording_aggregate):
    """A widget that cannot be computed (here a sheet of no workspace of the person's) gets its
    error; the others their data."""
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send(
        {
            "type": "subscribe",
            "widgets": [{"id": "s", "query": {"source": "sheet", "sheet": 10**9, "agg": "count"}}, *WIDGETS[:1]],
        }
    )
    frames = await socket.data(2)
    assert frames["s"]["error"] == "no such sheet in this workspace" and "result" not in frames["s"]
    assert frames["w1"]["result"]["metric"] == "orders"
    await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_pushes_notifications_of_its_workspace(workspace, viewer):
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.recv_type("welcome")
    # As alerts push it: one payload for the workspace, each person's own notification id in `ids`.
    payload = pushed_notification(workspace.pk, message="Revenue above 100", ids={str(viewer.pk): 71, "999999": 72})
    await sync_to_async(alert_notify.notification)(workspace.pk, payload)
    frame = await socket.recv_type("notification")
    expected = {**payload, "id": 71}
    del expected["ids"]
    assert frame["notification"] == expected
    await sync_to_async(alert_notify.notification)(workspace.pk + 1000, pushed_notification(workspace.pk + 1000))
    assert await socket.ws.receive_nothing(timeout=0.5)
    await socket.ws.disconnect()


@pytest.fixture
def lake_connection_closed():
    yield

    metric_schema.reset_connection()  # the next test database gets a fresh DuckLake connection


@pytest.mark.django_db(transaction=True)
async def test_ingested_events_reach_the_widgets_within_a_second(workspace, viewer, owner, lake_connection_closed):

    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.send({"type": "subscribe", "widgets": WIDGETS, "filters": {"range": 3600}})
    first = await socket.data(2, timeout=30)
    assert first["w1"]["result"]["totals"] == [{"group": None, "value": 0}]
    assert first["w2"]["result"]["totals"] == []
    now = time.time()
    events = [{"metric": "orders", "value": 1, "timestamp": now - 1, "tags": {"region": r}} for r in ("eu", "eu", "us")]
    events += [
        {"metric": "revenue", "value": v, "timestamp": now - 1, "tags": {"region": r}}
        for v, r in ((10, "eu"), (5, "eu"), (7, "us"), (1, "asia"), (2, "latam"))
    ]
    await sync_to_async(ingest.events_ingest, thread_sensitive=False)(
        workspace_id=workspace.pk, payload={"events": events}
    )
    committed = time.monotonic()
    pushed = await socket.data(2, timeout=5)
    assert time.monotonic() - committed < 1.0, "pushed within a second of the ingestion"
    assert pushed["w1"]["result"]["totals"][0]["value"] == 3
    assert sum(v for _, v in pushed["w1"]["result"]["series"][0]["points"]) == 3
    assert pushed["w2"]["result"]["totals"] == [
        {"group": "eu", "value": 15},
        {"group": "us", "value": 7},
        {"group": "latam", "value": 2},
    ]
    await socket.ws.disconnect()


# --- Server-Sent Events ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    """A layer of its own for each test: the test client drives an SSE stream on an event loop of
    its own, and channels_redis' receive lock stayed bound to an earlier test's loop ("is bound to
    a different event loop", now and then in full runs)."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def read_events(stream, count, timeout=5, frames="dashboard"):
    """The next `count` named events of an SSE stream (an async iterator of chunks), each checked
    against the `frames` registry (core.frames): its event name is its type."""
    events, buffer = [], ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while len(events) < count:
        chunk = await asyncio.wait_for(stream.__anext__(), max(0.01, deadline - loop.time()))
        buffer += chunk.decode() if isinstance(chunk, bytes) else chunk
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
            )
            if "event" in fields:
                data = checked(frames, json.loads(fields["data"]))
                assert data["type"] == fields["event"], block
                events.append((fields["event"], data))
    return events


@pytest.mark.django_db(transaction=True)
async def test_sse_sends_welcome_data_and_pushes(workspace, viewer, outsider, recording_aggregate):
    client = AsyncClient()
    url = f"/workspaces/{workspace.pk}/dashboard/events/"
    assert (await client.get(url)).status_code == 401
    await sync_to_async(client.force_login)(outsider)
    assert (await client.get(url)).status_code == 404
    await sync_to_async(client.force_login)(viewer)
    assert (await client.get(url, {"widgets": "[{"})).status_code == 400
    response = await client.get(url, {"widgets": json.dumps(WIDGETS), "filters": json.dumps({"range": 300})})
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    stream = response.streaming_content.__aiter__()
    events = await read_events(stream, 3)
    assert events[0] == ("welcome", {"type": "welcome", "workspace": workspace.pk, "access": "view"})
    assert {e[1]["widget"] for e in events[1:]} == {"w1", "w2"} and all(e[0] == "data" for e in events[1:])
    now = time.time() * 1000
    assert all(
        isinstance(e[1]["as_of_ms"], int) and now - 5000 < e[1]["as_of_ms"] <= now and "at" in e[1] for e in events[1:]
    ), events
    await asyncio.sleep(0.6)
    await sync_to_async(live.data_arrived)(workspace.pk)
    await sync_to_async(alert_notify.notification)(workspace.pk, pushed_notification(workspace.pk, id=1))
    pushed = await read_events(stream, 3)
    kinds = sorted(kind for kind, _ in pushed)
    assert kinds == ["data", "data", "notification"], pushed
    await stream.aclose()


@pytest.mark.django_db(transaction=True)
async def test_bell_events_carry_notifications_of_every_workspace_of_the_person(workspace, viewer):
    other = await database_sync_to_async(lambda: type(workspace).objects.create(name="Second"))()
    await database_sync_to_async(lambda: other.memberships.create(user=viewer, role=Role.VIEWER))()
    client = AsyncClient()
    await sync_to_async(client.force_login)(viewer)
    response = await client.get("/notifications/events/")
    stream = response.streaming_content.__aiter__()
    events = await read_events(stream, 1, frames="notifications")
    assert sorted(events[0][1]["workspaces"]) == sorted([workspace.pk, other.pk])
    await sync_to_async(alert_notify.notification)(other.pk, pushed_notification(other.pk, id=2, message="CPU high"))
    await sync_to_async(alert_notify.notification)(other.pk + 1000, pushed_notification(other.pk + 1000, id=3))
    await sync_to_async(alert_notify.notification)(
        workspace.pk, pushed_notification(workspace.pk, id=4, message="Errors")
    )
    pushed = await read_events(stream, 2, frames="notifications")
    assert [data["notification"]["id"] for _, data in pushed] == [2, 4]
    await stream.aclose()


# --- the Superset panel when Superset does not answer --------------------------------------------


@pytest.mark.django_db
def test_dashboard_page_says_why_superset_failed(client, workspace, viewer, settings, tmp_path, monkeypatch):
    """No answer and no `<VAR_DIR>/superset/failed`: off, no reason (the page says how to start it).
    With the file (written by `make run` when Superset could not be installed or started): its text,
    escaped in the page. A Superset that answers ignores a file left behind."""
    settings.VAR_DIR = tmp_path
    settings.SUPERSET = {**settings.SUPERSET, "URL": "http://127.0.0.1:9"}  # nothing listens there
    client.force_login(viewer)
    url = f"/workspaces/{workspace.pk}/dashboard/"
    panel = client.get(url).context["config"]["superset"]
    assert panel["available"] is False and panel["failure"] is None

    reason = (
        "Superset could not be installed: pip could not reach <b>pypi.org</b> & friends. "
        "See var/superset/install.log; retry with `make superset`."
    )
    (tmp_path / "superset").mkdir()
    (tmp_path / "superset" / "failed").write_text(reason + "\n")
    response = client.get(url)
    assert response.context["config"]["superset"]["failure"] == reason
    assert b"<b>pypi.org</b>" not in response.content  # json_script escapes it; the page shows it as text
    config = json.loads(
        response.content.decode().split('id="dashboard-config" type="application/json">')[1].split("</script>")[0]
    )
    assert config["superset"]["failure"] == reason

    monkeypatch.setattr(superset_client, "available", lambda timeout=1.0: True)
    monkeypatch.setattr(provisioning, "is_provisioned", lambda workspace_id: True)
    assert client.get(url).context["config"]["superset"] == {
        "available": True,
        "provisioned": True,
        "failure": None,
        "tokenUrl": f"/api/v1/workspaces/{workspace.pk}/superset/guest-token/",
    }


def test_superset_failure_reason_is_read_stripped_and_bounded(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    assert superset_client.failure_reason() is None
    (tmp_path / "superset").mkdir()
    (tmp_path / "superset" / "failed").write_text("  \n")
    assert superset_client.failure_reason() is None
    (tmp_path / "superset" / "failed").write_bytes(
        b"Superset did not start: \xff" + b"x" * 5000 + b"\nretry with `make superset`.\n"
    )
    text = superset_client.failure_reason()
    assert text.startswith("Superset did not start: \ufffd") and text.endswith("retry with `make superset`.")
    assert "\n\u2026\n" in text and len(text) <= superset_client.MAX_FAILURE_CHARS


def test_superset_still_starting_is_said_before_an_old_failure(settings, tmp_path):
    """While `make run` installs and starts Superset it writes `starting`; the page says that
    rather than nothing (or a failure of an earlier run)."""
    settings.VAR_DIR = tmp_path
    (tmp_path / "superset").mkdir()
    (tmp_path / "superset" / "failed").write_text("Superset could not be started: an earlier run\n")
    (tmp_path / "superset" / "starting").write_text("Superset is being installed and started beside Gridcast\n")
    assert superset_client.failure_reason() == "Superset is being installed and started beside Gridcast"
    (tmp_path / "superset" / "starting").unlink()
    assert superset_client.failure_reason() == "Superset could not be started: an earlier run"


def test_superset_turned_off_is_never_reached_and_the_page_says_so(settings, monkeypatch):
    """`make run` with SUPERSET=0: whatever answers on Superset's port is neither synced to nor
    embedded; the dashboard says Superset is off for this run."""
    settings.SUPERSET = {**settings.SUPERSET, "ENABLED": False, "AUTO_SYNC": True}
    monkeypatch.setattr(superset_client.urllib.request, "urlopen", lambda *a, **k: pytest.fail("Superset was reached"))
    assert superset_client.available() is False
    assert "SUPERSET=0" in superset_client.failure_reason()
    superset_sync.schedule_sync(1)  # nothing scheduled, nothing reached


@pytest.mark.django_db(transaction=True)
async def test_dashboard_sockets_are_counted_in_the_connections_metric(workspace, viewer, outsider):
    def connections():
        return REGISTRY.get_sample_value("gridcast_ws_connections")

    before = connections()
    socket, _ = await open_socket(viewer, workspace.pk)
    await socket.recv_type("welcome")
    assert connections() == before + 1
    refused, _ = await open_socket(outsider, workspace.pk)  # a refused handshake is never counted
    assert refused is None and connections() == before + 1
    await socket.ws.disconnect()
    assert connections() == before
