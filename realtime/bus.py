"""Fan-out of sheet events: encoded once, one message per server process, written straight
to the process's own connections in the room.

Stock Channels sends one channel-layer message per connection and runs a consumer dispatch
for each; here a service publishes one message per sheet event (Redis pub/sub when
REDIS_URL is set, an in-process hand-off otherwise) and each process's single subscriber
task writes the already-encoded frame to every local connection of that sheet.
"""

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

from django.conf import settings

from core.frames import encode
from core.redis import async_client, is_cluster, sync_client

log = logging.getLogger(__name__)

# The version sent with a presence "joined" frame: every other process answers it with one
# snapshot of its own connections in the room, so the newcomer learns who is there (its welcome
# lists those of its own process).
PRESENCE_JOIN = -1
# The version of such a snapshot, whose origin field names the newcomers it is for: only they
# get it. Sent to the whole room, a join storm of N connections cost O(N²) large frames.
PRESENCE_SNAPSHOT = -2
SNAPSHOT_DELAY = 0.2
# The version of a room's presence batch (realtime.presence): not a frame but what changed, which
# each process turns into frames for its own connections (on_presence); its origin field names the
# newcomers of the batch, whom every other process answers with a snapshot.
PRESENCE_BATCH = -3

# realtime.presence's: (deliver_batch(rooms, sheet id, text), snapshot_of(sheet id) -> frame | None)
_presence_hooks = (None, None)


def on_presence(deliver_batch: Callable, snapshot_of: Callable) -> None:
    """Presence subscribes here to the batches the bus carries (realtime.apps connects it)."""
    global _presence_hooks
    _presence_hooks = (deliver_batch, snapshot_of)


def _encode(origin, version, text):
    return f"{origin or ''}\n{version or 0}\n{text}"


def _decode(data):
    origin, version, text = data.split("\n", 2)
    return origin or None, int(version), text


# Several frames in one message (a batch of edits): "*" then origin, version and text of each, a
# line each. Encoded JSON has no raw newline; a text with one goes in a message of its own.
def _encode_many(items):
    return "*\n" + "\n".join(f"{origin or ''}\n{version or 0}\n{text}" for origin, version, text in items)


def _decode_many(data):
    parts = data[2:].split("\n")
    return [(parts[i] or None, int(parts[i + 1]), parts[i + 2]) for i in range(0, len(parts), 3)]


def _by_sheet(items):
    """(sheet id, text, origin, version) items -> {sheet id: [(origin, version, text)]}, in order."""
    grouped = {}
    for sheet_id, text, origin, version in items:
        grouped.setdefault(sheet_id, []).append((origin, version, text))
    return grouped


class Rooms:
    """The connections of this process, by sheet. Touched only from the event loop."""

    def __init__(self):
        self.members = {}

    def join(self, sheet_id: int, connection: Any) -> bool:
        room = self.members.setdefault(sheet_id, {})
        room[connection.connection_id] = connection
        return len(room) == 1

    def leave(self, sheet_id: int, connection: Any) -> bool:
        room = self.members.get(sheet_id)
        if room is None:
            return False
        room.pop(connection.connection_id, None)
        if not room:
            del self.members[sheet_id]
            return True
        return False

    def deliver(self, sheet_id: int, origin: str | None, version: int, text: str) -> None:
        """`version` is the sheet version the frame brings (0 for frames that bring none)."""
        room = self.members.get(sheet_id)
        if not room:
            return
        if version == PRESENCE_BATCH:
            if _presence_hooks[0] is not None:
                _presence_hooks[0](self, sheet_id, text)
            return
        if version == PRESENCE_SNAPSHOT:
            room = {cid: room[cid] for cid in (origin or "").split(",") if cid in room}
            origin = None
        version = max(version, 0)
        for connection in tuple(room.values()):
            if connection.connection_id != origin:
                try:
                    connection.push(text, version)
                except Exception:  # one connection's fault must not cost the others their frame
                    log.exception("frame for connection %s not delivered", connection.connection_id)

    def deliver_many(self, sheet_id: int, items: list[tuple[str | None, int, str]]) -> None:
        """deliver() for each (origin, version, text), in order; each connection gets its frames
        in one push_many."""
        room = self.members.get(sheet_id)
        if not room:
            return
        if any(version < 0 for _, version, _ in items):  # presence frames, one by one
            for origin, version, text in items:
                self.deliver(sheet_id, origin, version, text)
            return
        for connection in tuple(room.values()):
            cid = connection.connection_id
            frames = [(text, version) for origin, version, text in items if origin != cid]
            if frames:
                try:
                    connection.push_many(frames)
                except Exception:
                    log.exception("frames for connection %s not delivered", cid)

    def presence(self, sheet_id: int, exclude: str | None = None) -> list[dict]:
        """Who is in the room: the connections that show themselves (a public link's viewers,
        whose who() is None, are not listed)."""
        return [
            {**who, **c.presence_state}
            for cid, c in self.members.get(sheet_id, {}).items()
            if cid != exclude and (who := c.who()) is not None
        ]

    def all_connections(self) -> Iterator[Any]:
        for room in list(self.members.values()):
            yield from list(room.values())


