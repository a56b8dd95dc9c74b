"""Ingestion of metric events: who may send, validation (index and reason, all or nothing),
durability (acknowledged only once committed; a failure stores nothing)."""

import datetime as dt
import json
import threading
import time

import pytest

from accounts.models import Role
from analytics.metrics import ingest
from analytics.metrics import schema as metric_schema
from tests.analytics.metric_helpers import stored, token_client
from tests.factories import WorkspaceFactory, member

URL = "/api/v1/metrics/"


@pytest.fixture(autouse=True, scope="module")
def _close_lake_connection():
    yield
    metric_schema.reset_connection()  # its PostgreSQL session would keep the test database from being dropped


def event(**overrides):
    base = {
        "source": "shop",
        "metric": "orders",
        "value": 1,
        "timestamp": time.time() - 5,
        "tags": {"region": "eu", "product": "p1"},
    }
    base.update(overrides)
    return base


@pytest.fixture
def sender(workspace, editor):
    return token_client(editor, workspace)


def test_a_batch_is_acknowledged_once_committed(sender, workspace):
    events = [event(value=i, timestamp=dt.datetime.now(dt.UTC).isoformat()) for i in range(250)]
    response = sender.post(URL, {"events": events}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json() == {"accepted": 250, "workspace": workspace.pk, "metrics": ["orders"]}
    # Another connection (as another process would) sees every acknowledged event.
    assert stored(workspace.pk, fresh=True) == 250


def test_a_bare_list_and_every_timestamp_form(sender, workspace):
    now = time.time()
    events = [
        event(timestamp=now - 1),  # epoch seconds
        event(timestamp=int((now - 1) * 1000)),  # epoch milliseconds
        event(timestamp="2026-01-02T03:04:05Z"),
        event(timestamp="2026-01-02T03:04:05.123456+02:00"),
        {"metric": "cpu", "value": 0.5},  # server time, source "api", no tags
    ]
    response = sender.post(URL, events, format="json")
    assert response.status_code == 201, response.json()
    rows = (
        metric_schema.connection()
        .execute(
            "SELECT epoch_us(ts), source, cardinality(tags), tag_region FROM lake.metric_events "
            "WHERE workspace_id = ? ORDER BY ts",
            [workspace.pk],
        )
        .fetchall()
    )
    assert len(rows) == 5
    assert rows[0][0] == int(dt.datetime(2026, 1, 2, 1, 4, 5, 123456, tzinfo=dt.UTC).timestamp() * 1e6)
    assert rows[1][0] == int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp() * 1e6)
    assert ("api", 0, None) in {row[1:] for row in rows}
    assert sum(1 for row in rows if row[3] == "eu") == 4  # the promoted tag column is filled


