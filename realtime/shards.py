"""Sharded pub/sub on a Redis Cluster (SSUBSCRIBE): a process's subscriptions, each on the master
that owns its channel's slot, following the slots when a replica takes a master's place.

One subscriber connection per master, read by a task of its own (a message waits for no other
master). When a master's connection drops, or Redis tells us a channel's slot moved (a
`sunsubscribe` we did not ask for), the subscriber learns the slots again and subscribes those
channels where their slots are now, with backoff, then calls `on_recovered` with them: what was
published to them meanwhile is lost, and the owner repairs it (the bus replays to the
connections of those sheets, the channel layer has access looked at again). The other masters'
subscriptions are not touched and lose nothing.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

RETRY_FIRST, RETRY_MAX = 0.1, 0.5  # seconds between attempts to subscribe again after a failure
# Seconds between two looks at the slot map: a master that stops answering without closing its
# connections (its host gone, a partition) is replaced by its replica, and only the map tells.
WATCH_SECONDS = 5.0


class _Master:
    """The subscriber connection to one master and the task that reads it."""

    def __init__(self, node: Any, client_options: dict):
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.name = node.name
        # No retries of our own: a master that went away is reported at once, and the subscriber
        # asks the cluster where the slots went.
        self.redis = aioredis.Redis(host=node.host, port=node.port, retry=Retry(NoBackoff(), 0), **client_options)
        self.pubsub = self.redis.pubsub()
        self.reader = None

    async def close(self) -> None:
        if self.reader is not None and self.reader is not asyncio.current_task():
            self.reader.cancel()
        try:
            await self.pubsub.aclose()
            await self.redis.aclose()
        except Exception:
            pass


class ShardedSubscriber:
    """Subscriptions to shard channels of a Redis Cluster. `on_message(channel, data)` gets every
    message (channel decoded, data as bytes), from the event loop; `on_recovered(channels)` is
    called with the channels whose subscriptions were lost and made again (what was published to
    them meanwhile is lost)."""

    def __init__(
        self, cluster: Any, on_message: Callable[[str, bytes], None], on_recovered: Callable[[set[str]], None]
    ):
        self.cluster = cluster  # redis.asyncio.cluster.RedisCluster
        self.on_message, self.on_recovered = on_message, on_recovered
        self.wanted: set[str] = set()
        self.where: dict[str, str] = {}  # channel -> name of the master it is subscribed on
        self.leaving: dict[str, int] = {}  # channel -> our sunsubscribes not yet confirmed
        self.broken: set[str] = set()  # masters whose connection failed, until repaired
        self.moved: set[str] = set()  # channels Redis dropped because their slot moved
        self.watcher: asyncio.Task | None = None
        self.masters: dict[str, _Master] = {}
        self.repair: asyncio.Task | None = None
        self.lock = asyncio.Lock()
        self.failures = 0  # how many times the subscriptions were lost (for tests and logs)
        options = cluster.get_connection_kwargs()
        self.client_options = {
            key: options[key]
            for key in ("username", "password", "socket_timeout", "socket_connect_timeout", "health_check_interval")
            if options.get(key) is not None
        }
        if options.get("connection_class") is not None and "SSL" in options["connection_class"].__name__:
            self.client_options["ssl"] = True

    @property
    def subscribed(self) -> set[str]:
        return set(self.where)

    async def subscribe(self, channel: str) -> None:
        self.wanted.add(channel)
        if self.repair is not None:  # the repair subscribes every wanted channel
            return
        try:
            async with self.lock:
                if channel in self.wanted and channel not in self.where:
                    await self._subscribe(channel)
        except Exception:
            self._lost(f"subscribe to {channel} failed")

    async def unsubscribe(self, channel: str) -> None:
        self.wanted.discard(channel)
        name = self.where.pop(channel, None)
        master = self.masters.get(name)
        if master is not None:
            self.leaving[channel] = self.leaving.get(channel, 0) + 1
            try:
                await master.pubsub.sunsubscribe(channel)
            except Exception:
                pass  # its connection is gone: nothing arrives there any more

    async def close(self) -> None:
        for task in (self.repair, self.watcher):
            if task is not None:
                task.cancel()
        self.repair = self.watcher = None
        masters, self.masters, self.where, self.leaving = self.masters, {}, {}, {}
        self.broken, self.moved = set(), set()
        for master in masters.values():
            await master.close()

    # inside ------------------------------------------------------------------------------------

    async def _subscribe(self, channel):
        await self.cluster.initialize()
        node = self.cluster.get_node_from_key(channel)
        master = self.masters.get(node.name)
        created = master is None
        if created:
            master = self.masters[node.name] = _Master(node, self.client_options)
        try:
            await master.pubsub.ssubscribe(channel)
        except Exception:
            if created:  # a master that does not answer (yet to be replaced): nothing kept of it
                self.masters.pop(node.name, None)
                await master.close()
            raise
        self.where[channel] = node.name
        if master.reader is None:
            master.reader = asyncio.get_running_loop().create_task(self._read(master))
        if self.watcher is None:
            self.watcher = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self):
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            if self.repair is not None or not self.where:
                continue
            try:
                await self.cluster.nodes_manager.initialize()
                moved = {c for c, name in self.where.items() if self.cluster.get_node_from_key(c).name != name}
            except Exception:  # the cluster does not answer now: the next look, or a reader, tells
                continue
            if moved:
                self.moved |= moved
                self._lost(f"the slot map moved {len(moved)} channels")

    async def _read(self, master):
        try:
            while True:
                message = await master.pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                kind = message["type"]
                channel = message["channel"]
                if isinstance(channel, bytes):
                    channel = channel.decode()
                if kind == "smessage":
                    try:
                        self.on_message(channel, message["data"])
                    except Exception:
                        log.exception("message of %s not handled", channel)
                elif kind == "sunsubscribe" and self.leaving.get(channel):
                    self.leaving[channel] -= 1  # the confirmation of ours
                    if not self.leaving[channel]:
                        del self.leaving[channel]
                elif kind == "sunsubscribe" and self.where.get(channel) == master.name:
                    # Not ours: Redis dropped it because its slot is served elsewhere now.
                    self.moved.add(channel)
                    self._lost(f"{master.name} dropped {channel}: its slot moved")
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.broken.add(master.name)
            self._lost(f"lost master {master.name}: {error!r}")

    def _lost(self, why):
        if self.repair is not None:  # the repair under way takes this one too
            return
        self.failures += 1
        log.warning("sharded subscriptions lost (%s); subscribing again", why)
        self.repair = asyncio.get_running_loop().create_task(self._resubscribe())

    async def _resubscribe(self):
        """Move the channels of the masters that went away (and those whose slot moved) to where
        their slots are now, with backoff until it works; the other masters' subscriptions stay
        as they are and lose nothing."""
        affected = set()
        delay = RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            try:
                async with self.lock:
                    for name in list(self.broken):
                        master = self.masters.pop(name, None)
                        if master is not None:
                            await master.close()
                        for channel in [c for c, where in self.where.items() if where == name]:
                            del self.where[channel]
                            affected.add(channel)
                        self.broken.discard(name)
                    for channel in list(self.moved):
                        self.moved.discard(channel)
                        old = self.masters.get(self.where.pop(channel, None))
                        if old is not None:
                            affected.add(channel)
                            self.leaving[channel] = self.leaving.get(channel, 0) + 1
                            with contextlib.suppress(Exception):  # it may not answer: nothing waits for it
                                await asyncio.wait_for(old.pubsub.sunsubscribe(channel), 1)
                    # Where the slots are now (the replica that took over, once it has).
                    await self.cluster.nodes_manager.initialize()
                    for channel, name in list(self.where.items()):
                        if self.cluster.get_node_from_key(channel).name != name:  # moved too
                            await self.unsubscribe(channel)
                            self.wanted.add(channel)
                            affected.add(channel)
                    while missing := [c for c in self.wanted if c not in self.where]:
                        for channel in missing:
                            await self._subscribe(channel)
                break
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.info("subscribing again failed (%r); next attempt in %.1f s", error, delay)
                delay = min(delay * 2, RETRY_MAX)
        self.repair = None
        log.warning("sharded subscriptions made again (%d channels moved)", len(affected))
        self.on_recovered(affected & self.wanted)
        if self.broken or self.moved:  # lost again while this repair ran
            self._lost("again during the repair")
