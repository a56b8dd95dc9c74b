"""Threat: access that is gone keeps flowing. Once a member is removed, a user deactivated, a
token revoked, a session logged out or a password changed, every live connection opened with
that credential ends within a second: sheet and dashboard sockets (close 4403), the dashboard's
Server-Sent Events stream and the notification (bell) stream (the stream ends); a write sent
after the revocation is never applied, even when it overtakes the announcement; and this holds
for connections older than the channel layer's group expiry.

The mechanism is realtime/revocation.py. History for viewers is tests/sheets/test_history_access.py.
"""

import asyncio
import contextlib
import json
import time
import urllib.request
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient, Client

from accounts.models import ApiToken, Membership, Role, User
from analytics.alerts import notify as alert_notify
from analytics.dashboards import live
from config.asgi import application
from sheets.models import Operation, Row

from ..factories import make_sheet, member, pushed_notification
from ..frames import checked

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://127.0.0.1:8000")
PASSWORD = "pass-word-123"  # the factories' password
WITHIN = 1.0  # seconds: how soon a connection must end after the revocation is committed


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return sheet, rows


# --- clients -------------------------------------------------------------------------------------


class Socket:
    """A sheet or dashboard WebSocket as the tests drive it."""

    def __init__(self, communicator, path):
        self.ws, self.path = communicator, path

    async def send(self, frame):
        await self.ws.send_to(text_data=json.dumps(frame))

    async def recv_type(self, kind, timeout=3):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = json.loads(await self.ws.receive_from(timeout=max(0.01, deadline - loop.time())))
            if frame["type"] == kind:
                return frame

    async def closed(self, within=WITHIN):
        """(close code, frames received before it); fails when the socket is still open after `within` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        frames = []
        while True:
            try:
                message = await self.ws.receive_output(timeout=max(0.01, deadline - loop.time()))
            except TimeoutError:
                raise AssertionError(f"{self.path} still open {within} s after the revocation; got {frames}") from None
            if message["type"] == "websocket.close":
                return message.get("code"), frames
            frames.append(json.loads(message["text"]))

    async def still_open(self):
        """The socket answers a ping."""
        await self.send({"type": "ping", "t": 1})
        assert (await self.recv_type("pong"))["t"] == 1, f"{self.path} is not open"

    async def close(self):
        try:
            await self.ws.disconnect()
        except BaseException:
            pass


async def _open(path, headers):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=5)
    assert connected, f"{path} refused with {code}"
    socket = Socket(communicator, path)
    await socket.recv_type("welcome")
    return socket


async def issue_token(person, name="ws"):
    token, key = await database_sync_to_async(ApiToken.issue)(user=person, name=name)
    return token, key


async def sheet_socket(sheet, key=None, cookie=None):
    """ws/sheets/<id>/ with an API token (`key`) or a session cookie."""
    path = f"/ws/sheets/{sheet.pk}/" + (f"?token={key}" if key else "")
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    return await _open(path, headers)


async def dashboard_socket(workspace_id, key=None, cookie=None):
    path = f"/ws/dashboards/{workspace_id}/" + (f"?token={key}" if key else "")
    headers = [ORIGIN] + ([(b"cookie", cookie)] if cookie else [])
    return await _open(path, headers)


async def logged_in(person):
    """(sync test client, async test client, session cookie header) of one new session of `person`."""
    client = Client()
    await sync_to_async(client.force_login)(person)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    async_client = AsyncClient()
    async_client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client, async_client, f"{settings.SESSION_COOKIE_NAME}={key}".encode()


class Stream:
    """A Server-Sent Events stream read from the view (the Django test client hands over the body)."""

    def __init__(self, name, chunks):
        self.name, self.chunks, self.events = name, chunks, []

    @classmethod
    async def open(cls, async_client, url, name):
        response = await async_client.get(url)
        assert response.status_code == 200 and response["Content-Type"] == "text/event-stream", response
        stream = cls(name, response.streaming_content.__aiter__())
        stream.frames = "notifications" if url.startswith("/notifications/") else "dashboard"
        await stream.next_event("welcome")
        return stream

    async def _chunk(self, timeout):
        chunk = await asyncio.wait_for(self.chunks.__anext__(), timeout)
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        for block in text.split("\n\n"):
            fields = dict(
                line.split(": ", 1) for line in block.splitlines() if ": " in line and not line.startswith(":")
            )
            if "event" in fields:
                self.events.append((fields["event"], checked(self.frames, json.loads(fields["data"]))))

    async def next_event(self, kind, timeout=3):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(event == kind for event, _ in self.events):
            await self._chunk(max(0.01, deadline - loop.time()))
        index = next(i for i, (event, _) in enumerate(self.events) if event == kind)
        return self.events.pop(index)[1]

    async def ended(self, within=WITHIN):
        """The stream ends within `within` seconds (its events meanwhile are kept in .events)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        try:
            while True:
                await self._chunk(max(0.01, deadline - loop.time()))
        except StopAsyncIteration:
            return True
        except TimeoutError:
            raise AssertionError(f"the {self.name} stream still runs {within} s after the revocation") from None

    async def close(self):
        try:
            await self.chunks.aclose()
        except BaseException:
            pass


