"""The sheet socket's metrics (core/metrics.py): connections, frames delivered and the edit's
latency from its frame to its ack, as /metrics shows them."""

import uuid

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from sheets.models import Row

from ..config.test_metrics import sample
from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def scrape() -> str:
    return Client().get("/metrics").content.decode()


async def test_connections_frames_and_edit_latency_are_counted(workspace, owner, editor, connect):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=2)
    row = await database_sync_to_async(lambda: Row.objects.filter(sheet=sheet).first().pk)()
    before = await database_sync_to_async(scrape)()
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    during = await database_sync_to_async(scrape)()
    assert sample(during, "gridcast_ws_connections") == sample(before, "gridcast_ws_connections") + 2
    await alice.send({"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": "c1", "value": "x"}]})
    await alice.recv_type("ack")
    await bob.recv_type("ops")
    after = await database_sync_to_async(scrape)()
    assert sample(after, "gridcast_ws_edits_total") == sample(before, "gridcast_ws_edits_total") + 1
    count = "gridcast_ws_edit_latency_seconds_count"
    assert sample(after, count) == sample(before, count) + 1
    assert sample(after, "gridcast_ws_edit_latency_seconds_sum") > sample(
        before, "gridcast_ws_edit_latency_seconds_sum"
    )
    # Frames through the outbox: at least the ack and bob's ops (presence frames may come too).
    delivered = "gridcast_ws_frames_delivered_total"
    assert sample(after, delivered) >= sample(before, delivered) + 2
    await alice.close()
    await bob.close()
    closed = await database_sync_to_async(scrape)()
    assert sample(closed, "gridcast_ws_connections") == sample(before, "gridcast_ws_connections")
