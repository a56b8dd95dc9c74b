"""The `paste` frame: the cells that convert are acknowledged as one operation, with the cells
skipped and why; a paste of which nothing converts is an error frame listing them."""

import uuid

import pytest
from channels.db import database_sync_to_async

from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def orders(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2)
    sheet.row_ids = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet


async def test_the_websocket_paste_acks_with_the_cells_skipped(orders, owner, editor, connect):
    r = orders.row_ids
    alice, _ = await connect(owner, orders)
    bob, _ = await connect(editor, orders)
    op_id = str(uuid.uuid4())
    cells = [{"row": r[0], "col": "c2", "value": "1,5"}, {"row": r[1], "col": "c2", "value": "2.5"}]
    await alice.send({"type": "paste", "op_id": op_id, "cells": cells})
    ack = await alice.recv_type("ack")
    assert ack["op_id"] == op_id and ack["changes"]["cells"] == [{"row": r[1], "col": "c2", "value": 2.5}]
    assert ack["skipped_count"] == 1 and ack["skipped"][0]["value"] == "1,5"
    ops = await bob.recv_type("ops")
    assert ops["changes"]["cells"] == ack["changes"]["cells"] and "skipped" not in ops
    await alice.send({"type": "paste", "op_id": str(uuid.uuid4()), "cells": cells[:1]})
    error = await alice.recv_type("error")
    assert error["code"] == "invalid_value" and error["skipped"][0]["col"] == "c2"
    assert await database_sync_to_async(lambda: Row.objects.get(pk=r[0]).data)() == {}
