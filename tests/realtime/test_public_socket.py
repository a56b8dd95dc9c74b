"""ws/public/<key>/ (realtime.public): a public read-only link's live view. It gets what a viewer
gets (the snapshot's version, live edits, catch-up without history) less everything personal (no
presence either way, no actors); every write is refused; revoking the link or deleting the sheet
closes every open connection of the link within a second; unknown keys are refused at the
handshake, revoked ones told and closed; connects are rate-limited per client IP."""

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from accounts.models import Role
from accounts.services import membership_remove
from config.asgi import application
from sheets import public_links, services
from sheets.models import Operation, PublicLink, Row

from ..factories import make_sheet, member
from .conftest import Client

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
WITHIN = 1.0  # seconds: how soon a connection must end after the revocation is committed


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    link = public_links.public_link_create(workspace=workspace, sheet=sheet, access="view", created_by=owner)
    return sheet, rows, link


async def open_public(key):
    """(client, welcome) of ws/public/<key>/, or (None, close code) when the handshake is refused."""
    communicator = WebsocketCommunicator(application, f"/ws/public/{key}/", headers=[ORIGIN])
    connected, code = await communicator.connect(timeout=5)
    if not connected:
        return None, code
    client = Client(communicator)
    return client, await client.recv_type("welcome")


