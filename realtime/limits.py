"""Limits that keep one user from slowing the others on live connections (docs/realtime.md,
"Limits"):

- frames per second per connection for `hello`, `ping`, `presence` (sheet sockets) and
  `subscribe`, `ping` (dashboard sockets): a token bucket per frame type (GRIDCAST["WS_FRAME_LIMITS"]);
  a frame over its limit gets an error frame `rate_limited` naming the type, and a connection
  that goes on sending refused frames (more than GRIDCAST["WS_FLOOD_REFUSALS"] in a burst) is
  closed with CLOSE_RATE_LIMITED (4429);
- open sockets and event streams per user (GRIDCAST["MAX_CONNECTIONS_PER_USER"], sheet and
  dashboard sockets and SSE streams together), counted across every process in the shared cache
  (Redis): each connection holds a slot in its user's sorted set, claimed in one round trip (a
  Lua script) whatever the cap, that lapses CONNECTION_SLOT_SECONDS after the process last
  refreshed it (so a process that died frees its slots within that time). Over the cap a socket
  is closed with 4429 and a stream answers 429 JSON.
"""

import asyncio
import time
import uuid
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient
from redis.cluster import RedisCluster

from core.frames import error_frame
from core.redis import sync_client

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


# With Redis, a user's slots are one sorted set (member: a connection's token, score: when the slot
# lapses, in Redis's own clock), claimed in one round trip whatever the cap: expired slots are
# dropped and one is added only when fewer than the cap are left.
CLAIM = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ms + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# Every slot this process holds is refreshed by one task, in one round trip per user set.
REFRESH = """
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'XX', ms + tonumber(ARGV[1]), ARGV[i + 1])
  redis.call('PEXPIRE', key, ARGV[1])
end
return 1
"""


_clients: dict[str, Any] = {}


def _redis(store):
    """A synchronous Redis client of the server behind a RedisCache, one per server for the
    process, or None for other caches (the embedded default's local memory: one process).
    (django.core.cache.cache is a new RedisCache, with a new connection pool, in every context a
    sync_to_async call runs in: asking it for a client would connect to Redis on every claim.)"""
    inner = getattr(store, "_cache", None)  # through django.core.cache.cache's proxy too
    if not isinstance(inner, RedisCacheClient):
        return None
    url = inner._servers[0]
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = sync_client(url)  # a RedisCluster for a redis+cluster:// URL
    return client


class Slot:
    """One of a user's connection slots, held while the connection lives (refreshed in the
    background, with every other slot of the process) and freed when it ends."""

    def __init__(self, store=None, key=None, token=None):
        self.store, self.key, self.token = store, key, token

    def keep(self) -> None:
        if self.key is not None:
            _keeper.hold(self)

    async def release(self) -> None:
        _keeper.drop(self)
        if self.key is None:
            return
        key, self.key = self.key, None
        try:
            await sync_to_async(_release, thread_sensitive=False)(self.store, key, self.token)
        except Exception:  # expires by itself
            pass


class Keeper:
    """Refreshes the slots this process holds every CONNECTION_SLOT_SECONDS / 3: one task for the
    process (per event loop), not one per connection."""

    def __init__(self):
        self.slots: dict[Slot, None] = {}
        self.task: asyncio.Future | None = None

    def hold(self, slot: Slot) -> None:
        self.slots[slot] = None
        loop = asyncio.get_running_loop()
        if self.task is None or self.task.done() or self.task.get_loop() is not loop:
            self.task = loop.create_task(self._keep())

    def drop(self, slot: Slot) -> None:
        self.slots.pop(slot, None)

    async def _keep(self):
        while self.slots:
            await asyncio.sleep(_slot_seconds() / 3)
            try:
                await sync_to_async(_refresh, thread_sensitive=False)(list(self.slots))
            except Exception:  # the cache is away for a while: the slots may lapse, nothing else
                pass


_keeper = Keeper()


def _refresh(slots):
    ttl = int(_slot_seconds() * 1000)
    by_store = {}
    for slot in slots:
        if slot.key is not None:
            by_store.setdefault(id(slot.store), (slot.store, []))[1].append(slot)
    for store, held in by_store.values():
        client = _redis(store)
        if client is None:
            for slot in held:
                store.touch(slot.key, _slot_seconds())
            continue
        # A Redis Cluster runs a script on the keys of one slot only: there, one call per user.
        step = 1 if isinstance(client, RedisCluster) else 500
        held.sort(key=lambda slot: slot.key)
        for start in range(0, len(held), step):
            chunk = held[start : start + step]
            client.eval(REFRESH, len(chunk), *[s.key for s in chunk], ttl, *[s.token for s in chunk])


def _release(store, key, token):
    client = _redis(store)
    if client is not None:
        client.zrem(key, token)
    elif store.get(key) == token:
        store.delete(key)


def _claim(user_id, limit):
    token = uuid.uuid4().hex
    store = cache
    client = _redis(store)
    if client is not None:
        key = store.make_and_validate_key(f"connections:{user_id}")
        claimed = client.eval(CLAIM, 1, key, limit, int(_slot_seconds() * 1000), token)
        return Slot(store, key, token) if claimed else None
    # One process (local memory): a numbered key per slot.
    keys = [f"connections:{user_id}:{n}" for n in range(limit)]
    taken = store.get_many(keys)
    for key in keys:
        if key not in taken and store.add(key, token, _slot_seconds()):
            return Slot(store, key, token)
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