def dashboard_stream(async_client, workspace_id):
    return Stream.open(async_client, f"/workspaces/{workspace_id}/dashboard/events/", "dashboard")


def bell_stream(async_client):
    return Stream.open(async_client, "/notifications/events/", "bell")


async def close_all(*connections):
    for connection in connections:
        await connection.close()


def edit(row, value):
    return {"type": "edit", "op_id": str(uuid.uuid4()), "cells": [{"row": row, "col": "c1", "value": value}]}


async def applied(op_id):
    return await database_sync_to_async(Operation.objects.filter(op_id=op_id).exists)()


# --- revocations, as the product makes them --------------------------------------------------------


def remove_member(person, workspace):
    Membership.objects.filter(user=person, workspace=workspace).delete()


def deactivate(person):
    person = User.objects.get(pk=person.pk)
    person.is_active = False
    person.save(update_fields=["is_active"])


def revoke_token_over_rest(person, token):
    """DELETE /api/v1/tokens/<id>/ as the person's browser would."""
    client = Client()
    client.force_login(person)
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204


def change_password_in_the_account_page(client):
    """allauth's password change form, in the session of `client`."""
    response = client.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": "a-new-pass-word-456", "password2": "a-new-pass-word-456"},
    )
    assert response.status_code == 302, response.content[:500]


def log_out(client):
    """allauth's logout view (POST), in the session of `client`."""
    assert client.post("/accounts/logout/").status_code == 302


# --- 1. every connection kind ends when access is gone ------------------------------------------


async def test_removing_a_member_ends_their_dashboard_socket_and_both_streams_within_a_second(room, workspace):
    sheet, _ = room
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    _, key = await issue_token(viewer)
    _, async_client, cookie = await logged_in(viewer)
    groups = [live.dashboard_group(workspace.pk), alert_notify.workspace_group(workspace.pk)]
    before = [await group_members(group) for group in groups]  # (a Redis db may hold channels of earlier runs)
    sheet_ws = await sheet_socket(sheet, key=key)
    dash_ws = await dashboard_socket(workspace.pk, key=key)
    dash_cookie_ws = await dashboard_socket(workspace.pk, cookie=cookie)
    dash_sse = await dashboard_stream(async_client, workspace.pk)
    bell = await bell_stream(async_client)
    try:
        await database_sync_to_async(remove_member)(viewer, workspace)
        for socket in (sheet_ws, dash_ws, dash_cookie_ws):
            code, frames = await socket.closed()
            assert code == 4403, socket.path
            assert [f["code"] for f in frames if f["type"] == "error"] == ["access_revoked"], frames
        assert await dash_sse.ended() and [event for event, _ in dash_sse.events] == ["revoked"], dash_sse.events
        assert await bell.ended()
        # And nothing more arrives: no socket or stream was left in the workspace's groups.
        assert [await group_members(group) for group in groups] == before
    finally:
        await close_all(sheet_ws, dash_ws, dash_cookie_ws, dash_sse, bell)


