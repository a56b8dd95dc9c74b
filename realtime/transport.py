"""The way frames get to one client of a sheet socket: the outbox, the write loop behind a write the
server held back, the versions the client was sent (where a resync starts), and the 4008 close of a
client too slow to read. Knows nothing of what the frames mean but the versions they bring."""

import asyncio
import collections
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from django.conf import settings

from core import metrics
from core.frames import encode

from .bus import send_eagerly, server_protocol, write_texts

CLOSE_TOO_SLOW = 4008


class Outbox:
    """Frames for one client. `base_send` is the connection's ASGI send; `close(code)` closes it."""

    def __init__(self, base_send: Callable[[dict], Awaitable[None]], close: Callable[[int], Awaitable[None]]) -> None:
        self.base_send, self.close = base_send, close
        self.frames: collections.deque = collections.deque()  # (text, version)
        self.ready = False  # frames wait here until the welcome is out
        self.shut = False  # closed for being slow or flooding, or revoked: nothing more is sent
        self.writer: asyncio.Future | None = None
        self.flush_due = False
        self.protocol = server_protocol(base_send)  # uvicorn's: several frames in one write
        self.sent_version = 0
        self.sent_ahead: set[int] = set()  # versions sent above sent_version + 1

    def open(self, version: int) -> None:
        """The welcome (at `version`) is out: what gathered meanwhile goes now, the rest as it comes."""
        self.sent_version = version
        self.ready = True
        if self.frames:
            self.flush_due = True
            self._flush()

    async def send_now(self, frame: dict) -> None:
        """Write `frame` at once, ahead of the outbox (the welcome; the last word before a close)."""
        await self.base_send({"type": "websocket.send", "text": encode(frame)})

    def stop(self) -> None:
        """Nothing more is sent: frames waiting are dropped (access revoked, a flooding client)."""
        self.shut, self.ready = True, False
        self.frames.clear()

    def end(self) -> None:
        """The connection is gone."""
        self.ready = False
        if self.writer:
            self.writer.cancel()

    def send_frame(self, frame: dict) -> None:
        """Queue a frame of this connection (an ack, an error, a replay...)."""
        kind = frame.get("type")
        if kind in ("replay", "reload"):
            self._sent_all(frame["version"])
        self.push(encode(frame), frame["version"] if kind == "ack" else 0)

    def push(self, text: str, version: int = 0) -> None:
        """Send an encoded frame; `version`: of the operation it brings (ops, ack), else 0. Called
        by the bus for every frame of the room.

        Frames wait in the outbox until the end of this turn of the event loop, then all that
        gathered go out together: with the uvicorn protocol in one write to the socket (a batch
        of edits is one write per connection, not one per frame; the system call was most of
        the cost of a frame), else written one by one in the caller (no task switch per frame
        and connection). Behind a write the server holds back (a slow client: its buffer is
        full), frames queue; a client with more than WS_MAX_BACKLOG frames queued there is
        closed, and it reconnects and replays."""
        if self.shut:  # closed for it: nothing more until it reconnects and replays
            return
        if self.writer is not None and len(self.frames) >= settings.GRIDCAST["WS_MAX_BACKLOG"]:
            self.frames.clear()
            self.shut, self.ready = True, False
            asyncio.ensure_future(self.close(CLOSE_TOO_SLOW))
            return
        self.frames.append((text, version))
        if not self.flush_due and self.writer is None and self.ready:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self._flush)

    def push_many(self, items: Iterable[tuple[str, int]]) -> None:
        """push() for each (text, version)."""
        for text, version in items:
            self.push(text, version)

    def _flush(self) -> None:
        """Write what gathered in the outbox (see push)."""
        self.flush_due = False
        if self.writer is not None or not self.ready or not self.frames:
            return
        if self.protocol is not None:
            written = write_texts(self.protocol, [text for text, _ in self.frames])
            if written is not None:
                if written:
                    for _, version in self.frames:
                        self._sent(version)
                self.frames.clear()
                return
            # held back by the server: the write loop waits for it
            self.writer = asyncio.ensure_future(self._write_loop())
            return
        while self.frames:
            text, version = self.frames.popleft()
            try:
                held = send_eagerly(self.base_send({"type": "websocket.send", "text": text}))
            except Exception:  # the client is gone; its disconnect is on the way
                self.frames.clear()
                return
            if held is not None:
                self.writer = asyncio.ensure_future(self._write_loop(held, version))
                return
            self._sent(version)

    def _sent(self, version: int) -> None:
        """`version`: of the operation the frame brings (ops, ack), else 0. sent_version is the
        version up to which this client was sent every operation: frames of this process's
        writes come straight from the event loop, those of other processes through Redis, so
        they may arrive out of order, and after losing Redis the replay starts there."""
        metrics.delivered.inc()
        if version <= self.sent_version:
            return
        if version == self.sent_version + 1:
            version += 1
            ahead = self.sent_ahead
            while version in ahead:
                ahead.discard(version)
                version += 1
            self.sent_version = version - 1
        elif len(self.sent_ahead) < 10_000:
            self.sent_ahead.add(version)

    def _sent_all(self, version: int) -> None:
        """Every operation up to `version` was sent (a replay, a reload)."""
        if version > self.sent_version:
            self.sent_version = version
            self.sent_ahead = {v for v in self.sent_ahead if v > version}

    async def _write_loop(self, held: Any = None, version: int = 0) -> None:
        """Finish the write the server held back, then the frames queued behind it."""
        try:
            if held is not None:
                await held
                self._sent(version)
            while self.frames:
                text, version = self.frames.popleft()
                await self.base_send({"type": "websocket.send", "text": text})
                self._sent(version)
        except Exception:  # the client is gone
            self.frames.clear()
        finally:
            self.writer = None
