"""Presence of a sheet: who is here, what each has selected or is editing. Never stored.

A join, a move or a leave costs O(1): it is noted in its room's batch (one per sheet per server
process), and every WS_PRESENCE_INTERVAL the batch goes out as ONE message through the bus, which
every process turns into one `presence` `batch` frame encoded once and written to each of its
connections. A room of more than WS_PRESENCE_FULL_ROOM people is summarised: its batches list at
most WS_PRESENCE_LISTED people (those editing first, then those with a selection; the others are
only counted), and joins without a selection and the count alone go out at most every
WS_PRESENCE_COUNT_INTERVAL, an interval that doubles while they keep coming (up to
WS_PRESENCE_COUNT_INTERVAL_MAX): a join storm of any length costs each viewer a handful of frames.
Only a newcomer gets a snapshot (in its welcome, and one from each other process).

Clients of presence protocol 1 (no `?protocol=2` on the connect URL) get the same batches as the
old per-event frames (joined, update, left), one per listed person. docs/realtime.md is the contract.
"""

import asyncio
import itertools
import json
import logging
import time
import urllib.parse

from django.conf import settings

from core.errors import GridcastError
from core.frames import encode

from .broadcast import participant, presence_frame
from .bus import PRESENCE_BATCH, Rooms, get_bus

log = logging.getLogger(__name__)

PROTOCOL = 2  # the presence protocol of this server; 1 is still served (per-event frames)
PROTOCOLS = (1, 2)


class ProtocolUnsupported(GridcastError):
    code = "protocol_unsupported"


def protocol_of(scope: dict) -> int:
    """The presence protocol a client asks for in its connect URL (`?protocol=2`); none: 1."""
    query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    values = query.get("protocol")
    if not values:
        return 1
    raw = values[-1]
    if raw.isdigit() and len(raw) < 4 and int(raw) in PROTOCOLS:
        return int(raw)
    raise ProtocolUnsupported(
        f"protocol {raw[:20]!r} is not spoken here: this server speaks protocol 1 and 2 (the current); "
        "reload the page or update the client"
    )


def _limits():
    conf = settings.GRIDCAST
    return (
        conf["WS_PRESENCE_INTERVAL"],
        conf["WS_PRESENCE_FULL_ROOM"],
        conf["WS_PRESENCE_LISTED"],
        conf["WS_PRESENCE_COUNT_INTERVAL"],
    )


class Presence:
    """One connection's presence: who it is and its {selection, editing}."""

    def __init__(self, sheet_id: int, user, connection_id: str, protocol: int = PROTOCOL) -> None:
        self.sheet_id, self.connection_id, self.protocol = sheet_id, connection_id, protocol
        self.who = participant(user, connection_id)
        self.state = {"selection": None, "editing": False}
        self.room: RoomPresence | None = None

    def person(self) -> dict:
        return {**self.who, **self.state}

    async def joined(self) -> None:
        """Counted in the room's next batch; other processes answer with a snapshot (realtime.bus)."""
        self.room = room_of(self.sheet_id)
        self.room.join(self)

    async def left(self) -> None:
        self.stop()

    def update(self, state: dict) -> None:
        """The client's new {selection, editing}: goes out with the room's next batch (the latest
        state wins, so a connection's updates go out at most every WS_PRESENCE_INTERVAL)."""
        self.state = state
        if self.room is not None:
            self.room.update(self)

    def stop(self) -> None:
        if self.room is not None:
            self.room.leave(self)
            self.room = None

    def welcome(self) -> dict:
        """What the welcome says of presence: a snapshot of this process's room (capped), and
        for protocol 2 the count of people per server process."""
        room = self.room or room_of(self.sheet_id)
        fields = {"presence": room.snapshot(exclude=self.connection_id)}
        if self.protocol >= 2:
            fields.update(protocol=PROTOCOL, counts=room.counts())
        return fields