@pytest.mark.parametrize(
    "bad, reason",
    [
        ({"value": "3"}, "value must be a number"),
        ({"value": True}, "value must be a number"),
        ({"value": None}, "value must be a number"),
        ({"metric": ""}, "metric must be a non-empty string"),
        ({"metric": "a b"}, "metric may hold"),
        ({"metric": "m" * 101}, "longer than 100"),
        ({"source": 7}, "source must be a non-empty string"),
        ({"timestamp": "2026-01-02T03:04:05"}, "timezone"),
        ({"timestamp": "yesterday"}, "not ISO-8601"),
        ({"timestamp": 10}, "out of range"),
        ({"timestamp": time.time() + 3 * 86400}, "out of range"),
        ({"timestamp": [1]}, "ISO-8601 string or epoch"),
        ({"tags": ["eu"]}, "tags must be an object"),
        ({"tags": {"region": 5}}, "tag 'region' must be a string"),
        ({"tags": {"region": "x" * 201}}, "longer than 200"),
        ({"tags": {"bad key": "x"}}, "is invalid"),
        ({"tags": {f"k{i}": "v" for i in range(21)}}, "at most 20 tags"),
        ({"colour": "red"}, "unknown field 'colour'"),
    ],
)
def test_a_bad_event_rejects_the_whole_batch_with_its_index(sender, workspace, bad, reason):
    events = [event(value=i) for i in range(10)]
    events[7] = event(**bad)
    # (1e400, which Python's json reads as infinity, is refused with its place by the JSON parser:
    # tests/analytics/test_hostile_metrics.py.)
    response = sender.post(URL, json.dumps({"events": events}), content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert error["errors"][0]["index"] == 7 and reason in error["errors"][0]["reason"], error
    assert error["message"].startswith("event 7:")
    assert stored(workspace.pk) == 0


def test_every_bad_event_is_listed(sender, workspace):
    events = [event(), "not an object", event(value="x"), event(), event(metric=None)]
    error = sender.post(URL, events, format="json").json()["error"]
    assert [e["index"] for e in error["errors"]] == [1, 2, 4]
    assert stored(workspace.pk) == 0


@pytest.mark.parametrize(
    "body, message",
    [
        ({"events": []}, "empty"),
        ({"nothing": 1}, "events"),
        ({"events": [event()] * 10_001}, "at most 10000 events"),
    ],
)
def test_batch_shape_and_size(sender, workspace, body, message):
    response = sender.post(URL, body, format="json")
    assert response.status_code == 400 and message in response.json()["error"]["message"]
    assert stored(workspace.pk) == 0


def test_the_largest_batch_is_taken(sender, workspace):
    response = sender.post(URL, [event(value=i) for i in range(10_000)], format="json")
    assert response.status_code == 201
    assert stored(workspace.pk) == 10_000


def test_only_a_workspace_scoped_token_with_edit_access_may_send(workspace, editor, viewer, api):
    unscoped = token_client(editor).post(URL, [event()], format="json")
    assert unscoped.status_code == 403 and unscoped.json()["error"]["code"] == "workspace_token_required"
    session = api(editor).post(URL, [event()], format="json")
    assert session.status_code == 403 and session.json()["error"]["code"] == "workspace_token_required"
    assert token_client(viewer, workspace).post(URL, [event()], format="json").status_code == 403
    other = WorkspaceFactory()  # a token scoped to a workspace its owner is not a member of
    assert token_client(editor, other).post(URL, [event()], format="json").status_code == 404
    assert api().post(URL, [event()], format="json").status_code in (401, 403)
    assert stored(workspace.pk) == 0 and stored(other.pk) == 0


def test_a_failure_before_the_commit_answers_5xx_and_stores_nothing(sender, workspace, monkeypatch):
    def crash(con):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest, "_before_commit", crash)
    response = sender.post(URL, [event(value=i) for i in range(100)], format="json")
    assert response.status_code == 503 and response.json()["error"]["code"] == "not_stored"
    assert stored(workspace.pk, fresh=True) == 0
    monkeypatch.undo()
    assert sender.post(URL, [event()], format="json").status_code == 201  # the writer recovered
    assert stored(workspace.pk, fresh=True) == 1


def test_concurrent_batches_are_each_stored_once(workspace):
    other = WorkspaceFactory()
    errors = []

    def send(workspace_id, n):
        try:
            ingest.events_ingest(workspace_id=workspace_id, payload=[event(value=i) for i in range(n)])
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(ws.pk, 300 + i)) for i, ws in enumerate([workspace, other] * 4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert stored(workspace.pk) == 300 + 302 + 304 + 306
    assert stored(other.pk) == 301 + 303 + 305 + 307


def test_a_member_of_another_workspace_sends_only_to_their_own(workspace, sender):
    elsewhere = WorkspaceFactory()
    intruder = member(elsewhere, Role.OWNER)
    assert token_client(intruder, elsewhere).post(URL, [event()], format="json").status_code == 201
    assert sender.post(URL, [event(), event()], format="json").status_code == 201
    assert stored(elsewhere.pk) == 1 and stored(workspace.pk) == 2
