"""The channel layer for several processes: channels-redis, with a receive that always ends
when it is cancelled.

channels-redis 4.3 with redis-py 8 now and then loses the cancellation of a receive and goes
on polling Redis. Every consumer (ours, and Channels' own WebsocketDenier for a refused
Origin) awaits its receive beside the client's frames and cancels it when the connection
ends; a lost cancellation kept the finished connection's task alive for ever, and uvicorn
waited for it at shutdown.
"""

import asyncio
import logging
import threading
import uuid
from collections.abc import Coroutine
from typing import Any

from channels.layers import BaseChannelLayer
from channels.layers import InMemoryChannelLayer as BaseInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer
from channels_redis.serializers import registry

from core.redis import async_client, sync_client

log = logging.getLogger(__name__)


# Connections of one process's layer to one Redis. Beyond them a command waits for a free one: with
# redis-py 8's default pool (100, then MaxConnectionsError) about 3 % of 2,000 sockets joining at
# once (a reconnect storm) were closed before their welcome, their group_add refused.
LAYER_MAX_CONNECTIONS = 100


class RedisChannelLayer(BaseRedisChannelLayer):
    async def receive(self, channel: str) -> dict:
        return await cancellable(super().receive(channel))

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "address" not in host:  # a Sentinel or a pool given by parts: as channels-redis makes it
            return super().create_pool(index)
        import redis.asyncio as aioredis

        return aioredis.BlockingConnectionPool.from_url(
            host.pop("address"), max_connections=LAYER_MAX_CONNECTIONS, timeout=20, **host
        )


class InMemoryChannelLayer(BaseInMemoryChannelLayer):
    """The embedded default's layer (one process), which remembers the event loop of the
    connections it serves. Its queues belong to that loop: a send made on another loop (from the
    analytics writer's or the demo stream's thread) reached a waiting consumer only when something
    else woke the loop, and live dashboards showed data up to 3 s old. group_send() below hands
    such sends to the serving loop instead."""

    loop = None

    async def receive(self, channel: str) -> dict:
        self.loop = asyncio.get_running_loop()
        return await super().receive(channel)


