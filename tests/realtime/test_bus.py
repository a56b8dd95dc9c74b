"""realtime.bus: the fan-out of encoded frames to the connections of a room, in one process
(LocalBus) and across processes through Redis (RedisBus), and the raw writes it makes."""

import asyncio
import threading
import uuid

import pytest
from django.conf import settings
from websockets.frames import Frame, Opcode

from realtime import bus
from realtime.bus import PRESENCE_JOIN, PRESENCE_SNAPSHOT, LocalBus, RedisBus, Rooms


class Connection:
    """What the bus needs of a connection: its id, its presence, and push / push_many."""

    def __init__(self, connection_id, fail=False):
        self.connection_id, self.fail = connection_id, fail
        self.frames, self.batches, self.resyncs = [], 0, 0
        self.presence_state = {"selection": None, "editing": False}

    def who(self):
        return {"connection": self.connection_id, "user": 1, "name": "ada", "colour": "#e6194b"}

    def push(self, text, version=0):
        if self.fail:
            raise RuntimeError("this connection is broken")
        self.frames.append((text, version))

    def push_many(self, items):
        self.batches += 1
        for text, version in items:
            self.push(text, version)

    def resync(self):
        self.resyncs += 1


def room_of(*ids, sheet_id=1):
    rooms, connections = Rooms(), [Connection(i) for i in ids]
    for connection in connections:
        rooms.join(sheet_id, connection)
    return rooms, connections


@pytest.mark.parametrize(
    ("origin", "version", "text"),
    [(None, 0, '{"type":"ops"}'), ("abc", 7, '{"a":"line\\nbreak"}'), ("x", -1, "text\nwith\nraw newlines")],
)
def test_a_message_carries_origin_version_and_text(origin, version, text):
    assert bus._decode(bus._encode(origin, version, text)) == (origin, version, text)


def test_several_frames_travel_in_one_message():
    items = [("a", 3, '{"v":3}'), (None, 4, '{"v":4}'), ("b", 0, "{}")]
    assert bus._decode_many(bus._encode_many(items)) == items


def test_a_room_is_first_joined_and_last_left():
    rooms, (a, b) = room_of("a", "b")
    assert rooms.join(2, Connection("c")) is True and rooms.join(2, Connection("d")) is False
    assert rooms.leave(1, a) is False and rooms.leave(1, b) is True and 1 not in rooms.members
    assert rooms.leave(9, a) is False


def test_a_frame_reaches_everyone_in_the_room_but_its_origin():
    rooms, (a, b, c) = room_of("a", "b", "c")
    rooms.join(2, outsider := Connection("z"))
    rooms.deliver(1, "b", 5, "frame")
    assert a.frames == c.frames == [("frame", 5)] and b.frames == [] and outsider.frames == []


def test_a_presence_snapshot_goes_only_to_the_newcomers_it_names():
    rooms, (a, b, c) = room_of("a", "b", "c")
    rooms.deliver(1, "a,c", PRESENCE_SNAPSHOT, "snapshot")
    assert a.frames == c.frames == [("snapshot", 0)] and b.frames == []


def test_a_broken_connection_does_not_cost_the_others_their_frame():
    rooms, (a, b) = room_of("a", "b")
    a.fail = True
    rooms.deliver(1, None, 1, "one")
    rooms.deliver_many(1, [(None, 2, "two")])
    assert b.frames == [("one", 1), ("two", 2)]


def test_a_batch_is_one_push_per_connection_without_its_own_frames():
    rooms, (a, b) = room_of("a", "b")
    rooms.deliver_many(1, [("a", 1, "one"), ("b", 2, "two"), (None, 3, "three")])
    assert a.frames == [("two", 2), ("three", 3)] and a.batches == 1
    assert b.frames == [("one", 1), ("three", 3)] and b.batches == 1


def test_presence_lists_the_room_but_the_one_asking():
    rooms, (a, b) = room_of("a", "b")
    b.presence_state = {"selection": {"row": 1, "col": "c1"}, "editing": True}
    assert rooms.presence(1, exclude="a") == [{**b.who(), **b.presence_state}]
    assert [m["connection"] for m in rooms.presence(1)] == ["a", "b"]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_a_text_frame_is_what_websockets_would_write(size):
    data = b"x" * size
    assert bus._text_frame(data) == Frame(Opcode.TEXT, data).serialize(mask=False, extensions=[])


async def test_send_eagerly_runs_a_coroutine_here_up_to_its_first_suspension():
    done = []

    async def quick():
        done.append("quick")

    assert bus.send_eagerly(quick()) is None and done == ["quick"]
    gate = asyncio.get_running_loop().create_future()

    async def held():
        done.append("started")
        await gate
        done.append("finished")

    rest = bus.send_eagerly(held())
    assert rest is not None and done == ["quick", "started"]
    gate.set_result(None)
    await rest
    assert done[-1] == "finished"


async def test_the_local_bus_delivers_a_publish_from_another_thread_on_its_loop():
    local, connection = LocalBus(), Connection("a")
    await local.join(1, connection)
    thread = threading.Thread(target=local.publish_many, args=([(1, "one", None, 1), (1, "two", "a", 2)],))
    thread.start()
    thread.join()
    assert connection.frames == []  # handed to the loop, not written from the thread
    await asyncio.sleep(0.05)
    assert connection.frames == [("one", 1)]
    await local.apublish(1, "three", version=3)
    assert connection.frames[-1] == ("three", 3)


@pytest.fixture
async def redis_buses():
    if not getattr(settings, "REDIS_URL", ""):
        pytest.skip("REDIS_URL is not set")
    namespace = f"test-bus-{uuid.uuid4().hex[:8]}"
    buses = [RedisBus(settings.REDIS_URL, namespace) for _ in range(2)]
    yield buses
    for each in buses:
        if each._listener is not None:
            each._listener.cancel()
        if each._async_client is not None:
            await each._async_client.aclose()
        if each._sync_client is not None:
            each._sync_client.close()


async def until(condition, timeout=3):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_redis_carries_a_frame_to_the_other_process_once(redis_buses):
    here, there = redis_buses
    mine, theirs = Connection("mine"), Connection("theirs")
    await here.join(1, mine)
    await there.join(1, theirs)
    await asyncio.sleep(0.2)  # subscribed
    await asyncio.to_thread(here.publish_many, [(1, "one", None, 1), (1, "two", None, 2)])
    await until(lambda: len(theirs.frames) == 2)
    await asyncio.sleep(0.2)
    assert theirs.frames == [("one", 1), ("two", 2)]
    assert mine.frames == [("one", 1), ("two", 2)]  # from this process directly, not again through Redis


async def test_a_newcomer_of_another_process_gets_one_presence_snapshot(redis_buses):
    here, there = redis_buses
    present, other, newcomer = Connection("present"), Connection("other"), Connection("new")
    await there.join(1, present)
    await there.join(1, other)
    await here.join(1, newcomer)
    await asyncio.sleep(0.2)
    await here.apublish(1, '{"type":"presence","event":"joined"}', origin="new", version=PRESENCE_JOIN)
    await until(lambda: newcomer.frames)
    await asyncio.sleep(bus.SNAPSHOT_DELAY + 0.2)
    assert len(newcomer.frames) == 1
    text, version = newcomer.frames[0]
    assert version == 0 and '"event":"snapshot"' in text and '"present"' in text and '"other"' in text
    assert [t for t, _ in present.frames] == ['{"type":"presence","event":"joined"}']