class RoomPresence:
    """The presence of one sheet in this process: its people and what changed since the last batch."""

    def __init__(self, sheet_id: int) -> None:
        self.sheet_id = sheet_id
        self.members: dict[str, Presence] = {}
        self.active: dict[str, Presence] = {}  # with a selection
        self.editing: dict[str, Presence] = {}
        self.shown: set[str] = set()  # listed to the room: their leaving is told
        self.joined: dict[str, Presence] = {}
        self.updated: dict[str, Presence] = {}
        self.left: dict[str, dict] = {}  # connection -> person
        self.newcomers: list[str] = []
        self.sent_count = 0
        self.count_sent_at = 0.0
        self.count_every = 0.0  # the interval of count-only batches now (see flush)
        self.timer: asyncio.TimerHandle | None = None
        self.loop = asyncio.get_running_loop()
        self.remote: dict[str, int] = {}  # other server processes' counts, from their batches

    # changes ----------------------------------------------------------------------------------

    def join(self, presence: Presence) -> None:
        cid = presence.connection_id
        self.members[cid] = presence
        self.joined[cid] = presence
        self.newcomers.append(cid)
        self._schedule()

    def update(self, presence: Presence) -> None:
        cid = presence.connection_id
        if cid not in self.members:
            return
        self._index(presence)
        if cid not in self.joined:
            self.updated[cid] = presence
        self._schedule()

    def leave(self, presence: Presence) -> None:
        cid = presence.connection_id
        if self.members.pop(cid, None) is None:
            return
        for pending in (self.active, self.editing, self.joined, self.updated):
            pending.pop(cid, None)
        if cid in self.shown:
            self.shown.discard(cid)
            self.left[cid] = presence.person()
        self._schedule()

    def _index(self, presence: Presence) -> None:
        """Who has a selection, who is editing: a snapshot of a large room takes them first."""
        cid, state = presence.connection_id, presence.state
        for index, member in ((self.active, state["selection"] is not None), (self.editing, state["editing"])):
            if member:
                index[cid] = presence
            else:
                index.pop(cid, None)

    # reads ------------------------------------------------------------------------------------

    def snapshot(self, exclude: str | None = None) -> list[dict]:
        """Everyone in a room up to WS_PRESENCE_FULL_ROOM; above, the WS_PRESENCE_LISTED most
        relevant (editing, then with a selection, then the others): O(listed), not O(room)."""
        _, full, listed, _ = _limits()
        if len(self.members) <= full:
            return [p.person() for cid, p in self.members.items() if cid != exclude]
        seen, people = set(), []
        for cid, presence in itertools.chain(self.editing.items(), self.active.items(), self.members.items()):
            if cid == exclude or cid in seen:
                continue
            seen.add(cid)
            people.append(presence.person())
            self.shown.add(cid)  # the newcomer knows of them: it must hear when they leave
            if len(people) >= listed:
                break
        return people

    def counts(self) -> dict[str, int]:
        return {**self.remote, get_bus().id: len(self.members)}

    # the batch --------------------------------------------------------------------------------

    def _schedule(self, delay: float | None = None) -> None:
        if self.timer is None:
            interval = _limits()[0]
            self.timer = asyncio.get_running_loop().call_later(interval if delay is None else delay, self.flush)

    def flush(self) -> None:
        """Send what changed since the last batch (see the module's docstring). Moves, leaves and
        people who joined with a selection go out at once; a join without one and the count are
        lazy: they go out with the next batch, or on their own at most every count_every seconds,
        an interval that doubles while they keep coming (a join storm), so each viewer gets
        O(log) frames of a storm however long it lasts."""
        self.timer = None
        _, full, limit, count_interval = _limits()
        count_max = max(count_interval, settings.GRIDCAST["WS_PRESENCE_COUNT_INTERVAL_MAX"])
        self.count_every = self.count_every or count_interval
        small = len(self.members) <= full
        # A large room lists no one who joined without a selection: they are counted.
        joiners = [p for p in self.joined.values() if small or p.state["selection"] is not None]
        urgent = any(p.state["selection"] is not None for p in joiners) or self.updated or self.left
        count = len(self.members)
        now = time.monotonic()
        since = now - self.count_sent_at
        lazy = bool(joiners) or count != self.sent_count
        newcomers, self.newcomers = self.newcomers, []
        if not urgent and lazy and since < self.count_every:  # held: lazy changes wait their turn
            self.joined = {p.connection_id: p for p in joiners}
            self.timer = asyncio.get_running_loop().call_later(self.count_every - since, self.flush)
            if newcomers:  # the other processes answer them now, and hear the count
                body = {"server": get_bus().id, "count": count, "joined": [], "updated": [], "left": [], "quiet": True}
                _publish(self.sheet_id, encode(body), newcomers)
            return
        if not urgent and lazy:  # the count alone: while it keeps changing, less and less often
            storm = since < 2 * self.count_every
            self.count_every = min(2 * self.count_every, count_max) if storm else count_interval
        candidates = joiners + list(self.updated.values())
        later = []
        if not small:  # summarised: the most relevant first, the rest wait for the next batches
            candidates.sort(key=lambda p: (not p.state["editing"], p.state["selection"] is None))
            candidates, later = candidates[:limit], candidates[limit:]
        joined = [p for p in candidates if p.connection_id in self.joined]
        updated = [p for p in candidates if p.connection_id not in self.joined]
        self.joined, self.updated = {}, {p.connection_id: p for p in later}
        self.shown.update(p.connection_id for p in candidates)
        left, self.left = list(self.left.values()), {}
        if urgent or lazy:
            self.sent_count, self.count_sent_at = count, now
            body = {
                "server": get_bus().id,
                "count": count,
                "joined": [p.person() for p in joined],
                "updated": [p.person() for p in updated],
                "left": left,
            }
            _publish(self.sheet_id, encode(body), newcomers)
        elif newcomers:
            body = {"server": get_bus().id, "count": count, "joined": [], "updated": [], "left": [], "quiet": True}
            _publish(self.sheet_id, encode(body), newcomers)
        if self.updated and self.timer is None:
            self._schedule()
        if not self.members and self.timer is None:
            _rooms.pop(self.sheet_id, None)