async def test_deactivating_a_user_ends_every_connection_of_theirs(room, workspace):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    _, key = await issue_token(editor)
    _, async_client, cookie = await logged_in(editor)
    connections = [
        await sheet_socket(sheet, key=key),
        await sheet_socket(sheet, cookie=cookie),
        await dashboard_socket(workspace.pk, key=key),
    ]
    streams = [await dashboard_stream(async_client, workspace.pk), await bell_stream(async_client)]
    try:
        await database_sync_to_async(deactivate)(editor)
        for socket in connections:
            assert (await socket.closed())[0] == 4403, socket.path
        for stream in streams:
            assert await stream.ended()
    finally:
        await close_all(*connections, *streams)


async def test_the_bell_stream_ends_when_the_person_leaves_one_of_its_workspaces(workspace):
    """The bell watches all the person's workspaces; losing one ends it (the browser reconnects
    and gets the workspaces left)."""
    other = await database_sync_to_async(lambda: type(workspace).objects.create(name="Second"))()
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    await database_sync_to_async(lambda: Membership.objects.create(workspace=other, user=viewer, role=Role.VIEWER))()
    _, async_client, _ = await logged_in(viewer)
    bell = await bell_stream(async_client)
    try:
        await database_sync_to_async(remove_member)(viewer, other)
        assert await bell.ended()
        again = await bell_stream(async_client)
        await sync_to_async(alert_notify.notification)(
            workspace.pk, pushed_notification(workspace.pk, id=7, message="still mine")
        )
        assert (await again.next_event("notification"))["notification"]["id"] == 7
        await again.close()
    finally:
        await bell.close()


# --- 2. a credential's connections end with it ---------------------------------------------------


async def test_revoking_a_token_ends_the_connections_opened_with_it_and_only_those(room, workspace):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    revoked, revoked_key = await issue_token(editor, "revoked")
    _, kept_key = await issue_token(editor, "kept")
    _, async_client, cookie = await logged_in(editor)
    gone = [await sheet_socket(sheet, key=revoked_key), await dashboard_socket(workspace.pk, key=revoked_key)]
    kept = [
        await sheet_socket(sheet, key=kept_key),
        await sheet_socket(sheet, cookie=cookie),
        await dashboard_socket(workspace.pk, key=kept_key),
    ]
    bell = await bell_stream(async_client)
    try:
        await database_sync_to_async(revoke_token_over_rest)(editor, revoked)
        for socket in gone:
            code, frames = await socket.closed()
            assert code == 4403 and frames[-1]["code"] == "access_revoked", (socket.path, frames)
        for socket in kept:
            await socket.still_open()
        with pytest.raises(asyncio.TimeoutError):
            await bell._chunk(0.3)  # the session's stream goes on
    finally:
        await close_all(*gone, *kept, bell)


async def test_logging_out_ends_that_sessions_connections_and_no_other_session(room, workspace):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    leaving, leaving_async, leaving_cookie = await logged_in(editor)
    _, staying_async, staying_cookie = await logged_in(editor)
    _, key = await issue_token(editor)
    gone = [
        await sheet_socket(sheet, cookie=leaving_cookie),
        await dashboard_socket(workspace.pk, cookie=leaving_cookie),
    ]
    gone_streams = [await dashboard_stream(leaving_async, workspace.pk), await bell_stream(leaving_async)]
    kept = [await sheet_socket(sheet, cookie=staying_cookie), await sheet_socket(sheet, key=key)]
    kept_stream = await bell_stream(staying_async)
    try:
        await sync_to_async(log_out)(leaving)
        for socket in gone:
            assert (await socket.closed())[0] == 4403, socket.path
        for stream in gone_streams:
            assert await stream.ended()
        for socket in kept:
            await socket.still_open()
        await sync_to_async(alert_notify.notification)(
            workspace.pk, pushed_notification(workspace.pk, id=9, message="for the other session")
        )
        assert (await kept_stream.next_event("notification"))["notification"]["id"] == 9
    finally:
        await close_all(*gone, *gone_streams, *kept, kept_stream)


async def test_changing_the_password_ends_all_of_the_users_connections(room, workspace):
    sheet, _ = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    changing, _, cookie = await logged_in(editor)
    _, other_async, other_cookie = await logged_in(editor)
    _, key = await issue_token(editor)
    sockets = [
        await sheet_socket(sheet, cookie=cookie),
        await sheet_socket(sheet, cookie=other_cookie),
        await sheet_socket(sheet, key=key),
        await dashboard_socket(workspace.pk, key=key),
    ]
    bell = await bell_stream(other_async)
    try:
        await sync_to_async(change_password_in_the_account_page)(changing)
        for socket in sockets:
            assert (await socket.closed())[0] == 4403, socket.path
        assert await bell.ended()
    finally:
        await close_all(*sockets, bell)


