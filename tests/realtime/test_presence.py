"""Presence that costs O(1) per join (realtime.presence): batched per room, large rooms summarised,
snapshots only to newcomers; protocol 1 clients keep their per-event frames; across processes."""

import asyncio
import contextlib
import json
import math

import pytest
import pytest_asyncio
import websockets
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings

from accounts.models import ApiToken, Role
from config.asgi import application

from ..factories import make_sheet, member
from ..frames import checked
from .conftest import Client
from .servers import running_servers

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


@pytest.fixture
def small_rooms(settings):
    """Rooms of more than 5 people are summarised, 3 people a batch, counts every 0.5 s (to 4 s)."""
    settings.GRIDCAST = {
        **settings.GRIDCAST,
        "WS_PRESENCE_FULL_ROOM": 5,
        "WS_PRESENCE_LISTED": 3,
        "WS_PRESENCE_COUNT_INTERVAL": 0.5,
        "WS_PRESENCE_COUNT_INTERVAL_MAX": 4,
        "MAX_CONNECTIONS_PER_USER": 0,
    }


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner, rows=3)


@pytest_asyncio.fixture
async def open_socket():
    opened = []

    async def open_(sheet, key, protocol="2"):
        query = f"?token={key}" + (f"&protocol={protocol}" if protocol is not None else "")
        communicator = WebsocketCommunicator(application, f"/ws/sheets/{sheet.pk}/{query}", headers=ORIGIN)
        connected, code = await communicator.connect(timeout=10)
        assert connected, code
        opened.append(communicator)
        client = Client(communicator)
        return client, await client.recv_type("welcome", timeout=10)

    yield open_
    for communicator in opened:
        with contextlib.suppress(BaseException):
            await communicator.disconnect()


def keys_for(workspace, count, role=Role.VIEWER):
    return [ApiToken.issue(user=member(workspace, role=role), name="ws")[1] for _ in range(count)]


def drain(client):
    """The frames a client received so far, without waiting (each checked against its schema)."""
    frames = []
    queue = client.ws.output_queue
    while not queue.empty():
        message = queue.get_nowait()
        if message["type"] == "websocket.send":
            frames.append(json.loads(checked("sheet", message["text"])))
    return frames


def presence(frames):
    return [f for f in frames if f["type"] == "presence"]


async def settle(seconds=0.7):
    await asyncio.sleep(seconds)


async def test_a_join_of_200_viewers_brings_each_a_bounded_number_of_presence_frames(
    small_rooms, workspace, sheet, open_socket
):
    keys = await database_sync_to_async(keys_for)(workspace, 200)
    clients = []
    started = asyncio.get_running_loop().time()
    for start in range(0, 200, 25):  # 25 at a time, as a storm of browsers would come
        clients += await asyncio.gather(*(open_socket(sheet, key) for key in keys[start : start + 25]))
    joining = asyncio.get_running_loop().time() - started
    await settle(1.2)
    per_viewer = []
    for client, welcome in clients:
        frames = presence(drain(client))
        per_viewer.append(len(frames))
        assert all(f["event"] == "batch" for f in frames)
        assert len(welcome["presence"]) <= 5  # a snapshot, capped
    # Each heard of the room in a few batches (while it was small, then its count, less and less
    # often), not of each of the others who came after it (199 frames for the first, before).
    assert max(per_viewer) <= 6 + math.log2(1 + joining / 0.5) + 2, (joining, per_viewer)
    first = presence(drain(clients[0][0]))
    assert not first  # nothing more after the room settled
    # The last batch everyone got says 200.
    late, welcome = await open_socket(sheet, (await database_sync_to_async(keys_for)(workspace, 1))[0])
    assert sum(welcome["counts"].values()) == 201
    await settle(4.5)  # the count alone goes out later while it keeps changing: at most 4 s here
    counts = [presence(drain(c))[-1]["count"] for c, _ in clients[:3]]
    assert counts == [201, 201, 201]


async def test_a_newcomer_gets_a_snapshot_with_the_people_editing_first(small_rooms, workspace, sheet, open_socket):
    keys = await database_sync_to_async(keys_for)(workspace, 9, Role.EDITOR)
    people = [await open_socket(sheet, key) for key in keys[:8]]
    editor, editor_welcome = people[6]
    await editor.send({"type": "presence", "selection": {"row": 1, "col": "c1"}, "editing": True})
    await settle(0.3)
    newcomer, welcome = await open_socket(sheet, keys[8])
    assert welcome["protocol"] == 2 and sum(welcome["counts"].values()) == 9
    assert len(welcome["presence"]) == 3  # a large room (over 5): the 3 most relevant
    first = welcome["presence"][0]
    assert first["connection"] == editor_welcome["you"]["connection"] and first["editing"] is True
    assert welcome["you"]["connection"] not in {p["connection"] for p in welcome["presence"]}
    # The others are not sent a snapshot: their batch only counts the newcomer (not listed: no selection).
    await settle(0.7)
    for client, _ in people:
        for frame in presence(drain(client)):
            assert frame["event"] == "batch"
            assert welcome["you"]["connection"] not in {p["connection"] for p in frame["joined"]}


