"""Live pushes of dashboards (analytics/dashboards/live.py and receivers.py): what a connection may
watch, recomputation folded under a burst of arrivals, and the pushes that follow the signals of
ingestion and the write-through."""

import asyncio

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from analytics.dashboards import live
from analytics.metrics.signals import metrics_ingested
from analytics.writethrough.signals import cells_written
from core.errors import InvalidInput


def test_parse_subscription_cleans_queries_and_filters():
    watched, filters = live.parse_subscription(
        [
            {"id": 1, "query": {"metric": "orders"}},
            {"id": "x" * 100, "query": {"source": "sheet", "sheet": "3", "agg": "count"}},
        ],
        {"range": "60", "tags": {"region": "eu"}},
    )
    assert watched[0] == (
        "1",
        {
            "source": "metrics",
            "metric": "orders",
            "agg": "sum",
            "bucket": None,
            "group_by": None,
            "tags": [],
            "top": None,
        },
    )
    assert watched[1][0] == "x" * 64 and watched[1][1]["sheet"] == 3 and watched[1][1]["source"] == "sheet"
    assert filters == {"range": 60, "from": None, "to": None, "tags": ["region:eu"]}


@pytest.mark.parametrize(
    "widgets, message",
    [
        ("w1", "widgets is a list"),
        ([{"id": str(n), "query": {"metric": "m"}} for n in range(live.MAX_LIVE_WIDGETS + 1)], "widgets is a list"),
        ([{"query": {"metric": "m"}}], "widget 1 needs an id"),
        ([{"id": "a", "query": {"metric": "no such; metric"}}], "widget 1: choose a metric"),
    ],
)
def test_parse_subscription_refuses_what_it_cannot_watch(widgets, message):
    with pytest.raises(InvalidInput, match=message):
        live.parse_subscription(widgets, {})


async def test_a_burst_of_arrivals_costs_one_more_computation(monkeypatch):
    monkeypatch.setattr(live, "MIN_INTERVAL", 0.05)
    computed, frames = [], []

    async def compute(workspace_id, watched, filters):
        computed.append(workspace_id)
        await asyncio.sleep(0.05)
        return {wid: ("result", {"n": len(computed)}) for wid, _ in watched}

    async def push(frame):
        frames.append(frame)

    monkeypatch.setattr(live, "_compute", compute)
    widgets = live.LiveWidgets(7, push)
    assert widgets.subscribe(
        [{"id": "a", "query": {"metric": "orders"}}, {"id": "b", "query": {"metric": "revenue"}}], {}
    ) == ["a", "b"]
    await asyncio.sleep(0.01)  # the first computation is running
    for _ in range(20):
        widgets.arrived()
    await asyncio.sleep(0.3)
    assert computed == [7, 7] and widgets.computations == 2
    assert [(f["widget"], f["result"]["n"]) for f in frames] == [("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert all(f["type"] == "data" and isinstance(f["as_of_ms"], int) for f in frames)
    widgets.close()


@pytest.mark.django_db(transaction=True)
def test_ingestion_and_the_writer_make_dashboards_recompute(monkeypatch):
    pushed = []
    monkeypatch.setattr(live, "data_arrived", pushed.append)
    cells_written.send(sender=None, applied={1: 7, 2: 7, 3: 8})
    assert sorted(pushed) == [7, 8]  # once per workspace, however many of its sheets
    pushed.clear()
    metrics_ingested.send(sender=None, workspace_id=5, metrics=["orders"])
    assert pushed == [5]


async def test_data_arrived_reaches_the_workspaces_dashboard_group():
    layer = get_channel_layer()
    mine, other = await layer.new_channel(), await layer.new_channel()
    await layer.group_add(live.dashboard_group(41), mine)
    await layer.group_add(live.dashboard_group(42), other)
    try:
        await sync_to_async(live.data_arrived)(41)
        assert await asyncio.wait_for(layer.receive(mine), 5) == {"type": "data.arrived", "workspace": 41}
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(layer.receive(other), 0.3)
    finally:
        await layer.group_discard(live.dashboard_group(41), mine)
        await layer.group_discard(live.dashboard_group(42), other)
