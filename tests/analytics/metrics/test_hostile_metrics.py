"""Hostile input to metrics: ingestion, the group commit shared by every workspace's requests,
aggregates and exports. A bad event is a 400 naming the event or the field, never a 500 or a
503; one workspace's batch never fails another's; an aggregate never answers Infinity or NaN.

Before: value or timestamp 10**400 and 10,000 levels of JSON were HTML 500s; a NUL in a source
or a tag was stored (201); an unpaired surrogate or a NUL in a tag passed validation and failed
the whole group commit, other workspaces' batches included (503); a sum of 1e308s was an HTML
500 (Infinity is not JSON), and so was the alert rule list once a rule had compared it; `from`
in year 1 with a positive offset and `to` at the end of year 9999 were 500s; a NUL in a tag
filter reached DuckLake's catalog query (a 500)."""

import json
import threading
import time

import pytest
from django.db import connections

from accounts.models import Role
from analytics.metrics import ingest
from analytics.metrics import schema as metric_schema
from analytics.models import AlertRule
from tests.analytics.metric_helpers import stored, token_client
from tests.factories import WorkspaceFactory, member

URL = "/api/v1/metrics/"
NUMBER_400 = "1" + "0" * 400


@pytest.fixture(autouse=True, scope="module")
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


@pytest.fixture
def sender(workspace, editor):
    client = token_client(editor, workspace)
    client.raise_request_exception = False
    return client


def strict(response):
    """The body as JSON that has no NaN or Infinity (what a browser's JSON.parse takes)."""

    def refuse(name):
        raise AssertionError(f"{name} in a JSON answer")

    assert response["Content-Type"].startswith("application/json"), response.content[:200]
    return json.loads(response.content, parse_constant=refuse)


def event_text(**fields):
    base = {"source": "shop", "metric": "orders", "value": 1, "timestamp": time.time() - 5, "tags": {"region": "eu"}}
    base.update(fields)
    return json.dumps(base).replace('"<10**400>"', NUMBER_400).replace('"<1e400>"', "1e400").replace('"<NaN>"', "NaN")


@pytest.mark.parametrize(
    "fields, code, where",
    [
        ({"value": "<10**400>"}, "parse_error", "events[1].value"),
        ({"value": "<1e400>"}, "parse_error", "events[1].value"),
        ({"value": "<NaN>"}, "parse_error", "events[1].value"),
        ({"timestamp": "<10**400>"}, "parse_error", "events[1].timestamp"),
        ({"source": "\udc00"}, "parse_error", "events[1].source"),
        ({"tags": {"region": "\ud800"}}, "parse_error", "events[1].tags.region"),
        ({"source": "sh\u0000op"}, "invalid_events", "event 1: source contains a NUL character"),
        ({"tags": {"region": "e\u0000u"}}, "invalid_events", "event 1: tag 'region' contains a NUL character"),
        ({"timestamp": "0001-01-01T00:00:00+05:00"}, "invalid_events", "event 1: timestamp is out of range"),
        ({"timestamp": "9999-12-31T23:59:59-05:00"}, "invalid_events", "event 1: timestamp is out of range"),
        ({"timestamp": 1e300}, "invalid_events", "event 1: timestamp is out of range"),
    ],
)
def test_a_hostile_event_is_a_400_naming_it_and_nothing_is_stored(sender, workspace, fields, code, where):
    response = sender.post(
        URL, f'{{"events": [{event_text()}, {event_text(**fields)}]}}', content_type="application/json"
    )
    assert response.status_code == 400, response.content[:300]
    error = strict(response)["error"]
    assert error["code"] == code
    assert (error["field"] == where) if code == "parse_error" else error["message"].startswith(where), error
    assert stored(workspace.pk) == 0


def test_deeply_nested_json_is_a_400(sender, workspace):
    response = sender.post(URL, '{"events": ' + "[" * 10_000 + "]" * 10_000 + "}", content_type="application/json")
    assert response.status_code == 400 and strict(response)["error"]["code"] == "parse_error"


def test_a_value_near_the_largest_float_is_taken(sender, workspace):
    response = sender.post(
        URL, [{"metric": "big", "value": 1.7e308}, {"metric": "big", "value": -1.7e308}], format="json"
    )
    assert response.status_code == 201 and stored(workspace.pk) == 2


def _hold_the_writer(monkeypatch, refuse_workspace=None):
    """Make the next group commit wait for `release`, so that the requests queued meanwhile go into
    the following group together; that group's commit fails when it holds `refuse_workspace`
    (as the lake refusing something validation did not foresee)."""
    original = ingest._insert
    entered, release = threading.Event(), threading.Event()

    def insert(con, batches):
        entered.set()
        release.wait(10)
        if any(workspace_id == refuse_workspace for workspace_id, _ in batches):
            raise RuntimeError("the lake refused a value")
        return original(con, batches)

    monkeypatch.setattr(ingest, "_insert", insert)
    return entered, release


def _in_threads(calls):
    results = {}

    def run(name, call):
        try:
            results[name] = call()
        except Exception as error:  # noqa: BLE001 - the result of the request
            results[name] = error
        finally:
            connections.close_all()  # this thread's, or the test database could not be dropped

    threads = {name: threading.Thread(target=run, args=(name, call)) for name, call in calls.items()}
    return threads, results


