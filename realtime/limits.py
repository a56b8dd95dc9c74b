"""Limits that keep one user from slowing the others on live connections (docs/realtime.md,
"Limits"):

- frames per second per connection for `hello`, `ping`, `presence` (sheet sockets) and
  `subscribe`, `ping` (dashboard sockets): a token bucket per frame type (GRIDCAST["WS_FRAME_LIMITS"]);
  a frame over its limit gets an error frame `rate_limited` naming the type, and a connection
  that goes on sending refused frames (more than GRIDCAST["WS_FLOOD_REFUSALS"] in a burst) is
  closed with CLOSE_RATE_LIMITED (4429);
- open sockets and event streams per user (GRIDCAST["MAX_CONNECTIONS_PER_USER"], sheet and
  dashboard sockets and SSE streams together), counted across every process in the shared cache
  (Redis): each connection holds one of the user's numbered slots, a key that expires
  CONNECTION_SLOT_SECONDS after the connection last refreshed it (so a process that died frees its
  slots within that time). Over the cap a socket is closed with 4429 and a stream answers 429 JSON.
"""

import asyncio
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from core.frames import error_frame

CLOSE_RATE_LIMITED = 4429


class TokenBucket:
    def __init__(self, rate, burst):
        self.rate, self.capacity, self.tokens, self.stamp = rate, burst, burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class FrameLimits:
    """Token buckets for a connection's frame types; `allow(kind)` is False over the limit, and
    `flooding` turns True once refusals go on past WS_FLOOD_REFUSALS."""

    def __init__(self, kinds):
        limits = settings.GRIDCAST["WS_FRAME_LIMITS"]
        self.buckets = {kind: TokenBucket(*limits[kind]) for kind in kinds if kind in limits}
        refusals = settings.GRIDCAST["WS_FLOOD_REFUSALS"]
        # Refusals are forgiven at a tenth of the tolerated burst a second.
        self.refusals = TokenBucket(max(refusals / 10, 0.1), refusals)
        self.flooding = False

    def allow(self, kind: str) -> bool:
        bucket = self.buckets.get(kind) if isinstance(kind, str) else None
        if bucket is None or bucket.take():
            return True
        if not self.refusals.take():
            self.flooding = True
        return False

    def refusal(self, kind: str) -> dict:
        """The error frame for a `kind` frame over its limit."""
        bucket = self.buckets[kind]
        return error_frame(
            "rate_limited",
            f"too many {kind!r} frames: at most {bucket.rate:g} a second",
            frame=kind,
            retry_after=round(1 / bucket.rate, 3),
        )


# --- connections per user, across processes -------------------------------------------------


def _slot_seconds():
    return float(settings.GRIDCAST["CONNECTION_SLOT_SECONDS"])


class Slot:
    """One of a user's connection slots, held while the connection lives (refreshed in the
    background) and freed when it ends."""

    def __init__(self, key=None, token=None):
        self.key, self.token, self.keeper = key, token, None

    def keep(self) -> None:
        if self.key is not None and self.keeper is None:
            self.keeper = asyncio.ensure_future(self._keep())

    async def _keep(self):
        every = _slot_seconds() / 3
        while True:
            await asyncio.sleep(every)
            try:
                await sync_to_async(cache.touch, thread_sensitive=False)(self.key, _slot_seconds())
            except Exception:  # the cache is away for a while: the slot may lapse, nothing else
                pass

    async def release(self) -> None:
        if self.keeper is not None:
            self.keeper.cancel()
            self.keeper = None
        if self.key is None:
            return
        key, self.key = self.key, None
        try:
            await sync_to_async(_release, thread_sensitive=False)(key, self.token)
        except Exception:  # expires by itself
            pass


def _release(key, token):
    if cache.get(key) == token:
        cache.delete(key)


def _claim(user_id, limit):
    # One hash tag for the user's slots: on a Redis Cluster they live together and one MGET reads them.
    keys = [f"connections:{{{user_id}}}:{n}" for n in range(limit)]
    taken = cache.get_many(keys)
    token = uuid.uuid4().hex
    for key in keys:
        if key not in taken and cache.add(key, token, _slot_seconds()):
            return Slot(key, token)
    return None


async def claim_connection(user: Any) -> "Slot | None":
    """A slot for one more connection of `user`, or None when the user has MAX_CONNECTIONS_PER_USER
    open already. Connections of no account (none is counted) get an empty slot. Call keep() on
    the slot once the connection is accepted and release() when it ends."""
    limit = int(settings.GRIDCAST.get("MAX_CONNECTIONS_PER_USER") or 0)
    user_id = getattr(user, "pk", None) if getattr(user, "is_authenticated", False) else None
    if not limit or user_id is None:
        return Slot()
    try:
        return await sync_to_async(_claim, thread_sensitive=False)(user_id, limit)
    except Exception:  # the cache is away: do not lock everyone out
        return Slot()


def too_many_connections_message() -> str:
    limit = settings.GRIDCAST["MAX_CONNECTIONS_PER_USER"]
    return f"too many open connections: at most {limit} sockets and streams per user"