REVOCATIONS = ["token revoked", "logged out", "password changed", "deactivated", "member removed"]


async def _revoke(kind, person, workspace, token, client):
    if kind == "token revoked":
        await database_sync_to_async(revoke_token_over_rest)(person, token)
    elif kind == "logged out":
        await sync_to_async(log_out)(client)
    elif kind == "password changed":
        await sync_to_async(change_password_in_the_account_page)(client)
    elif kind == "deactivated":
        await database_sync_to_async(deactivate)(person)
    else:
        await database_sync_to_async(remove_member)(person, workspace)


async def _sheet_socket_of(kind, sheet, person):
    """A sheet socket opened with the credential the revocation `kind` takes away."""
    token, key = await issue_token(person)
    client, _, cookie = await logged_in(person)
    socket = await (sheet_socket(sheet, cookie=cookie) if kind == "logged out" else sheet_socket(sheet, key=key))
    return socket, token, client


@pytest.mark.parametrize("kind", REVOCATIONS)
async def test_an_edit_sent_right_after_a_revocation_is_never_applied(kind, room, workspace):
    sheet, rows = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    socket, token, client = await _sheet_socket_of(kind, sheet, editor)
    try:
        await _revoke(kind, editor, workspace, token, client)
        frame = edit(rows[0], "after " + kind)
        await socket.send(frame)
        code, _ = await socket.closed()
        assert code == 4403
        await asyncio.sleep(0.2)
        assert not await applied(frame["op_id"])
    finally:
        await socket.close()


@pytest.fixture
def announcements_lost(monkeypatch):
    """Announcements to users' groups never arrive: a write that overtakes the announcement (or
    whose announcement was lost) is still checked when it is applied."""
    layer = get_channel_layer()
    send = layer.group_send

    async def group_send(group, message):
        if not group.startswith("user."):
            await send(group, message)

    monkeypatch.setattr(layer, "group_send", group_send)


@pytest.mark.parametrize("kind", REVOCATIONS)
@pytest.mark.parametrize("write", ["edit", "insert_rows"])
async def test_a_write_that_overtakes_the_announcement_is_refused_when_applied(
    kind, write, room, workspace, announcements_lost
):
    sheet, rows = room
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    socket, token, client = await _sheet_socket_of(kind, sheet, editor)
    try:
        await socket.still_open()
        await _revoke(kind, editor, workspace, token, client)
        frame = (
            edit(rows[0], "overtook")
            if write == "edit"
            else {"type": "insert_rows", "op_id": str(uuid.uuid4()), "count": 1}
        )
        await socket.send(frame)
        error = await socket.recv_type("error")
        assert error["code"] == "access_revoked" and error["op_id"] == frame["op_id"], error
        assert (await socket.closed())[0] == 4403
        assert not await applied(frame["op_id"])
    finally:
        await socket.close()


# --- 3. connections older than the channel layer's group expiry ----------------------------------


@pytest.fixture
def short_group_expiry(settings):
    """Groups of the channel layer expire after 2 s instead of a day."""
    layers = json.loads(json.dumps(settings.CHANNEL_LAYERS))
    layers["default"].setdefault("CONFIG", {})["group_expiry"] = 2
    settings.CHANNEL_LAYERS = layers  # Channels drops its layers when the setting changes
    assert get_channel_layer().group_expiry == 2
    return 2