async def closed(client, within=WITHIN):
    """(close code, frames before it); fails when still open after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    frames = []
    while True:
        try:
            message = await client.ws.receive_output(timeout=max(0.01, deadline - loop.time()))
        except TimeoutError:
            raise AssertionError(f"still open {within} s later; got {frames}") from None
        if message["type"] == "websocket.close":
            return message.get("code"), frames
        frames.append(json.loads(message["text"]))


def edit(row, col, value):
    return {"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": col, "value": value}]}


async def test_a_public_viewer_gets_the_snapshot_version_and_live_edits_without_actors(room, editor, connect):
    sheet, rows, link = room
    public, welcome = await open_public(link.key)
    assert welcome == {"type": "welcome", "version": sheet.version, "access": "view", "you": None, "presence": []}
    bob, _ = await connect(editor, sheet)
    await bob.send(edit(rows[0], "c1", "hello"))
    ops = await public.recv_type("ops")
    assert ops["changes"]["cells"] == [{"row": rows[0], "col": "c1", "value": "hello"}]
    assert ops["actor"] is None and ops["version"] == sheet.version + 1
    await public.close()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "insert_rows", "count": 1},
        {"type": "delete_rows", "row_ids": []},
        {"type": "add_column", "name": "X", "col_type": "text"},
        {"type": "undo"},
        {"type": "redo"},
    ],
)
async def test_every_write_frame_is_refused_read_only_and_nothing_is_applied(room, frame):
    sheet, rows, link = room
    public, _ = await open_public(link.key)
    before = await database_sync_to_async(Operation.objects.filter(sheet=sheet).count)()
    for sent in (edit(rows[0], "c1", "nope"), frame):
        await public.send(sent)
        error = await public.recv_type("error")
        assert error["code"] == "read_only" and "read-only" in error["message"]
    assert await database_sync_to_async(Operation.objects.filter(sheet=sheet).count)() == before
    await public.send({"type": "ping", "t": 7})  # the connection stays
    assert (await public.recv_type("pong"))["t"] == 7
    await public.close()


async def test_presence_does_not_cross_a_public_link_either_way(room, owner, connect):
    sheet, rows, link = room
    alice, _ = await connect(owner, sheet)
    public, welcome = await open_public(link.key)
    assert welcome["presence"] == []  # the member is not named to the public viewer
    await public.send({"type": "presence", "selection": {"row": rows[0], "col": "c1"}, "editing": False})
    assert await alice.no("presence", timeout=0.4)  # nothing of the public viewer reaches members
    await alice.send({"type": "presence", "selection": {"row": rows[1], "col": "c2"}, "editing": True})
    assert await public.no("presence", timeout=0.4)  # nor of members the public viewer
    # A member who joins later is not told of the public viewer either.
    later, later_welcome = await connect(owner, sheet)
    assert [p["user"] for p in later_welcome["presence"]] == [owner.pk]
    await public.close()


async def test_catch_up_gives_current_values_not_history(room, editor):
    sheet, rows, link = room
    public, welcome = await open_public(link.key)
    for value in ("first", "second", "third"):
        await database_sync_to_async(services.cells_update)(
            sheet=sheet, actor=editor, cells=[{"row": rows[0], "col": "c1", "value": value}]
        )
    await public.send({"type": "hello", "since": welcome["version"]})
    replay = await public.recv_type("replay")
    written = [cell["value"] for op in replay["ops"] for cell in op["changes"]["cells"]]
    assert written == ["third"] and all(op["actor"] is None for op in replay["ops"])
    await public.close()


async def test_revoking_the_link_closes_every_open_connection_within_a_second(room, owner, connect):
    sheet, _, link = room
    first, _ = await open_public(link.key)
    second, _ = await open_public(link.key)
    member, _ = await connect(owner, sheet)
    await database_sync_to_async(public_links.public_link_revoke)(link=link)
    for public in (first, second):
        code, frames = await closed(public)
        assert code == 4403
        assert frames[-1]["code"] == "access_revoked" and frames[-1]["message"] == "This link was revoked"
    await member.send({"type": "ping", "t": 1})  # members are not touched
    assert (await member.recv_type("pong"))["t"] == 1


async def test_revoking_one_link_leaves_another_link_of_the_sheet_open(room, workspace, owner):
    sheet, _, link = room
    other = await database_sync_to_async(public_links.public_link_create)(
        workspace=workspace, sheet=sheet, access="view", created_by=owner
    )
    revoked, _ = await open_public(link.key)
    kept, _ = await open_public(other.key)
    await database_sync_to_async(public_links.public_link_revoke)(link=link)
    assert (await closed(revoked))[0] == 4403
    await kept.send({"type": "ping", "t": 2})
    assert (await kept.recv_type("pong"))["t"] == 2
    await kept.close()


async def test_deleting_the_sheet_closes_its_public_connections(room, owner):
    sheet, _, link = room
    public, _ = await open_public(link.key)
    await database_sync_to_async(services.sheet_delete)(sheet=sheet, actor=owner)
    code, _ = await closed(public)
    assert code == 4403
    assert not await database_sync_to_async(PublicLink.objects.filter(pk=link.pk).exists)()


async def test_unknown_keys_are_refused_and_revoked_ones_told(room):
    _, _, link = room
    for key in ("gcp_" + "A" * 32, "whatever"):
        client, code = await open_public(key)
        assert client is None and code == 4403
    await database_sync_to_async(public_links.public_link_revoke)(link=link)
    communicator = WebsocketCommunicator(application, f"/ws/public/{link.key}/", headers=[ORIGIN])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    code, frames = await closed(Client(communicator))
    assert code == 4403 and frames == [{"type": "error", "code": "access_revoked", "message": "This link was revoked"}]


async def test_connects_are_rate_limited_per_client_ip(room, settings):
    _, _, link = room
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public": "2/m"},
    }
    opened = [(await open_public(link.key))[0] for _ in range(2)]
    communicator = WebsocketCommunicator(application, f"/ws/public/{link.key}/", headers=[ORIGIN])
    assert (await communicator.connect(timeout=5))[0]
    code, frames = await closed(Client(communicator))
    assert code == 4429 and frames[0]["code"] == "rate_limited"
    for client in opened:
        await client.close()


async def test_removing_the_publisher_from_the_workspace_closes_their_links_connections(room, workspace, owner):
    sheet, _, _ = room
    admin = await database_sync_to_async(member)(workspace, Role.ADMIN)
    link = await database_sync_to_async(public_links.public_link_create)(
        workspace=workspace, sheet=sheet, access="view", created_by=admin
    )
    public, _ = await open_public(link.key)
    await database_sync_to_async(membership_remove)(workspace=workspace, user_id=admin.pk, by_role=Role.OWNER)
    code, frames = await closed(public)
    assert code == 4403 and frames[-1]["code"] == "access_revoked"
