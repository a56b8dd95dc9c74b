"""Threat: a viewer reads the past. History is for editors: viewers and view-only guests get the
current state of a sheet, never values that were overwritten or deleted (a value deleted before
the sheet was shared must stay deleted for the guest).

- REST: GET /api/v1/sheets/<id>/operations/ answers 403 (JSON) to anyone below edit access.
- WebSocket: `hello` from a view connection is answered with a compacted `replay` (one entry per
  missed version, the last carrying the current values of the cells they touched) when it missed
  only cell updates, else with `reload` (load the current rows); never with the log.
The browser's viewer converging after a reconnect is tests/browser/test_sheet_page.py.
"""

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import ApiToken, Membership, Role
from config.asgi import application
from sheets import services
from sheets.models import Row, Sheet

from ..factories import make_sheet, member, user

SECRET = "salary: 250,000"


@pytest.fixture
def sheet_with_a_deleted_secret(workspace, owner):
    """A sheet whose first cell once held SECRET, deleted since, then 'public' in another cell."""
    sheet = make_sheet(workspace, owner, rows=2)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": SECRET}])
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": None}])
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[1], "col": "c1", "value": "public"}])
    sheet.refresh_from_db()
    return sheet, rows


def guest_with(sheet, level):
    guest = user()
    services.sheet_share(sheet=sheet, user=guest, level=level)
    return guest


# --- REST ----------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["viewer", "view guest"])
def test_the_operation_log_is_refused_to_view_access_with_a_clear_json_error(
    who, api, workspace, sheet_with_a_deleted_secret
):
    sheet, _ = sheet_with_a_deleted_secret
    person = member(workspace, Role.VIEWER) if who == "viewer" else guest_with(sheet, "view")
    response = api(person).get(f"/api/v1/sheets/{sheet.pk}/operations/?since=0")
    assert response.status_code == 403 and response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "editors" in error["message"] and "/rows/" in error["message"], error
    assert SECRET not in response.content.decode()
    # The current state is theirs to read, without the deleted value.
    rows = api(person).get(f"/api/v1/sheets/{sheet.pk}/rows/")
    assert rows.status_code == 200 and SECRET not in rows.content.decode() and "public" in rows.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["editor", "edit guest", "admin", "owner"])
def test_editors_still_read_the_operation_log(who, api, workspace, owner, sheet_with_a_deleted_secret):
    sheet, _ = sheet_with_a_deleted_secret
    person = {
        "editor": lambda: member(workspace, Role.EDITOR),
        "edit guest": lambda: guest_with(sheet, "edit"),
        "admin": lambda: member(workspace, Role.ADMIN),
        "owner": lambda: owner,
    }[who]()
    response = api(person).get(f"/api/v1/sheets/{sheet.pk}/operations/?since=0")
    assert response.status_code == 200
    assert [op["version"] for op in response.json()["operations"]][-3:] == [
        sheet.version - 2,
        sheet.version - 1,
        sheet.version,
    ]


# --- WebSocket -------------------------------------------------------------------------------------


class Socket:
    def __init__(self, communicator):
        self.ws = communicator
        self.texts = []  # every frame received, as text

    async def send(self, frame):
        await self.ws.send_to(text_data=json.dumps(frame))

    async def recv_type(self, kind, timeout=3):
        while True:
            text = await self.ws.receive_from(timeout=timeout)
            self.texts.append(text)
            frame = json.loads(text)
            if frame["type"] == kind or frame["type"] in ("replay", "reload") and kind == "answer":
                return frame


async def open_socket(person, sheet):
    _, key = await database_sync_to_async(ApiToken.issue)(user=person, name="ws")
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=[(b"origin", b"http://127.0.0.1:8000")]
    )
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    socket = Socket(communicator)
    welcome = await socket.recv_type("welcome")
    return socket, welcome


def compacted(version, cells):
    return {
        "type": "ops",
        "version": version,
        "kind": "cells.update",
        "actor": None,
        "op_id": None,
        "compacted": True,
        "changes": {"cells": cells},
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("who", ["viewer", "view guest"])
async def test_hello_from_a_view_connection_never_answers_with_the_log(who, workspace, sheet_with_a_deleted_secret):
    sheet, rows = sheet_with_a_deleted_secret
    person = await database_sync_to_async(
        lambda: member(workspace, Role.VIEWER) if who == "viewer" else guest_with(sheet, "view")
    )()
    socket, welcome = await open_socket(person, sheet)
    version = welcome["version"]  # 1 sheet.create, 2 rows.insert, 3 SECRET, 4 deleted, 5 'public'
    try:
        assert welcome["access"] == "view" and version == 5
        for since in (0, 1):  # a new client; one that missed rows coming: load the current rows
            await socket.send({"type": "hello", "since": since})
            assert await socket.recv_type("answer") == {"type": "reload", "version": version}
        # Missed only cell updates: their cells' current values, the deleted one empty.
        await socket.send({"type": "hello", "since": 2})
        assert await socket.recv_type("answer") == {
            "type": "replay",
            "version": version,
            "ops": [
                compacted(3, []),
                compacted(4, []),
                compacted(
                    5, [{"row": rows[0], "col": "c1", "value": None}, {"row": rows[1], "col": "c1", "value": "public"}]
                ),
            ],
        }
        await socket.send({"type": "hello", "since": version})  # up to date: nothing to send
        assert await socket.recv_type("answer") == {"type": "replay", "version": version, "ops": []}
        assert not any(SECRET in text for text in socket.texts)
    finally:
        await socket.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_viewer_that_missed_overwritten_values_gets_the_current_ones_and_an_editor_the_log(workspace, owner):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=1)
    row = await database_sync_to_async(lambda: Row.objects.filter(sheet=sheet).values_list("pk", flat=True).first())()
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    viewing, welcome = await open_socket(viewer, sheet)
    await viewing.ws.disconnect()  # away...
    editing, _ = await open_socket(editor, sheet)
    for value in ("draft", "final"):
        await editing.send(
            {"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": "c1", "value": value}]}
        )
        await editing.recv_type("ack")
    version = await database_sync_to_async(lambda: Sheet.objects.get(pk=sheet.pk).version)()
    viewing, _ = await open_socket(viewer, sheet)  # ...and back
    try:
        await viewing.send({"type": "hello", "since": welcome["version"]})
        assert await viewing.recv_type("answer") == {
            "type": "replay",
            "version": version,
            "ops": [compacted(version - 1, []), compacted(version, [{"row": row, "col": "c1", "value": "final"}])],
        }
        assert not any("draft" in text for text in viewing.texts)
        await editing.send({"type": "hello", "since": welcome["version"]})
        replay = await editing.recv_type("answer")
        assert replay["type"] == "replay" and [op["changes"]["cells"][0]["value"] for op in replay["ops"]] == [
            "draft",
            "final",
        ]
    finally:
        await viewing.ws.disconnect()
        await editing.ws.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_an_editor_made_viewer_loses_the_log_at_once(workspace, owner):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=1)
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    socket, welcome = await open_socket(editor, sheet)
    try:

        def downgrade():
            membership = Membership.objects.get(user=editor, workspace=workspace)
            membership.role = Role.VIEWER
            membership.save()

        await database_sync_to_async(downgrade)()
        assert (await socket.recv_type("access"))["access"] == "view"
        await socket.send({"type": "hello", "since": 0})
        assert (await socket.recv_type("answer"))["type"] == "reload"
    finally:
        await socket.ws.disconnect()
