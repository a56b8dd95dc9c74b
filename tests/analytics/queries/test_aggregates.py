"""Aggregates, the metric list and exports, checked against a brute-force computation in Python
over random events; every endpoint keeps workspaces apart."""

import csv
import datetime as dt
import io
import math
import random

import pytest
from openpyxl import load_workbook

from accounts.models import Role
from analytics.metrics import ingest, rollup
from analytics.metrics import schema as metric_schema
from analytics.queries import aggregation
from tests.analytics.metric_helpers import token_client
from tests.factories import WorkspaceFactory, member

UTC = dt.UTC
START = dt.datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
SPAN = 3 * 3600
REGIONS = ["eu", "us", "asia"]
ZONES = ["z1", "z2", "z3", "z4"]  # not a promoted tag: read from the map
BUCKET = {"minute": 60, "hour": 3600}


@pytest.fixture(scope="module", autouse=True)
def _close_lake_connection():
    yield
    metric_schema.reset_connection()


@pytest.fixture
def rng():
    seed = random.randrange(10**6)
    print(f"random seed {seed}")
    return random.Random(seed)


def make_events(rng, n):
    events = []
    for _ in range(n):
        tags = {}
        if rng.random() < 0.9:
            tags["region"] = rng.choice(REGIONS)
        if rng.random() < 0.8:
            tags["zone"] = rng.choice(ZONES)
        moment = START + dt.timedelta(seconds=rng.uniform(0, SPAN))
        events.append(
            {
                "source": rng.choice(["web", "shop"]),
                "metric": rng.choice(["orders", "revenue", "cpu"]),
                "value": round(rng.uniform(-50, 500), 3),
                "timestamp": moment.isoformat(),
                "tags": tags,
            }
        )
    return events


@pytest.fixture(params=["events", "rollup", "rollup and newer events"])
def loaded(request, workspace, rng):
    """3,000 events read from the events alone, from the rollup (analytics/metrics/rollup.py), or from
    the rollup of the first half plus the second half's events committed after the refresh."""
    events = make_events(rng, 3000)
    first = events if request.param != "rollup and newer events" else events[:1500]
    ingest.events_ingest(workspace_id=workspace.pk, payload=first)
    # Noise in another workspace, with the same metrics and tags, must never count.
    ingest.events_ingest(workspace_id=WorkspaceFactory().pk, payload=make_events(rng, 500))
    if request.param != "events":
        rollup.refresh(metric_schema.connection())
    if len(first) < len(events):
        ingest.events_ingest(workspace_id=workspace.pk, payload=events[len(first) :])
        ingest.events_ingest(workspace_id=WorkspaceFactory().pk, payload=make_events(rng, 500))
    return events


def brute_force(events, metric_names, agg, bucket, group_by, tags, start, end, top):
    def group_of(e):
        if group_by is None:
            return None
        if group_by in ("metric", "source"):
            return e[group_by]
        return e["tags"].get(group_by)

    def combine(values):
        if agg == "count":
            return len(values)
        if not values:
            return None
        return {"sum": sum, "avg": lambda v: sum(v) / len(v), "min": min, "max": max}[agg](values)

    chosen = [
        e
        for e in events
        if e["metric"] in metric_names
        and start <= dt.datetime.fromisoformat(e["timestamp"]) < end
        and all(e["tags"].get(k) == v for k, v in tags)
    ]
    groups = {}
    for e in chosen:
        groups.setdefault(group_of(e), []).append(e)
    # Largest first; equal values by group name, no group last (as the API breaks ties).
    totals = sorted(
        ((g, combine([e["value"] for e in es])) for g, es in groups.items()),
        key=lambda t: (-t[1], t[0] is None, t[0] or ""),
    )
    if top:
        totals = totals[:top]
    series = {}
    if bucket:
        size = BUCKET[bucket]
        for g, _ in totals:
            points = {}
            for e in groups[g]:
                b = int(dt.datetime.fromisoformat(e["timestamp"]).timestamp() // size) * size
                points.setdefault(b, []).append(e["value"])
            series[g] = [(aggregation.iso(b * 1_000_000), combine(v)) for b, v in sorted(points.items())]
    return totals, series


def close(a, b):
    return a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6))