def send_eagerly(coroutine: Coroutine) -> Awaitable | None:
    """Run `coroutine` here, up to its first suspension (Python 3.12's eager tasks, for 3.11).
    None when it finished there, as a WebSocket write does unless the server holds it back;
    else an awaitable that finishes it. Exceptions raised before suspending are raised here.
    A frame written this way costs no task and no turn of the event loop per connection."""
    try:
        suspended_on = coroutine.send(None)
    except StopIteration:
        return None
    return _Suspended(coroutine, suspended_on)


def server_protocol(send: Callable) -> Any:
    """The uvicorn WebSocket protocol (websockets-sansio, its default) behind an ASGI `send`, for
    write_texts; None under other servers, which get one ASGI message per frame."""
    owner = getattr(send, "__self__", None)
    while owner is not None and hasattr(owner, "real_send"):  # Channels' session middleware wraps send
        owner = getattr(owner.real_send, "__self__", None)
    try:
        from uvicorn.protocols.websockets.websockets_sansio_impl import (
            WebSocketsSansIOProtocol,
        )
    except ImportError:
        return None
    if type(owner) is not WebSocketsSansIOProtocol or not all(
        hasattr(owner, name) for name in ("conn", "transport", "writable", "disconnected", "close_sent")
    ):
        return None
    return owner


def write_texts(protocol: Any, texts: list[str]) -> bool | None:
    """Write text frames to a uvicorn connection in one write to the socket: what its ASGI send
    does for one frame, for several. True when written, False when the connection is closed or
    closing (the frames are dropped, as the ASGI send would), None when the server holds writes
    back (its buffer is full): then send through ASGI, which waits."""
    if protocol.disconnected or protocol.close_sent:
        return False
    if not protocol.writable.is_set():
        return None
    conn = protocol.conn
    if conn.extensions or conn.expect_continuation_frame:  # permessage-deflate: websockets frames each
        try:
            for text in texts:
                conn.send_text(text.encode())
        except Exception:  # websockets' InvalidState: closing
            conn.data_to_send()
            return False
        protocol.transport.write(b"".join(conn.data_to_send()))
        return True
    if conn.state != 1:  # websockets' State.OPEN
        return False
    protocol.transport.write(b"".join(_text_frame(text.encode()) for text in texts))
    return True


def _text_frame(data):
    """A final, unmasked text frame (server to client) without extensions: what websockets'
    Frame.serialize makes, at a fraction of its cost."""
    size = len(data)
    if size < 126:
        return bytes((0x81, size)) + data
    if size < 65536:
        return b"\x81\x7e" + size.to_bytes(2, "big") + data
    return b"\x81\x7f" + size.to_bytes(8, "big") + data


class _Suspended:
    """The rest of a coroutine that send_eagerly started, for a task to await."""

    def __init__(self, coroutine, suspended_on):
        self.coroutine, self.suspended_on = coroutine, suspended_on

    def __await__(self):
        coroutine, waiting = self.coroutine, self.suspended_on
        while True:
            try:
                yield waiting  # the task waits on the future the coroutine was waiting on
            except BaseException as error:  # cancelled meanwhile: the coroutine decides
                step = coroutine.throw
                argument = error
            else:
                step = coroutine.send
                argument = None
            try:
                waiting = step(argument)
            except StopIteration as stop:
                return stop.value


class LocalBus:
    """One process (embedded mode): services hand events to the event loop directly."""

    def __init__(self):
        self.id = uuid.uuid4().hex[:12]  # names this process in presence counts
        self.rooms = Rooms()
        self.loop = None

    async def join(self, sheet_id: int, connection: Any) -> None:
        self.loop = asyncio.get_running_loop()
        self.rooms.join(sheet_id, connection)

    async def leave(self, sheet_id: int, connection: Any) -> None:
        self.rooms.leave(sheet_id, connection)

    def publish(self, sheet_id: int, text: str, origin: str | None = None, version: int = 0) -> None:
        """Called from any thread, usually a service's on_commit."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self.rooms.deliver(sheet_id, origin, version, text)
        else:
            loop.call_soon_threadsafe(self.rooms.deliver, sheet_id, origin, version, text)

    async def apublish(self, sheet_id: int, text: str, origin: str | None = None, version: int = 0) -> None:
        self.rooms.deliver(sheet_id, origin, version, text)

    def publish_many(self, items: list[tuple[int, str, str | None, int]]) -> None:
        """items: (sheet id, text, origin, version), in order."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for sheet_id, frames in _by_sheet(items).items():
            if running is loop:
                self.rooms.deliver_many(sheet_id, frames)
            else:
                loop.call_soon_threadsafe(self.rooms.deliver_many, sheet_id, frames)