async def test_revocation_reaches_connections_older_than_the_group_expiry(room, workspace, short_group_expiry):
    sheet, _ = room
    viewer = await database_sync_to_async(member)(workspace, Role.VIEWER)
    _, key = await issue_token(viewer)
    _, async_client, _ = await logged_in(viewer)
    sockets = [await sheet_socket(sheet, key=key), await dashboard_socket(workspace.pk, key=key)]
    streams = [await dashboard_stream(async_client, workspace.pk), await bell_stream(async_client)]
    try:
        await asyncio.sleep(short_group_expiry * 2)  # every group joined at the start has expired by now
        # The workspace's pushes still arrive (those groups are kept too)...
        await sync_to_async(alert_notify.notification)(
            workspace.pk, pushed_notification(workspace.pk, id=3, message="late")
        )
        assert (await sockets[1].recv_type("notification"))["notification"]["id"] == 3
        for stream in streams:
            assert (await stream.next_event("notification"))["notification"]["id"] == 3
        # ...and so does the revocation.
        await database_sync_to_async(remove_member)(viewer, workspace)
        for socket in sockets:
            assert (await socket.closed())[0] == 4403, socket.path
        for stream in streams:
            assert await stream.ended()
    finally:
        await close_all(*sockets, *streams)


async def group_members(group):
    """The channels in a group of the Redis channel layer (channels_redis keeps a sorted set)."""
    layer = get_channel_layer()
    if not hasattr(layer, "_group_key"):
        pytest.skip("needs the Redis channel layer")
    key = layer._group_key(group)
    connection = layer.connection(layer.consistent_hash(group))
    return [member.decode() for member in await connection.zrange(key, 0, -1)]


# --- across server processes -------------------------------------------------------------------


@pytest.fixture
def servers(transactional_db):
    from .servers import running_servers

    with running_servers(("uvicorn", "uvicorn"), settings.REDIS_URL) as started:
        yield started


async def read_sse_until_end(host, port, path, cookie, welcome, timeout):
    """A Server-Sent Events stream over a real HTTP/1.1 connection: sets `welcome` once the welcome
    event arrived; returns when the server ends the stream (its last chunk), or raises on timeout."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    received = b""
    try:
        async with asyncio.timeout(timeout):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return received
                received += chunk
                if b"event: welcome" in received:
                    welcome.set()
                if received.endswith(b"\r\n0\r\n\r\n"):
                    return received
    finally:
        writer.close()


async def test_across_processes_a_revoked_token_and_a_logout_end_connections_on_every_server(room, workspace, servers):
    """A token revoked through one server process closes the sockets it opened on another within a
    second, and an edit sent at once is not applied; a logout ends that session's bell stream."""
    import websockets

    sheet, rows = room
    a, b = servers
    editor = await database_sync_to_async(member)(workspace, Role.EDITOR)
    token, key = await issue_token(editor, "script")
    _, admin_key = await issue_token(editor, "admin script")
    session, _, cookie = await logged_in(editor)

    welcome = asyncio.Event()
    bell = asyncio.create_task(
        read_sse_until_end("127.0.0.1", a.port, "/notifications/events/", cookie.decode(), welcome, 10)
    )
    async with (
        websockets.connect(a.ws_url(f"/ws/sheets/{sheet.pk}/?token={key}")) as ws,
        websockets.connect(a.ws_url(f"/ws/dashboards/{workspace.pk}/?token={key}")) as dash,
    ):
        assert json.loads(await ws.recv())["type"] == "welcome"
        assert json.loads(await dash.recv())["type"] == "welcome"
        await asyncio.wait_for(welcome.wait(), 10)

        def revoke():
            request = urllib.request.Request(
                f"{b.http_url}/api/v1/tokens/{token.pk}/",
                method="DELETE",
                headers={"Authorization": f"Token {admin_key}"},
            )
            assert urllib.request.urlopen(request, timeout=10).status == 204

        await sync_to_async(revoke)()
        revoked_at = time.monotonic()
        frame = edit(rows[0], "too late")
        with contextlib.suppress(websockets.ConnectionClosed):  # the close may come first: fine too
            await ws.send(json.dumps(frame))
        for socket in (ws, dash):
            with pytest.raises(websockets.ConnectionClosed) as closed:
                async with asyncio.timeout(WITHIN):
                    while True:
                        await socket.recv()
            assert closed.value.rcvd.code == 4403
        assert time.monotonic() - revoked_at < WITHIN + 0.2
    assert not await applied(frame["op_id"])

    await sync_to_async(log_out)(session)
    logged_out_at = time.monotonic()
    body = await bell
    assert time.monotonic() - logged_out_at < WITHIN, "the bell stream ended within a second of the logout"
    assert b"event: welcome" in body