class ClusterChannelLayer(BaseChannelLayer):
    """The channel layer on a Redis Cluster (REDIS_URL redis+cluster://...), which channels-redis
    does not support (its groups are sorted sets that one Lua script reads beside the channels'
    keys, keys of many slots). Groups here are shard channels (SPUBLISH, SSUBSCRIBE), spread over
    the masters: a process subscribes to a group while one of its channels is in it, and hands
    what arrives to them. Channels live in their process; a message to another process's channel
    goes through that process's own shard channel.

    Delivery is at most once, as with channels-redis. Messages published while a master fails over
    are lost: once the subscriptions have moved to the replica that took over, every channel in a
    group of that master gets {"type": "access.changed"} (everything that joins groups here holds a
    revocation guard), so access is looked at again in case a change was missed meanwhile."""

    extensions = ["groups", "flush"]

    def __init__(self, url, prefix="asgi", expiry=60, group_expiry=86400, capacity=100, channel_capacity=None):
        super().__init__(expiry=expiry, capacity=capacity, channel_capacity=channel_capacity)
        self.url, self.prefix, self.group_expiry = url, prefix, group_expiry
        self.process = uuid.uuid4().hex[:12]
        self.serializer = registry.get_serializer("msgpack", expiry=expiry)
        self._publisher = None
        self._publisher_lock = threading.Lock()
        self._reset(None)

    def _reset(self, loop):
        # Not `loop`: group_send() below hands sends to a layer's `loop`; this layer publishes from any.
        self._loop = loop
        self.channels: dict[str, asyncio.Queue] = {}
        self.groups: dict[str, set[str]] = {}  # group -> channels of this process in it
        self._shards = None

    def _subscriber(self):
        from .shards import ShardedSubscriber

        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._reset(loop)
        if self._shards is None:
            cluster = async_client(self.url, socket_timeout=5, socket_connect_timeout=2)
            self._shards = ShardedSubscriber(cluster, self._received, self._recovered)
        return self._shards

    def _group_channel(self, group):
        return f"{self.prefix}:group:{group}"

    def _process_channel(self, process):
        return f"{self.prefix}:process:{process}"

    async def _publish(self, channel, data):
        def publish():
            if self._publisher is None:
                with self._publisher_lock:
                    if self._publisher is None:
                        self._publisher = sync_client(self.url, socket_timeout=2, socket_connect_timeout=2)
            self._publisher.spublish(channel, data)

        # Through the thread-safe client: group_send is called from short-lived loops too
        # (realtime.layers.group_send from synchronous code).
        await asyncio.to_thread(publish)

    def _put(self, channel, message):
        queue = self.channels.get(channel)
        if queue is None:
            return
        try:
            queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("channel %s is full; message dropped", channel)

    def _received(self, shard_channel: str, data: bytes) -> None:
        if shard_channel.startswith(f"{self.prefix}:process:"):
            channel, message = self.serializer.deserialize(data)
            self._put(channel, message)
            return
        group = shard_channel[len(f"{self.prefix}:group:") :]
        message = self.serializer.deserialize(data)
        for channel in tuple(self.groups.get(group, ())):
            self._put(channel, dict(message))

    def _recovered(self, shard_channels: set[str]) -> None:
        groups = [group for group in self.groups if self._group_channel(group) in shard_channels]
        for channel in {channel for group in groups for channel in self.groups[group]}:
            self._put(channel, {"type": "access.changed"})

    # the channel layer's interface ----------------------------------------------------------------

    async def new_channel(self, prefix="specific."):
        shards = self._subscriber()
        if not self.channels:
            await shards.subscribe(self._process_channel(self.process))
        channel = f"{prefix}{self.process}!{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return channel

    async def send(self, channel, message):
        self.require_valid_channel_name(channel)
        if channel in self.channels:
            self._put(channel, message)
            return
        process = channel.split("!", 1)[0].rsplit(".", 1)[-1]
        await self._publish(self._process_channel(process), self.serializer.serialize([channel, message]))

    async def receive(self, channel):
        self.require_valid_channel_name(channel)
        self._subscriber()
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            return await queue.get()
        except asyncio.CancelledError:
            # Channels cancels a receive only when the consumer ends: forget the channel.
            self.channels.pop(channel, None)
            for group in [g for g, members in self.groups.items() if channel in members]:
                await self._leave(group, channel)
            raise

    async def group_add(self, group, channel):
        self.require_valid_group_name(group)
        self.require_valid_channel_name(channel)
        shards = self._subscriber()
        members = self.groups.setdefault(group, set())
        members.add(channel)
        if self._group_channel(group) not in shards.wanted:
            await shards.subscribe(self._group_channel(group))

    async def group_discard(self, group, channel):
        await self._leave(group, channel)

    async def _leave(self, group, channel):
        members = self.groups.get(group)
        if members is None or channel not in members:
            return
        members.discard(channel)
        if not members:
            del self.groups[group]
            if self._shards is not None:
                await self._shards.unsubscribe(self._group_channel(group))

    async def group_send(self, group, message):
        self.require_valid_group_name(group)
        await self._publish(self._group_channel(group), self.serializer.serialize(message))

    async def flush(self):
        if self._shards is not None:
            await self._shards.close()
            await self._shards.cluster.aclose()
        self._reset(None)


async def cancellable(coroutine: Coroutine) -> Any:
    """Await `coroutine` in a task of its own, so that cancelling the caller ends the caller at
    once; the task is cancelled until it stops."""
    task = asyncio.ensure_future(coroutine)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())
    try:
        await asyncio.wait([task])
    except asyncio.CancelledError:
        _cancel_until_done(task)
        raise
    return task.result()


def _cancel_until_done(task):
    if not task.done():
        task.cancel()
        asyncio.get_running_loop().call_later(1.0, _cancel_until_done, task)


def group_send(group: str, message: dict) -> None:
    """Send to a channel-layer group from synchronous code, best effort (the caller's data is
    committed; a lost push is logged, never raised). With the in-memory layer the send is handed
    to the loop that serves its connections (see InMemoryChannelLayer). From a thread that runs
    an event loop (a sync view called inside async code, a test driving a browser), the send runs
    in a thread of its own."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return

    def send():
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:
            log.exception("could not send to group %s", group)

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    serving = getattr(layer, "loop", None)
    if serving is not None and serving is not running:
        if not serving.is_running():  # the server stopped: nobody is left to receive it
            return None

        def reported(future):
            if not future.cancelled() and future.exception() is not None:
                log.error("could not send to group %s: %s", group, future.exception())

        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), serving).add_done_callback(reported)
        return None
    if running is None:
        return send()
    thread = threading.Thread(target=send, name="group-send")
    thread.start()
    thread.join(10)