class RedisBus:
    """Several processes: Redis pub/sub, one channel per sheet, subscribed while a local
    connection is in the room. After Redis comes back, every local connection replays.

    On a Redis Cluster (REDIS_URL redis+cluster://...) the channels are shard channels (SPUBLISH,
    SSUBSCRIBE): each sheet's lives on the master that owns its slot, so sheets spread over the
    masters by id, and a process subscribes on each master it needs (realtime.shards). When a
    master fails and its replica takes over, its sheets' subscriptions move and their local
    connections replay, as after a restart of a single Redis."""

    def __init__(self, url, namespace):
        self.url = url
        self.cluster = is_cluster(url)
        self._shards = None  # realtime.shards.ShardedSubscriber, on a cluster
        # Pub/sub channels are global to a Redis server (not per database number), so they are
        # named after the Gridcast database: installations sharing a Redis never hear each other.
        self.prefix = f"gridcast:{namespace}:sheet:"
        self.id = uuid.uuid4().hex[:12]  # marks what this bus publishes, which its listener skips
        self.rooms = Rooms()
        self._sync_client = None
        self._sync_lock = threading.Lock()
        self._async_client = None
        self._pubsub = None
        self._listener = None
        self._loop = None
        self._newcomers = {}  # sheet id -> connections of other processes that joined since the last snapshot

    def _channel(self, sheet_id):
        return f"{self.prefix}{sheet_id}"

    # publishing ------------------------------------------------------------------------------

    def _sync(self):
        if self._sync_client is None:
            with self._sync_lock:
                if self._sync_client is None:
                    self._sync_client = sync_client(
                        self.url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30
                    )
        return self._sync_client

    def publish(self, sheet_id: int, text: str, origin: str | None = None, version: int = 0) -> None:
        self.publish_many([(sheet_id, text, origin, version)])

    def publish_many(self, items: list[tuple[int, str, str | None, int]]) -> None:
        """items: (sheet id, text, origin, version), in order. Called from any thread, usually a
        service's on_commit. This process's connections get the frames at once, from the event
        loop; the other processes through Redis, one message per sheet, marked with this bus's
        id so that its own listener passes it over."""
        grouped = _by_sheet(items)
        self._deliver_here(grouped)
        mark = f"@{self.id}\n"
        messages = []
        for sheet_id, frames in grouped.items():
            if len(frames) > 1 and not any("\n" in text for _, _, text in frames):
                messages.append((self._channel(sheet_id), mark + _encode_many(frames)))
            else:
                messages.extend((self._channel(sheet_id), mark + _encode(*frame)) for frame in frames)
        client = self._sync()
        if len(messages) == 1:
            (client.spublish if self.cluster else client.publish)(*messages[0])
            return
        pipe = client.pipeline() if self.cluster else client.pipeline(transaction=False)
        for channel, data in messages:  # a cluster's pipeline sends each master its own
            (pipe.spublish if self.cluster else pipe.publish)(channel, data)
        pipe.execute()

    def _deliver_here(self, grouped):
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for sheet_id, frames in grouped.items():
            if sheet_id not in self.rooms.members:
                continue
            if running is loop:
                self.rooms.deliver_many(sheet_id, frames)
            else:
                loop.call_soon_threadsafe(self.rooms.deliver_many, sheet_id, frames)

    async def apublish(self, sheet_id: int, text: str, origin: str | None = None, version: int = 0) -> None:
        client = self._client()
        publish = client.spublish if self.cluster else client.publish
        await publish(self._channel(sheet_id), _encode(origin, version, text))

    # subscribing -----------------------------------------------------------------------------

    def _client(self):
        import redis.asyncio as aioredis

        loop = asyncio.get_running_loop()
        if self._async_client is None or self._loop is not loop:
            self._loop = loop
            if self.cluster:
                from .shards import ShardedSubscriber

                self._async_client = async_client(self.url, socket_timeout=5, socket_connect_timeout=2)
                self._shards = ShardedSubscriber(self._async_client, self._received, self._replay)
                return self._async_client
            # A blocking pool: a thousand connections leaving at once wait their turn for a Redis
            # connection instead of failing with "Too many connections" (and leaving ghosts).
            pool = aioredis.BlockingConnectionPool.from_url(
                self.url, max_connections=50, timeout=10, socket_connect_timeout=2, health_check_interval=30
            )
            self._async_client = aioredis.Redis(connection_pool=pool)
            self._pubsub = None
            self._listener = None
        return self._async_client

    async def join(self, sheet_id: int, connection: Any) -> None:
        first = self.rooms.join(sheet_id, connection)
        if self.cluster:
            self._client()
            if first:
                await self._shards.subscribe(self._channel(sheet_id))  # retried by itself on failure
            return
        self._ensure_listener()
        if first:
            try:
                await self._pubsub.subscribe(self._channel(sheet_id))
            except Exception:  # the listener resubscribes every room when Redis is back
                log.warning("subscribe to sheet %s failed; will retry", sheet_id)

    async def leave(self, sheet_id: int, connection: Any) -> None:
        if not self.rooms.leave(sheet_id, connection):
            return
        if self._shards is not None:
            await self._shards.unsubscribe(self._channel(sheet_id))
        elif self._pubsub is not None:
            try:
                await self._pubsub.unsubscribe(self._channel(sheet_id))
            except Exception:
                pass

    def _ensure_listener(self):
        client = self._client()
        if self._pubsub is None:
            self._pubsub = client.pubsub(ignore_subscribe_messages=True)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def _listen(self):
        failed = False
        while True:
            try:
                if failed:
                    await self._resubscribe()
                    failed = False
                    self._replay()
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)
                    continue
                message = await self._pubsub.get_message(timeout=1.0)
                if message is None or message.get("type") != "message":
                    continue
                self._received(message["channel"].decode(), message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                if not failed:
                    log.warning("lost the Redis subscription; reconnecting", exc_info=True)
                failed = True
                await asyncio.sleep(0.5)

    def _received(self, channel: str, data: bytes) -> None:
        """A message of a sheet's channel, from another process (or from ours, skipped)."""
        sheet_id = int(channel[len(self.prefix) :])
        data = data.decode()
        if data.startswith("@"):  # published by a bus: delivered here by it, if it is ours
            sender, data = data[1:].split("\n", 1)
            if sender == self.id:
                return
        if data.startswith("*\n"):
            self.rooms.deliver_many(sheet_id, _decode_many(data))
            return
        origin, version, text = _decode(data)
        self.rooms.deliver(sheet_id, origin, version, text)
        if version in (PRESENCE_JOIN, PRESENCE_BATCH) and origin:
            here = self.rooms.members.get(sheet_id, ())
            for newcomer in origin.split(","):
                if newcomer not in here:
                    self._snapshot_soon(sheet_id, newcomer)

    def _replay(self, channels: set[str] | None = None) -> None:
        """Messages were lost (Redis went away: `channels` None; a master failed over: the sheet
        channels it served): the local connections of those sheets replay what they missed."""
        if channels is None:
            connections = list(self.rooms.all_connections())
        else:
            sheets = {int(channel[len(self.prefix) :]) for channel in channels if channel.startswith(self.prefix)}
            connections = [c for sheet_id in sheets for c in self.rooms.members.get(sheet_id, {}).values()]
        for connection in connections:
            connection.resync()

    def _snapshot_soon(self, sheet_id, newcomer):
        """Answer newcomers of another process with one presence snapshot of this process's
        connections, for all who joined within SNAPSHOT_DELAY."""
        due = sheet_id in self._newcomers
        self._newcomers.setdefault(sheet_id, set()).add(newcomer)
        if not due:
            asyncio.get_running_loop().call_later(
                SNAPSHOT_DELAY, lambda: asyncio.ensure_future(self._snapshot(sheet_id))
            )

    async def _snapshot(self, sheet_id):
        newcomers = self._newcomers.pop(sheet_id, ())
        snapshot = _presence_hooks[1](sheet_id) if _presence_hooks[1] is not None else None
        if snapshot is None:  # connections presence does not track (the bus's own tests)
            members = self.rooms.presence(sheet_id)
            snapshot = {"type": "presence", "event": "snapshot", "members": members} if members else None
        if snapshot and newcomers:
            frame = encode(snapshot)
            try:
                await self.apublish(sheet_id, frame, origin=",".join(sorted(newcomers)), version=PRESENCE_SNAPSHOT)
            except Exception:
                log.warning("presence snapshot of sheet %s not sent", sheet_id)

    async def _resubscribe(self):
        try:
            await self._pubsub.aclose()
        except Exception:
            pass
        self._pubsub = self._client().pubsub(ignore_subscribe_messages=True)
        channels = [self._channel(sheet_id) for sheet_id in self.rooms.members]
        if channels:
            await self._pubsub.subscribe(*channels)


_bus = None


def get_bus() -> "LocalBus | RedisBus":
    global _bus
    if _bus is None:
        url = getattr(settings, "REDIS_URL", "")
        if url:
            from django.db import connection

            # The installation's name (GRIDCAST_INSTALLATION, by default the database's), as the
            # channel layer's and the cache's keys carry it.
            _bus = RedisBus(url, getattr(settings, "INSTALLATION_NAME", None) or connection.settings_dict["NAME"])
        else:
            _bus = LocalBus()
    return _bus