def _publish(sheet_id: int, body: str, newcomers: list[str]) -> None:
    """One message per batch through the bus: every process (this one too) delivers it with
    deliver_batch; `newcomers` (the origin) are answered with a snapshot by the other processes."""
    bus = get_bus()
    coroutine = bus.apublish(sheet_id, body, origin=",".join(newcomers) or None, version=PRESENCE_BATCH)
    task = asyncio.ensure_future(coroutine)
    task.add_done_callback(_published)


def _published(task: asyncio.Future) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("presence batch not sent: %s", task.exception())


_rooms: dict[int, RoomPresence] = {}


def room_of(sheet_id: int) -> RoomPresence:
    room = _rooms.get(sheet_id)
    if room is None or room.loop is not asyncio.get_running_loop():  # (a loop of a test that ended)
        room = _rooms[sheet_id] = RoomPresence(sheet_id)
    return room


# what the bus calls (realtime.bus.on_presence) ----------------------------------------------------


def deliver_batch(rooms: Rooms, sheet_id: int, text: str) -> None:
    """A batch of any process (this one's too) to this process's connections of the sheet: one
    `batch` frame encoded once for protocol 2, the per-event frames of protocol 1."""
    body = json.loads(text)
    server, count = body.get("server"), body.get("count")
    if server is not None and server != get_bus().id and sheet_id in _rooms:
        remote = _rooms[sheet_id].remote
        if count:
            remote[server] = count
        else:
            remote.pop(server, None)
    room = rooms.members.get(sheet_id)
    if body.get("quiet") or not room:
        return
    frame = {
        "type": "presence",
        "event": "batch",
        "joined": body["joined"],
        "updated": body["updated"],
        "left": [person["connection"] for person in body["left"]],
    }
    if server is not None:
        frame.update(server=server, count=count)
    batch = encode(frame)
    old = None
    for connection in tuple(room.values()):
        try:
            if getattr(connection, "presence_protocol", PROTOCOL) >= 2:
                connection.push(batch, 0)
                continue
            if old is None:
                old = _per_event(body)
            cid = connection.connection_id
            connection.push_many([(text, 0) for origin, text in old if origin != cid])
        except Exception:  # one connection's fault must not cost the others their frame
            log.exception("presence for connection %s not delivered", connection.connection_id)


def _per_event(body: dict) -> list[tuple[str, str]]:
    """The batch as protocol 1's frames: (whose, text), encoded once each."""
    frames = []
    for event, people in (("joined", body["joined"]), ("update", body["updated"]), ("left", body["left"])):
        for person in people:
            frames.append((person["connection"], encode({"type": "presence", "event": event, "who": person})))
    return frames


def snapshot_of(sheet_id: int) -> dict | None:
    """This process's answer to the newcomers of another: its people (capped) and its count."""
    room = _rooms.get(sheet_id)
    if room is None or not room.members:
        return None
    return {
        "type": "presence",
        "event": "snapshot",
        "members": room.snapshot(),
        "server": get_bus().id,
        "count": len(room.members),
    }


__all__ = ["PROTOCOL", "Presence", "ProtocolUnsupported", "deliver_batch", "presence_frame", "protocol_of"]
