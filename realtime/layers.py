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
from collections.abc import Coroutine
from typing import Any

from channels.layers import InMemoryChannelLayer as BaseInMemoryChannelLayer
from channels_redis.core import RedisChannelLayer as BaseRedisChannelLayer


class RedisChannelLayer(BaseRedisChannelLayer):
    async def receive(self, channel: str) -> dict:
        return await cancellable(super().receive(channel))


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
            logging.getLogger(__name__).exception("could not send to group %s", group)

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
                logging.getLogger(__name__).error("could not send to group %s: %s", group, future.exception())

        asyncio.run_coroutine_threadsafe(layer.group_send(group, message), serving).add_done_callback(reported)
        return None
    if running is None:
        return send()
    thread = threading.Thread(target=send, name="group-send")
    thread.start()
    thread.join(10)
