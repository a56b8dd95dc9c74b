"""realtime.layers: the in-memory layer of the embedded default delivers sends made in other
threads (the analytics writer's, the demo stream's) at once, not when something else wakes the
serving loop."""

import asyncio
import threading
import time

from realtime import layers


async def test_a_send_from_another_thread_wakes_a_consumer_waiting_on_an_idle_loop():
    layer = layers.InMemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("room", channel)
    waiting = asyncio.ensure_future(layer.receive(channel))
    await asyncio.sleep(0.05)  # the consumer waits; nothing else will wake this loop
    assert layer.loop is asyncio.get_running_loop()

    sent = threading.Event()

    def from_a_thread():
        send_with(layer, "room", {"type": "data.arrived"})
        sent.set()

    started = time.monotonic()
    threading.Thread(target=from_a_thread).start()
    message = await asyncio.wait_for(waiting, 5)
    assert message == {"type": "data.arrived"}
    assert time.monotonic() - started < 1.0
    assert sent.wait(1)


def send_with(layer, group, message):
    """layers.group_send with `layer` as the configured one."""
    from unittest import mock

    with mock.patch("channels.layers.get_channel_layer", return_value=layer):
        layers.group_send(group, message)


def test_a_send_after_the_serving_loop_stopped_is_dropped_quietly(caplog):
    """At the server's exit the demo stream and the writer may still push: nobody is left to
    receive, and the send must neither raise nor log a traceback (asgiref's executor is shut down
    by then: "cannot schedule new futures after interpreter shutdown")."""
    layer = layers.InMemoryChannelLayer()
    loop = asyncio.new_event_loop()
    channel = loop.run_until_complete(layer.new_channel())
    loop.run_until_complete(layer.group_add("room", channel))
    layer.loop = loop
    loop.close()
    send_with(layer, "room", {"type": "data.arrived"})
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    assert not layer.channels.get(channel), "sent through a loop of its own after the server stopped"
