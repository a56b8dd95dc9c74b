"""A restore made over REST (POST /api/v1/sheets/<id>/restore/) reaches the open grids as one
`ops` frame of kind sheet.restore (its schema checked, as every frame in the tests), and its undo
over the socket as another."""

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from sheets import services
from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def restore(user, sheet, body):
    client = APIClient()
    client.force_authenticate(user)
    return client.post(f"/api/v1/sheets/{sheet.pk}/restore/", body, format="json")


async def test_a_restore_is_broadcast_and_undone_live(workspace, owner, editor, connect):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=2)
    rows = await database_sync_to_async(lambda: list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True)))()
    cell = {"row": rows[0], "col": "c1", "value": "old"}
    await database_sync_to_async(services.cells_update)(sheet=sheet, actor=owner, cells=[cell])
    then = sheet.version
    await database_sync_to_async(services.rows_delete)(sheet=sheet, actor=owner, row_ids=[rows[1]])
    await database_sync_to_async(services.cells_update)(sheet=sheet, actor=owner, cells=[{**cell, "value": "new"}])
    watcher, _ = await connect(owner, sheet)
    answer = await database_sync_to_async(restore)(editor, sheet, {"version": then, "scope": "sheet"})
    assert answer.status_code == 200
    ops = await watcher.recv_type("ops")
    assert ops["kind"] == "sheet.restore" and ops["actor"] == editor.pk and ops["changes"]["scope"] == "sheet"
    assert ops["changes"]["cells"] == [{"row": rows[0], "col": "c1", "value": "old"}]
    assert [r["id"] for r in ops["changes"]["rows"]] == [rows[1]]
    undoer, _ = await connect(editor, sheet)
    await undoer.send({"type": "undo"})
    undone = await undoer.recv_type("ack")
    assert undone["kind"] == "sheet.restore" and undone["changes"]["undo_of"] == ops["version"]
    assert undone["changes"]["ids"] == [rows[1]]
    seen = await watcher.recv_type("ops")
    assert seen["version"] == undone["version"]