def test_a_batch_the_lake_refuses_fails_only_its_own_request_not_the_others_of_its_group(workspace, monkeypatch):
    other = WorkspaceFactory()
    rows = ingest.validate_events([{"metric": "orders", "value": 1}] * 5)
    entered, release = _hold_the_writer(monkeypatch, refuse_workspace=workspace.pk)
    threads, results = _in_threads(
        {
            "first": lambda: ingest.writer.write(other.pk, rows),
            "refused": lambda: ingest.writer.write(workspace.pk, rows),
            "neighbour": lambda: ingest.writer.write(other.pk, rows),
        }
    )
    threads["first"].start()
    assert entered.wait(10)  # the writer holds the first batch: the next two queue up as one group
    threads["refused"].start()
    threads["neighbour"].start()
    deadline = time.monotonic() + 10
    while ingest.writer._queue.qsize() < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    for thread in threads.values():
        thread.join(30)
    assert results["first"] is None and results["neighbour"] is None, results
    assert isinstance(results["refused"], ingest.EventsNotStored)
    monkeypatch.undo()
    assert stored(other.pk) == 10 and stored(workspace.pk) == 0


@pytest.mark.django_db(transaction=True)  # the requests run in threads of their own
def test_a_bad_event_is_refused_before_the_group_so_the_others_of_the_moment_are_stored(workspace, editor, monkeypatch):
    other = WorkspaceFactory()
    bad = token_client(editor, workspace)
    good = token_client(member(other, Role.EDITOR), other)
    entered, release = _hold_the_writer(monkeypatch)
    body = '{"events": [{"metric": "orders", "value": 1, "source": "\\ud800"}]}'
    threads, results = _in_threads(
        {
            "first": lambda: good.post(URL, [{"metric": "orders", "value": 1}], format="json").status_code,
            "bad": lambda: bad.post(URL, body, content_type="application/json").status_code,
            "tag": lambda: (
                bad.post(URL, [{"metric": "orders", "value": 1, "tags": {"region": "\x00"}}], format="json").status_code
            ),
            "good": lambda: good.post(URL, [{"metric": "orders", "value": 2}], format="json").status_code,
        }
    )
    threads["first"].start()
    assert entered.wait(10)
    for name in ("bad", "tag", "good"):
        threads[name].start()
    time.sleep(0.5)
    release.set()
    for thread in threads.values():
        thread.join(30)
    assert results == {"first": 201, "bad": 400, "tag": 400, "good": 201}
    monkeypatch.undo()
    assert stored(other.pk) == 2 and stored(workspace.pk) == 0


# --- aggregates: never Infinity or NaN -------------------------------------------------------------------


def aggregate(client, workspace, **params):
    response = client.get(f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/", {"metric": "big", **params})
    assert response.status_code == 200, response.content[:300]
    return strict(response)


def test_a_sum_that_overflows_is_reported_as_such(sender, workspace):
    events = [{"metric": "big", "value": 1e308, "source": source} for source in ("a", "a", "b")]
    events.append({"metric": "big", "value": 5, "source": "c"})
    assert sender.post(URL, events, format="json").status_code == 201
    total = aggregate(sender, workspace)
    assert total["totals"] == [{"group": None, "value": None, "overflow": True}] and total["overflow"] is True
    grouped = aggregate(sender, workspace, group_by="source")
    assert grouped["totals"] == [
        {"group": "a", "value": None, "overflow": True},
        {"group": "b", "value": 1e308},
        {"group": "c", "value": 5.0},
    ]
    bucketed = aggregate(sender, workspace, bucket="minute")
    assert bucketed["overflow"] is True and [v for _, v in bucketed["series"][0]["points"]] == [None]
    assert "overflow" not in aggregate(sender, workspace, agg="max")  # the largest value itself fits
    assert aggregate(sender, workspace, agg="count")["totals"] == [{"group": None, "value": 4}]


def test_an_alert_rule_on_an_overflowing_sum_keeps_every_answer_json(sender, workspace, editor, api):
    rules = api(editor)
    url = f"/api/v1/workspaces/{workspace.pk}/alerts/"
    created = rules.post(
        url,
        {"name": "Big", "metric": "big", "agg": "sum", "window_seconds": 3600, "comparison": ">", "threshold": 1},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert sender.post(URL, [{"metric": "big", "value": 1e308}] * 2, format="json").status_code == 201
    assert AlertRule.objects.get(pk=created.json()["id"]).last_evaluated_at is not None
    rules.raise_request_exception = False
    listed = rules.get(url)
    assert listed.status_code == 200 and strict(listed)[0]["last_value"] is None
    assert strict(rules.get("/api/v1/notifications/"))["results"] == []


@pytest.mark.parametrize(
    "params, field",
    [
        ({"from": "0001-01-01T00:00:00+05:00"}, "from"),
        ({"to": "9999-12-31"}, "to"),
        ({"to": "9999-12-31T23:59:59-05:00"}, "to"),
        ({"from": "2026-02-30"}, "from"),
        ({"tag": "region:e\x00u"}, "tag"),
    ],
)
def test_hostile_aggregate_and_export_parameters_are_a_400_naming_them(sender, workspace, params, field):
    for path in ("aggregate", "export"):
        response = sender.get(f"/api/v1/workspaces/{workspace.pk}/metrics/{path}/", {"metric": "orders", **params})
        if path == "export" and field == "tag":
            continue  # exports take no tag filter
        assert response.status_code == 400, (path, response.content[:300])
        assert strict(response)["error"]["field"] == field