async def test_updates_are_batched_the_latest_state_wins_and_leaving_is_told(workspace, sheet, open_socket):
    keys = await database_sync_to_async(keys_for)(workspace, 3, Role.EDITOR)
    (alice, _), (bob, bob_welcome), (carol, carol_welcome) = [await open_socket(sheet, key) for key in keys]
    await settle(1.2)
    drain(alice)
    for col in ("c1", "c2", "c3", "c4"):
        await bob.send({"type": "presence", "selection": {"row": 1, "col": col}, "editing": False})
    await carol.send({"type": "presence", "selection": {"row": 2, "col": "c1"}, "editing": True})
    await settle(0.4)
    frames = presence(drain(alice))
    assert 1 <= len(frames) <= 2, frames  # the five updates of two people in one or two batches
    latest = {}
    for frame in frames:
        latest.update({p["connection"]: p for p in frame["updated"]})
    bob_id, carol_id = bob_welcome["you"]["connection"], carol_welcome["you"]["connection"]
    assert latest[bob_id]["selection"] == {"row": 1, "col": "c4"}
    assert latest[carol_id]["editing"] is True
    assert frames[-1]["count"] == 3
    await bob.close()
    await settle(0.3)
    (gone,) = presence(drain(alice))
    assert gone["left"] == [bob_id] and gone["count"] == 2 and not gone["joined"] and not gone["updated"]


async def test_a_large_room_lists_a_few_people_a_batch_and_loses_no_update(small_rooms, workspace, sheet, open_socket):
    keys = await database_sync_to_async(keys_for)(workspace, 10, Role.EDITOR)
    people = [await open_socket(sheet, key) for key in keys]
    await settle(0.7)
    watcher = people[0][0]
    drain(watcher)
    for i, (client, _) in enumerate(people[1:]):
        await client.send({"type": "presence", "selection": {"row": i, "col": "c1"}, "editing": False})
    await settle(1.0)
    frames = presence(drain(watcher))
    assert all(len(f["updated"]) + len(f["joined"]) <= 3 for f in frames)
    seen = {p["connection"]: p["selection"] for f in frames for p in f["updated"]}
    assert seen == {w["you"]["connection"]: {"row": i, "col": "c1"} for i, (_, w) in enumerate(people[1:])}
    # Who was listed is told when they leave; the count goes with it.
    await people[1][0].close()
    await settle(0.3)
    (gone,) = presence(drain(watcher))
    assert gone["left"] == [people[1][1]["you"]["connection"]] and gone["count"] == 9


async def test_protocol_1_clients_still_get_per_event_frames(workspace, sheet, open_socket):
    keys = await database_sync_to_async(keys_for)(workspace, 3, Role.EDITOR)
    old, old_welcome = await open_socket(sheet, keys[0], protocol=None)
    assert "protocol" not in old_welcome and "counts" not in old_welcome
    new, new_welcome = await open_socket(sheet, keys[1])
    other, other_welcome = await open_socket(sheet, keys[2], protocol="1")
    await settle(1.2)  # joins without a selection go out at most every second
    events = [(f["event"], f["who"]["connection"]) for f in presence(drain(old))]
    assert events == [("joined", new_welcome["you"]["connection"]), ("joined", other_welcome["you"]["connection"])]
    batches = presence(drain(new))
    assert {f["event"] for f in batches} == {"batch"}
    drain(other)  # (it may hear of old and new joining, in the batch of its own join: harmless)
    listed = [p["connection"] for f in batches for p in f["joined"]]
    assert listed[-2:] == [new_welcome["you"]["connection"], other_welcome["you"]["connection"]]
    assert listed[:-2] in ([], [old_welcome["you"]["connection"]])  # in the same batch as the newcomer's
    await new.send({"type": "presence", "selection": {"row": 1, "col": "c1"}, "editing": True})
    await settle(0.3)
    await new.close()
    await settle(0.3)
    assert [(f["event"], f["who"]["editing"]) for f in presence(drain(old))] == [("update", True), ("left", True)]
    assert [f["event"] for f in presence(drain(other))] == ["update", "left"]


