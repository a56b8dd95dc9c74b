import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken, Membership, Role
from config.asgi import application
from sheets import services
from sheets.models import Row

from ..factories import make_sheet, member, user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet, rows


def edit(row, col, value, op_id=None):
    return {"type": "edit", "op_id": op_id or str(uuid.uuid4()), "cells": [{"row": row, "col": col, "value": value}]}


async def test_welcome_then_edit_is_acked_to_sender_and_broadcast_to_others(room, owner, editor, connect):
    sheet, rows = room
    alice, welcome = await connect(owner, sheet)
    assert welcome["version"] == sheet.version and welcome["access"] == "own"
    bob, welcome_b = await connect(editor, sheet)
    assert welcome_b["access"] == "edit"
    assert [p["user"] for p in welcome_b["presence"]] == [owner.pk]
    frame = edit(rows[0], "c2", "12.5")
    await alice.send(frame)
    ack = await alice.recv_type("ack")
    assert ack["op_id"] == frame["op_id"] and ack["version"] == sheet.version + 1
    assert ack["changes"]["cells"] == [{"row": rows[0], "col": "c2", "value": 12.5}]
    ops = await bob.recv_type("ops")
    assert ops["version"] == ack["version"] and ops["actor"] == owner.pk and ops["kind"] == "cells.update"
    assert ops["changes"]["cells"] == [{"row": rows[0], "col": "c2", "value": 12.5}]
    assert await database_sync_to_async(lambda: Row.objects.get(pk=rows[0]).data)() == {"c2": 12.5}
    # The sender never receives its own op as a broadcast.
    assert await alice.no("ops")


async def test_rest_edits_reach_websocket_subscribers(room, owner, connect):
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    await database_sync_to_async(services.cells_update)(
        sheet=sheet, actor=owner, cells=[{"row": rows[1], "col": "c1", "value": "from REST"}]
    )
    ops = await alice.recv_type("ops")
    assert ops["changes"]["cells"][0]["value"] == "from REST"


async def test_user_without_access_is_refused_at_connect(room, outsider, connect):
    sheet, _ = room
    client, code = await connect(outsider, sheet)
    assert client is None and code == 4403


async def test_bad_token_and_bad_origin_are_refused(room):
    sheet, _ = room
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token=gc_nope", headers=[(b"origin", b"http://127.0.0.1:8000")]
    )
    connected, _ = await communicator.connect()
    assert not connected
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_token_clients_may_omit_origin_but_not_send_a_foreign_one(room, owner):
    sheet, _ = room
    _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="script")
    communicator = WebsocketCommunicator(application, f"/ws/sheets/{sheet.pk}/?token={key}")
    connected, _ = await communicator.connect()
    assert connected
    await communicator.disconnect()
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=[(b"origin", b"http://evil.example")]
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_session_cookie_authenticates(room, owner, client):
    sheet, _ = room
    await database_sync_to_async(client.force_login)(owner)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/", headers=[(b"origin", b"http://127.0.0.1:8000"), (b"cookie", cookie)]
    )
    connected, _ = await communicator.connect()
    assert connected
    assert json.loads(await communicator.receive_from())["type"] == "welcome"
    await communicator.disconnect()


async def test_viewer_watches_but_every_write_is_refused(room, owner, viewer, connect):
    sheet, rows = room
    watcher, welcome = await connect(viewer, sheet)
    assert welcome["access"] == "view"
    for frame in [
        edit(rows[0], "c1", "x"),
        {"type": "paste", "cells": [{"row": rows[0], "col": "c1", "value": "x"}]},
        {"type": "insert_rows", "count": 1},
        {"type": "delete_rows", "row_ids": rows[:1]},
        {"type": "add_column", "name": "New"},
        {"type": "undo"},
    ]:
        await watcher.send(frame)
        error = await watcher.recv_type("error")
        assert error["code"] == "forbidden"
    assert await database_sync_to_async(lambda: Row.objects.get(pk=rows[0]).data)() == {}
    alice, _ = await connect(owner, sheet)
    await alice.send(edit(rows[0], "c1", "seen"))
    assert (await watcher.recv_type("ops"))["changes"]["cells"][0]["value"] == "seen"


@pytest.mark.parametrize(
    "raw,code",
    [
        ("not json", "bad_frame"),
        ("[1, 2]", "bad_frame"),
        ('{"type": "teleport"}', "bad_frame"),
        ('{"type": "edit", "cells": [{"row": 1, "col": "c1", "value": 1}]}', "bad_frame"),
        ('{"type": "edit", "op_id": "nope", "cells": []}', "bad_frame"),
        ('{"type": "hello", "since": -4}', "bad_frame"),
        ('{"type": "presence", "selection": "A1"}', "bad_frame"),
        ("x" * 600_000, "too_large"),
    ],
)
async def test_malformed_frames_get_an_error_and_keep_the_connection(room, owner, connect, raw, code):
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    await alice.send(raw)
    assert (await alice.recv_type("error"))["code"] == code
    await alice.send({"type": "ping", "t": 7})
    pong = await alice.recv_type("pong")
    assert pong["t"] == 7 and pong["version"] == sheet.version


