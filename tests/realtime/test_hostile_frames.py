"""Hostile frames on ws/sheets/<id>/: every one is answered by an error frame naming the write
(its op_id) and the cell or field, the connection stays open, nothing is applied, and one client's
bad value never fails another client's edit.

Before: NUL, unpaired surrogates, year 1 / 9999 moments with an offset, a NUL column name and
10,000 levels of JSON were `server_error` frames (which tell the client to resend forever); a
frame over 512 KiB was answered without its op_id (the client waited forever for the answer to
its write); a ping echoing an unpaired surrogate ended the connection; 10**400 was stored; and a
NUL edit batched with another client's edit failed both."""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async

from core.errors import CellValueInvalid
from realtime.edits import queue_for
from sheets.models import Operation, Row
from sheets.services import Edit

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)

NUMBER_400 = "1" + "0" * 400


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet, rows


async def answer(client, op_id):
    """The ack or error of the write with this op_id."""
    while True:
        frame = await client.recv()
        if frame["type"] in ("ack", "error") and frame.get("op_id") == op_id:
            return frame
        assert frame["type"] not in ("ack", "error"), frame  # an answer to something else, or without op_id


async def still_open(client):
    await client.send({"type": "ping", "t": 1})
    assert (await client.recv_type("pong"))["t"] == 1


def versions(sheet):
    return database_sync_to_async(lambda: Operation.objects.filter(sheet=sheet).count())()


# (column, JSON text of the value, code, what the message says)
HOSTILE = [
    ("c1", json.dumps("a\u0000b"), "invalid_value", "NUL character"),
    ("c1", '"\\ud800"', "bad_frame", "unpaired surrogate"),
    ("c6", '"0001-01-01T00:00:00+05:00"', "invalid_value", "out of range"),
    ("c6", '"9999-12-31T23:59:59-05:00"', "invalid_value", "out of range"),
    ("c2", NUMBER_400, "bad_frame", "out of range"),
    ("c1", "1e400", "bad_frame", "out of range"),
    ("c2", "NaN", "bad_frame", "NaN is not a number"),
]


@pytest.mark.parametrize("col, value, code, words", HOSTILE)
async def test_a_hostile_edit_is_answered_with_its_op_id_and_cell_and_changes_nothing(
    room, owner, connect, col, value, code, words
):
    sheet, rows = room
    client, _ = await connect(owner, sheet)
    before = await versions(sheet)
    for kind, body in (
        ("edit", f'"cells": [{{"row": {rows[0]}, "col": "{col}", "value": {value}}}]'),
        ("insert_rows", f'"rows": [{{"{col}": {value}}}]'),
    ):
        op_id = str(uuid.uuid4())
        await client.send(f'{{"type": "{kind}", "op_id": "{op_id}", {body}}}')
        error = await answer(client, op_id)
        assert error["code"] == code and words in error["message"], error
        if code == "invalid_value":
            assert error["col"] == col and error["row"] == (rows[0] if kind == "edit" else 0)
        else:
            assert error["field"] == ("cells[0].value" if kind == "edit" else f"rows[0].{col}")
    await still_open(client)
    assert await versions(sheet) == before


async def test_a_frame_too_large_is_answered_with_its_op_id(room, owner, connect):
    sheet, rows = room
    client, _ = await connect(owner, sheet)
    for op_first in (True, False):  # clients put op_id first; some put it last
        op_id = str(uuid.uuid4())
        cells = json.dumps([{"row": rows[0], "col": "c1", "value": "x" * 9000}] * 60)
        text = (
            f'{{"type": "edit", "op_id": "{op_id}", "cells": {cells}}}'
            if op_first
            else f'{{"type": "edit", "cells": {cells}, "op_id": "{op_id}"}}'
        )
        assert len(text) > 512 * 1024
        await client.send(text)
        error = await answer(client, op_id)
        assert error["code"] == "too_large"
    await still_open(client)


async def test_deeply_nested_json_is_a_bad_frame_with_its_op_id(room, owner, connect):
    sheet, _ = room
    client, _ = await connect(owner, sheet)
    op_id = str(uuid.uuid4())
    await client.send(f'{{"type": "edit", "op_id": "{op_id}", "cells": {"[" * 10_000 + "]" * 10_000}}}')
    error = await answer(client, op_id)
    assert error["code"] == "bad_frame" and "nested deeper" in error["message"]
    await still_open(client)


async def test_an_unpaired_surrogate_to_be_echoed_does_not_end_the_connection(room, owner, connect):
    sheet, _ = room
    client, _ = await connect(owner, sheet)
    await client.send('{"type": "ping", "t": "\\ud800"}')
    error = await client.recv_type("error")
    assert error["code"] == "bad_frame" and error["field"] == "t"
    await still_open(client)


@pytest.mark.parametrize("name", ["a\u0000b", "\ud800"])
async def test_a_column_name_that_cannot_be_stored_is_refused_not_a_server_error(room, owner, connect, name):
    sheet, _ = room
    client, _ = await connect(owner, sheet)
    op_id = str(uuid.uuid4())
    await client.send(json.dumps({"type": "add_column", "op_id": op_id, "name": name}))  # json escapes \ud800
    error = await answer(client, op_id)
    assert error["code"] in ("invalid", "bad_frame") and error["code"] != "server_error"
    await still_open(client)


async def test_ids_beyond_64_bits_are_refused_not_a_server_error(room, owner, connect):
    sheet, rows = room
    client, _ = await connect(owner, sheet)
    huge = "1" + "0" * 30
    for body in (
        f'"type": "edit", "cells": [{{"row": {huge}, "col": "c1", "value": "x"}}]',
        f'"type": "delete_rows", "row_ids": [{huge}]',
        f'"type": "move_rows", "row_ids": [{rows[0]}], "before": {huge}',
    ):
        op_id = str(uuid.uuid4())
        await client.send(f'{{"op_id": "{op_id}", {body}}}')
        assert (await answer(client, op_id))["code"] == "invalid"
    await client.send(f'{{"type": "hello", "since": {huge}}}')
    assert (await client.recv_type("error"))["code"] == "bad_frame"


async def test_one_clients_bad_value_never_fails_another_clients_edit_in_the_same_batch(room, owner, editor):
    sheet, rows = room
    queue = queue_for(sheet)
    # Enqueued in one turn of the event loop: one batch, one transaction.
    bad = queue.enqueue(Edit(owner, [{"row": rows[0], "col": "c1", "value": "a\u0000b"}], uuid.uuid4()))
    good = queue.enqueue(Edit(editor, [{"row": rows[1], "col": "c1", "value": "fine"}], uuid.uuid4()))
    refused, applied = await asyncio.gather(bad, good)
    assert isinstance(refused, CellValueInvalid) and (refused.detail["row"], refused.detail["col"]) == (rows[0], "c1")
    assert isinstance(applied, Operation)
    data = await database_sync_to_async(lambda: {r.pk: r.data for r in Row.objects.filter(sheet=sheet)})()
    assert data == {rows[0]: {}, rows[1]: {"c1": "fine"}}