def test_aggregates_match_a_brute_force_computation(workspace, viewer, loaded, rng, api):
    client = api(viewer)
    for _ in range(60):
        agg = rng.choice(list(aggregation.AGGREGATES))
        bucket = rng.choice([None, "minute", "hour"])
        group_by = rng.choice([None, "region", "zone", "metric", "source"])
        names = rng.sample(["orders", "revenue", "cpu"], rng.choice([1, 1, 2]))
        tags = rng.choice([[], [], [("region", rng.choice(REGIONS))], [("zone", "z2"), ("region", "us")]])
        # Whole hours, whole minutes or any second: a rollup serves whole periods, events the rest.
        unit = rng.choice([3600, 60, 1])
        start = START + dt.timedelta(seconds=unit * rng.randint(-1800 // unit, 6000 // unit))
        end = start + dt.timedelta(seconds=unit * rng.randint(1, 12000 // unit))
        top = rng.choice([None, None, 1, 2]) if group_by else None
        params = {
            "metric": ",".join(names),
            "agg": agg,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "tag": [f"{k}:{v}" for k, v in tags],
        }
        if bucket:
            params["bucket"] = bucket
        if group_by:
            params["group_by"] = group_by
        if top:
            params["top"] = top
        response = client.get(f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/", params)
        assert response.status_code == 200, response.json()
        got = response.json()
        assert got["agg"] == agg and got["bucket"] == bucket and got["metric"] == ",".join(names)
        assert got["from"] == aggregation.iso(start.timestamp() * 1e6)
        want_totals, want_series = brute_force(loaded, names, agg, bucket, group_by, tags, start, end, top)
        context = (params, got["totals"], want_totals)
        if group_by is None and not want_totals:
            assert got["totals"] == [{"group": None, "value": 0 if agg in ("sum", "count") else None}], context
        else:
            # Sorted by value, descending; ties may come in any order, so compare as sets of values too.
            assert [t["value"] for t in got["totals"]] == pytest.approx([v for _, v in want_totals]), context
            assert {t["group"]: t["value"] for t in got["totals"]} == pytest.approx(dict(want_totals)), context
        if bucket:
            got_series = {s["group"]: s["points"] for s in got["series"]}
            assert set(got_series) == set(want_series) or (group_by is None and not want_series), context
            for g, points in want_series.items():
                assert [p[0] for p in got_series[g]] == [p[0] for p in points], (context, g)
                assert all(close(a[1], b[1]) for a, b in zip(got_series[g], points)), (context, g)
        else:
            assert got["series"] == []


def test_defaults_last_hour_and_sum(workspace, viewer, api):
    now = dt.datetime.now(UTC)
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {"metric": "orders", "value": 2, "timestamp": (now - dt.timedelta(minutes=5)).isoformat()},
            {"metric": "orders", "value": 3, "timestamp": (now - dt.timedelta(minutes=30)).isoformat()},
            {"metric": "orders", "value": 100, "timestamp": (now - dt.timedelta(hours=2)).isoformat()},
        ],
    )
    got = (
        api(viewer)
        .get(f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/", {"metric": "orders", "bucket": "minute"})
        .json()
    )
    assert got["totals"] == [{"group": None, "value": 5.0}]
    assert [p[1] for p in got["series"][0]["points"]] == [3.0, 2.0]
    span = dt.datetime.fromisoformat(got["to"]) - dt.datetime.fromisoformat(got["from"])
    assert span == dt.timedelta(hours=1)


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "metric is required"),
        ({"metric": "a b"}, "not a valid metric"),
        ({"metric": "x", "agg": "median"}, "agg must be one of"),
        ({"metric": "x", "bucket": "week"}, "bucket must be one of"),
        ({"metric": "x", "group_by": "no spaces"}, "not a valid tag key"),
        ({"metric": "x", "tag": "region"}, "tag must be key:value"),
        ({"metric": "x", "from": "yesterday"}, "from must be an ISO date"),
        ({"metric": "x", "to": "2026-13-01"}, "to must be an ISO date"),
        ({"metric": "x", "from": "2026-02-01", "to": "2026-01-01"}, "from must be before to"),
        ({"metric": "x", "top": "ten"}, "top must be a whole number"),
        ({"metric": "x", "top": "0"}, "top must be between"),
        ({"metric": "x", "bucket": "second", "from": "2020-01-01", "to": "2026-01-01"}, "too many second buckets"),
    ],
)
def test_bad_parameters_are_refused_with_a_message(workspace, viewer, api, params, message):
    response = api(viewer).get(f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/", params)
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_a_date_range_takes_whole_days(workspace, viewer, api):
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {"metric": "orders", "value": 1, "timestamp": "2026-01-01T00:00:00Z"},
            {"metric": "orders", "value": 10, "timestamp": "2026-01-01T23:59:59Z"},
            {"metric": "orders", "value": 100, "timestamp": "2026-01-02T00:00:00Z"},
        ],
    )
    got = (
        api(viewer)
        .get(
            f"/api/v1/workspaces/{workspace.pk}/metrics/aggregate/",
            {"metric": "orders", "from": "2026-01-01", "to": "2026-01-01", "bucket": "day"},
        )
        .json()
    )
    assert got["totals"] == [{"group": None, "value": 11.0}]
    assert got["series"] == [{"group": None, "points": [["2026-01-01T00:00:00Z", 11.0]]}]
    assert got["to"] == "2026-01-02T00:00:00Z"