async def test_bad_values_are_rejected_with_the_cell_and_nothing_applied(room, owner, connect):
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    frame = {
        "type": "edit",
        "op_id": str(uuid.uuid4()),
        "cells": [{"row": rows[0], "col": "c1", "value": "fine"}, {"row": rows[1], "col": "c3", "value": "1.5"}],
    }
    await alice.send(frame)
    error = await alice.recv_type("error")
    assert error["code"] == "invalid_value" and error["op_id"] == frame["op_id"]
    assert error["row"] == rows[1] and error["col"] == "c3" and "whole number" in error["message"]
    assert await database_sync_to_async(lambda: Row.objects.get(pk=rows[0]).data)() == {}
    cells = [{"row": rows[0], "col": "c1", "value": "x"}] * 5001
    await alice.send({"type": "edit", "op_id": str(uuid.uuid4()), "cells": cells})
    assert (await alice.recv_type("error"))["code"] == "too_large"


async def test_resent_op_id_is_acked_with_the_original_version(room, owner, editor, connect):
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    frame = edit(rows[0], "c3", 1)
    await alice.send(frame)
    first = await alice.recv_type("ack")
    await bob.recv_type("ops")
    await alice.send(frame)
    again = await alice.recv_type("ack")
    assert again["version"] == first["version"]
    assert await bob.no("ops")
    count = await database_sync_to_async(lambda: sheet.operations.filter(kind="cells.update").count())()
    assert count == 1


async def test_row_and_column_operations(room, owner, editor, connect):
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    await alice.send({"type": "insert_rows", "op_id": str(uuid.uuid4()), "after": rows[0], "rows": [{"c1": "new"}]})
    ack = await alice.recv_type("ack")
    new_id = ack["changes"]["rows"][0]["id"]
    assert (await bob.recv_type("ops"))["changes"]["rows"][0]["id"] == new_id
    await alice.send({"type": "move_rows", "op_id": str(uuid.uuid4()), "row_ids": [new_id], "after": rows[2]})
    assert (await bob.recv_type("ops"))["kind"] == "rows.move"
    await alice.send({"type": "delete_rows", "op_id": str(uuid.uuid4()), "row_ids": [rows[1]]})
    assert (await bob.recv_type("ops"))["kind"] == "rows.delete"
    await alice.send(
        {"type": "add_column", "op_id": str(uuid.uuid4()), "name": "Notes", "col_type": "text", "after": "c1"}
    )
    column = (await bob.recv_type("ops"))["changes"]["column"]
    assert column["name"] == "Notes"
    await alice.send({"type": "rename_column", "key": column["key"], "name": "Remarks"})
    assert (await bob.recv_type("ops"))["changes"]["name"] == "Remarks"
    await alice.send({"type": "retype_column", "key": "c1", "col_type": "integer"})
    assert (await bob.recv_type("ops"))["kind"] == "column.retype"
    await alice.send({"type": "move_column", "key": "c1", "after": "c3"})
    assert (await bob.recv_type("ops"))["kind"] == "column.move"
    await alice.send({"type": "delete_column", "key": column["key"]})
    assert (await bob.recv_type("ops"))["kind"] == "column.delete"
    order = await database_sync_to_async(
        lambda: list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    )()
    assert order == [rows[0], rows[2], new_id]


async def test_hello_replays_missed_operations_or_asks_for_reload(room, owner, editor, connect, settings):
    sheet, rows = room
    alice, welcome = await connect(owner, sheet)
    for i in range(3):
        await database_sync_to_async(services.cells_update)(
            sheet=sheet, actor=editor, cells=[{"row": rows[0], "col": "c3", "value": i}]
        )
    await alice.send({"type": "hello", "since": welcome["version"]})
    replay = await alice.recv_type("replay")
    assert [op["version"] for op in replay["ops"]] == [welcome["version"] + i for i in (1, 2, 3)]
    assert replay["version"] == welcome["version"] + 3
    settings.GRIDCAST = {**settings.GRIDCAST, "WS_REPLAY_LIMIT": 2}
    await alice.send({"type": "hello", "since": welcome["version"]})
    assert (await alice.recv_type("reload"))["version"] == welcome["version"] + 3


