"""Formula columns over the sheet WebSocket: the ack and the ops frame of an edit carry the
recomputed formula cells; add_column and retype_column compile; formula cells refuse edits."""

import uuid

import pytest
from channels.db import database_sync_to_async

from sheets import services
from sheets.models import Column, Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]


@pytest.fixture
def shop(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    row = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 2, "c2": 3}]).payload["rows"][0]["id"]
    return sheet, row


async def test_add_a_formula_column_and_follow_an_edit(shop, owner, editor, connect):
    sheet, row = shop
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    frame = {
        "type": "add_column",
        "op_id": str(uuid.uuid4()),
        "name": "Total",
        "col_type": "formula",
        "options": {"formula": "[Price] * [Qty]"},
    }
    await alice.send(frame)
    added = await alice.recv_type("ack")
    key = added["changes"]["column"]["key"]
    assert added["changes"]["computed"] == {key: {str(row): 6}}
    assert (await bob.recv_type("ops"))["changes"]["computed"] == {key: {str(row): 6}}

    await bob.send({"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": "c2", "value": 4}]})
    ack = await bob.recv_type("ack")
    assert ack["changes"]["cells"] == [{"row": row, "col": "c2", "value": 4}, {"row": row, "col": key, "value": 8}]
    ops = await alice.recv_type("ops")
    assert ops["version"] == ack["version"] and ops["changes"]["cells"] == ack["changes"]["cells"]


async def test_formula_errors_and_refused_writes_over_the_socket(shop, owner, connect):
    sheet, row = shop
    alice, _ = await connect(owner, sheet)
    await alice.send(
        {"type": "add_column", "name": "Bad", "col_type": "formula", "options": {"formula": "[Price] * [Nope]"}}
    )
    error = await alice.recv_type("error")
    assert error["code"] == "invalid" and "no column named 'Nope'" in error["message"]
    assert not await database_sync_to_async(Column.objects.filter(sheet=sheet, name="Bad").exists)()

    op = await database_sync_to_async(services.column_add)(
        sheet=sheet, actor=owner, name="Total", type="formula", options={"formula": "[Price]*[Qty]"}
    )
    key = op.payload["column"]["key"]
    await alice.recv_type("ops")
    frame = {"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": key, "value": 1}]}
    await alice.send(frame)
    error = await alice.recv_type("error")
    assert error["code"] == "invalid_value" and "computed from its formula" in error["message"]
    assert await database_sync_to_async(lambda: Row.objects.get(pk=row).data[key])() == 6

    await alice.send({"type": "retype_column", "key": key, "col_type": "formula", "options": {"formula": "[Total]"}})
    error = await alice.recv_type("error")
    assert "circular reference: Total -> Total" in error["message"]


async def test_a_background_recompute_streams_its_values_and_progress(
    workspace, owner, editor, connect, settings, jobs_worker
):
    """A large sheet (more rows than FORMULA_INLINE_ROWS): the ack says a recompute started, and
    every open grid gets its batches as formulas.compute operations, values and progress."""

    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 10, "FORMULA_RECOMPUTE_BATCH": 100}
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, columns=COLUMNS)
    inserted = await database_sync_to_async(services.rows_insert)(
        sheet=sheet, actor=owner, rows=[{"c1": i, "c2": 3} for i in range(250)]
    )
    ids = [row["id"] for row in inserted.payload["rows"]]
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    frame = {"type": "add_column", "op_id": str(uuid.uuid4()), "name": "Total", "col_type": "formula"}
    await alice.send({**frame, "options": {"formula": "[Price] * [Qty]"}})
    ack = await alice.recv_type("ack")
    key = ack["changes"]["column"]["key"]
    assert ack["changes"]["recompute"] == {"columns": [key], "done": 0, "total": 250, "after": 0}
    assert (await bob.recv_type("ops"))["changes"]["recompute"]["total"] == 250

    for client in (alice, bob):
        progress, values, version = [], {}, ack["version"]
        while not progress or progress[-1] < 250:
            ops = await client.recv_type("ops", timeout=20)
            assert ops["kind"] == "formulas.compute" and ops["version"] == version + 1 and ops["actor"] is None
            version = ops["version"]
            assert ops["changes"]["columns"] == [key] and ops["changes"]["total"] == 250
            progress.append(ops["changes"]["done"])
            values.update(ops["changes"]["computed"][key])
        assert progress == [100, 200, 250]
        assert values == {str(row): i * 3 for i, row in enumerate(ids)}