@pytest.mark.parametrize("refreshed", [False, True], ids=["events", "rollup and newer events"])
def test_metric_list_and_export(workspace, viewer, api, refreshed):
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[{"metric": "orders", "value": 1, "timestamp": "2026-01-01T00:00:00Z", "tags": {"region": "eu"}}],
    )
    if refreshed:  # the first event's tag key is listed from the rollup's table, the others' from the events
        rollup.refresh(metric_schema.connection())
    ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {"metric": "orders", "value": 2.5, "timestamp": "2026-01-01T00:01:00Z", "tags": {"zone": "=cmd()"}},
            {"metric": "cpu", "value": 0.5, "timestamp": "2026-01-01T00:02:00Z", "source": "host-1"},
        ],
    )
    ingest.events_ingest(
        workspace_id=WorkspaceFactory().pk, payload=[{"metric": "secret", "value": 1, "tags": {"k": "v"}}]
    )
    client = api(viewer)
    listed = client.get(f"/api/v1/workspaces/{workspace.pk}/metrics/").json()
    assert listed == {
        "metrics": [
            {"name": "cpu", "count": 1, "last": "2026-01-01T00:02:00Z", "tag_keys": []},
            {"name": "orders", "count": 2, "last": "2026-01-01T00:01:00Z", "tag_keys": ["region", "zone"]},
        ],
        "tag_keys": ["region", "zone"],
    }

    response = client.get(f"/api/v1/workspaces/{workspace.pk}/metrics/export/", {"metric": "orders"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows == [
        ["timestamp", "metric", "value", "source", "tags"],
        ["2026-01-01T00:00:00Z", "orders", "1", "api", '{"region":"eu"}'],
        ["2026-01-01T00:01:00Z", "orders", "2.5", "api", '{"zone":"=cmd()"}'],
    ]

    response = client.get(
        f"/api/v1/workspaces/{workspace.pk}/metrics/export/", {"format": "xlsx", "from": "2026-01-01"}
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == ["timestamp", "metric", "value", "source", "tags"]
    assert [row[1:4] for row in values[1:]] == [["orders", 1, "api"], ["orders", 2.5, "api"], ["cpu", 0.5, "host-1"]]
    assert values[1][0] == dt.datetime(2026, 1, 1)
    assert client.get(f"/api/v1/workspaces/{workspace.pk}/metrics/export/", {"format": "pdf"}).status_code == 400


@pytest.mark.parametrize("path", ["metrics/", "metrics/aggregate/?metric=orders", "metrics/export/"])
def test_other_workspaces_see_nothing(workspace, owner, api, path):
    ingest.events_ingest(workspace_id=workspace.pk, payload=[{"metric": "orders", "value": 1}])
    elsewhere = WorkspaceFactory()
    stranger = member(elsewhere, Role.OWNER)
    url = f"/api/v1/workspaces/{workspace.pk}/{path}"
    assert api(stranger).get(url).status_code == 404  # a member of another workspace
    assert token_client(owner, elsewhere).get(url).status_code == 404  # a token scoped elsewhere
    assert token_client(owner, workspace).get(url).status_code == 200  # a token scoped here
    assert api().get(url).status_code in (401, 403)