async def test_presence_is_relayed_throttled_and_left_on_close(room, owner, editor, connect):
    sheet, _ = room
    alice, _ = await connect(owner, sheet)
    bob, _ = await connect(editor, sheet)
    joined = await alice.recv_type("presence")
    assert joined["event"] == "joined" and joined["who"]["user"] == editor.pk
    for col in ("c1", "c2", "c3", "c4", "c5"):
        await bob.send({"type": "presence", "selection": {"row": 1, "col": col}, "editing": col == "c5"})
    seen = []
    loop = asyncio.get_running_loop()
    end = loop.time() + 0.6
    while loop.time() < end:
        if await alice.ws.receive_nothing(timeout=0.05):
            continue
        frame = await alice.recv()
        if frame["type"] == "presence" and frame["event"] == "update":
            seen.append(frame["who"]["selection"]["col"])
    assert seen[-1] == "c5" and len(seen) < 5  # throttled, and the latest state always arrives
    assert (
        await database_sync_to_async(
            lambda: __import__("sheets").models.Operation.objects.filter(kind__startswith="presence").count()
        )()
        == 0
    )
    await bob.close()
    left = await alice.recv_type("presence")
    while left["event"] != "left":
        left = await alice.recv_type("presence")
    assert left["who"]["user"] == editor.pk


async def test_edits_are_rate_limited_per_connection(room, owner, connect, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "WS_EDITS_PER_SECOND": 1, "WS_EDIT_BURST": 2}
    sheet, rows = room
    alice, _ = await connect(owner, sheet)
    frames = [edit(rows[0], "c3", i) for i in range(3)]
    for frame in frames:
        await alice.send(frame)
    # Edits are answered when their batch commits, a refusal at once: match answers by op_id.
    answers = {}
    while len(answers) < 3:
        answer = await alice.recv()
        if answer["type"] in ("ack", "error"):
            answers[answer["op_id"]] = answer
    first, second, third = (answers[f["op_id"]] for f in frames)
    assert (first["type"], second["type"]) == ("ack", "ack") and first["version"] < second["version"]
    assert third["type"] == "error" and third["code"] == "rate_limited"


async def test_removed_member_is_disconnected_and_downgraded_member_loses_edit(room, owner, connect):
    sheet, rows = room
    carol = await database_sync_to_async(lambda: member(sheet.workspace, Role.EDITOR))()
    dave = await database_sync_to_async(lambda: member(sheet.workspace, Role.EDITOR))()
    c, _ = await connect(carol, sheet)
    d, _ = await connect(dave, sheet)
    await database_sync_to_async(lambda: Membership.objects.filter(user=carol).delete())()
    assert (await c.recv_type("error"))["code"] == "access_revoked"
    assert (await c.ws.receive_output(timeout=3))["type"] == "websocket.close"
    await database_sync_to_async(lambda: Membership.objects.filter(user=dave).update(role=Role.VIEWER))()
    # update() sends no signal: changes through save() (services, admin) do.
    m = await database_sync_to_async(lambda: Membership.objects.get(user=dave))()
    await database_sync_to_async(m.save)()
    assert (await d.recv_type("access"))["access"] == "view"
    await d.send(edit(rows[0], "c1", "no"))
    assert (await d.recv_type("error"))["code"] == "forbidden"


async def test_unsharing_a_sheet_disconnects_the_guest(room, owner, connect):
    sheet, _ = room
    guest = await database_sync_to_async(user)()
    await database_sync_to_async(services.sheet_share)(sheet=sheet, user=guest, level="view")
    g, welcome = await connect(guest, sheet)
    assert welcome["access"] == "view"
    await database_sync_to_async(services.sheet_share)(sheet=sheet, user=guest, level=None)
    assert (await g.recv_type("error"))["code"] == "access_revoked"


async def test_undo_and_redo_are_per_user_and_broadcast(room, owner, editor, connect):
    sheet, rows = room
    alice, _ = await connect(editor, sheet)
    bob, _ = await connect(owner, sheet)
    await alice.send({"type": "undo", "op_id": str(uuid.uuid4())})
    assert (await alice.recv_type("error"))["code"] == "nothing_to_undo"
    await alice.send(edit(rows[0], "c1", "first"))
    await alice.recv_type("ack")
    await bob.send(edit(rows[1], "c1", "bob's"))
    await bob.recv_type("ack")
    await alice.send({"type": "undo"})
    undone = await alice.recv_type("ack")
    assert undone["kind"] == "cells.update" and undone["changes"]["cells"] == [
        {"row": rows[0], "col": "c1", "value": None}
    ]
    seen = await bob.recv_type("ops")
    while seen["version"] < undone["version"]:
        seen = await bob.recv_type("ops")
    assert seen["version"] == undone["version"] and seen["changes"]["undo_of"]
    data = await database_sync_to_async(lambda: {r.pk: r.data for r in Row.objects.filter(sheet=sheet)})()
    assert data[rows[0]].get("c1") is None and data[rows[1]] == {"c1": "bob's"}
    await alice.send({"type": "redo"})
    assert (await alice.recv_type("ack"))["changes"]["cells"][0]["value"] == "first"
    await alice.send({"type": "redo"})
    assert (await alice.recv_type("error"))["code"] == "nothing_to_redo"
