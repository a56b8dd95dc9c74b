"""Presence of one sheet connection: who it is, what it has selected or is editing, announced to the
room when it joins, moves (throttled: at most every WS_PRESENCE_INTERVAL, the latest state always
goes out) and leaves. Never stored."""

import asyncio
import time

from django.conf import settings

from core.frames import encode

from .broadcast import participant, presence_frame
from .bus import PRESENCE_JOIN, get_bus


class Presence:
    def __init__(self, sheet_id: int, user, connection_id: str) -> None:
        self.sheet_id, self.connection_id = sheet_id, connection_id
        self.who = participant(user, connection_id)
        self.state = {"selection": None, "editing": False}
        self.sent_at = 0.0
        self.timer: asyncio.TimerHandle | None = None

    def frame(self, event: str) -> dict:
        return presence_frame(event, self.who, self.state)

    async def joined(self) -> None:
        """Tell the room; other server processes answer with a snapshot of theirs (realtime.bus)."""
        await get_bus().apublish(self.sheet_id, encode(self.frame("joined")), self.connection_id, PRESENCE_JOIN)

    async def left(self) -> None:
        self.stop()
        await get_bus().apublish(self.sheet_id, encode(self.frame("left")), self.connection_id)

    def update(self, state: dict) -> None:
        """The client's new {selection, editing}: announced now, or when the interval ends."""
        self.state = state
        wait = settings.GRIDCAST["WS_PRESENCE_INTERVAL"] - (time.monotonic() - self.sent_at)
        if wait <= 0:
            self._announce()
        elif self.timer is None:  # throttled: the latest state goes out when the interval ends
            self.timer = asyncio.get_running_loop().call_later(wait, self._announce)

    def stop(self) -> None:
        if self.timer:
            self.timer.cancel()
            self.timer = None

    def _announce(self) -> None:
        self.timer = None
        self.sent_at = time.monotonic()
        asyncio.ensure_future(get_bus().apublish(self.sheet_id, encode(self.frame("update")), self.connection_id))