@pytest.mark.parametrize("protocol", ["3", "two", "", "99999"])
async def test_a_protocol_the_server_does_not_speak_is_refused_with_a_clear_error(workspace, sheet, protocol):
    (key,) = await database_sync_to_async(keys_for)(workspace, 1)
    communicator = WebsocketCommunicator(
        application, f"/ws/sheets/{sheet.pk}/?token={key}&protocol={protocol}", headers=ORIGIN
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    error = json.loads(await communicator.receive_from(timeout=5))
    assert error["type"] == "error" and error["code"] == "protocol_unsupported"
    assert "protocol 1 and 2" in error["message"]
    assert (await communicator.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4400}


# --- across processes ------------------------------------------------------------------------


class Listener:
    """A protocol 2 client of a real server that keeps every frame it receives."""

    def __init__(self, url):
        self.url, self.frames, self.welcome = url, [], None

    async def start(self):
        self.ws = await websockets.connect(self.url)
        self.welcome = json.loads(await self.ws.recv())
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self):
        with contextlib.suppress(websockets.ConnectionClosed):
            async for text in self.ws:
                self.frames.append(json.loads(checked("sheet", text)))

    def presence(self):
        return [f for f in self.frames if f["type"] == "presence"]

    async def close(self):
        await self.ws.close()
        await self.task


async def until(condition, timeout=10):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_presence_across_two_processes_on_one_redis(transactional_db, workspace, sheet):
    keys = await database_sync_to_async(keys_for)(workspace, 3, Role.EDITOR)
    with running_servers(("uvicorn", "uvicorn"), django_settings.REDIS_URL) as (a, b):

        def url(server, key):
            return server.ws_url(f"/ws/sheets/{sheet.pk}/?token={key}&protocol=2")

        alice = await Listener(url(a, keys[0])).start()
        bob = await Listener(url(b, keys[1])).start()
        try:
            # Alice hears of Bob in a batch of B's; Bob gets A's snapshot with its count.
            here = next(iter(alice.welcome["counts"]))
            await until(lambda: any(f.get("joined") and f["server"] != here for f in alice.presence()))
            batch = next(f for f in alice.presence() if f.get("joined") and f["server"] != here)
            assert batch["event"] == "batch" and batch["joined"][0]["connection"] == bob.welcome["you"]["connection"]
            assert batch["count"] == 1
            await until(lambda: any(f["event"] == "snapshot" for f in bob.presence()))
            snapshot = next(f for f in bob.presence() if f["event"] == "snapshot")
            assert [p["connection"] for p in snapshot["members"]] == [alice.welcome["you"]["connection"]]
            assert snapshot["count"] == 1 and snapshot["server"] == here
            # A newcomer on A is told the count of both processes in its welcome.
            carol = await Listener(url(a, keys[2])).start()
            assert sum(carol.welcome["counts"].values()) == 3
            await bob.ws.send(json.dumps({"type": "presence", "selection": {"row": 1, "col": "c1"}, "editing": True}))
            await until(lambda: any(p["editing"] for f in carol.presence() for p in f.get("updated", ())))
            await bob.close()
            await until(lambda: any(f.get("left") for f in alice.presence()))
            assert [f["left"] for f in alice.presence() if f.get("left")] == [[bob.welcome["you"]["connection"]]]
            await carol.close()
        finally:
            await alice.close()


async def test_in_a_large_room_leaving_is_told_of_the_people_listed_and_the_others_are_counted(
    small_rooms, workspace, sheet, open_socket
):
    keys = await database_sync_to_async(keys_for)(workspace, 9)
    people = [await open_socket(sheet, key) for key in keys[:8]]
    await settle(0.7)
    newcomer, welcome = await open_socket(sheet, keys[8])
    listed = [p["connection"] for p in welcome["presence"]]
    assert len(listed) == 3  # the room (9) is over 5: three of them, the rest counted
    unlisted = [w["you"]["connection"] for _, w in people if w["you"]["connection"] not in listed]
    await settle(4.5)  # the count of the join has gone out
    drain(newcomer)
    by_id = {w["you"]["connection"]: c for c, w in people}
    await by_id[listed[0]].close()
    await by_id[unlisted[-1]].close()  # it joined a large room: counted, never listed
    loop = asyncio.get_running_loop()
    frames, deadline = [], loop.time() + 5
    while not any(f["count"] == 7 for f in frames) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        frames += presence(drain(newcomer))
    assert [c for f in frames for c in f["left"]] == [listed[0]]  # the one it was told of
    assert frames[-1]["count"] == 7
