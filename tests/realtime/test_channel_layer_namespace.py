"""Threat: two Gridcast installations sharing one Redis see each other's channel-layer groups
(a workspace's live figures, revocations) when the layer's keys are not namespaced. The layer's
prefix is the installation's name, as the sheet pub/sub channels carry the database's name."""

import asyncio
import uuid

import pytest
from django.conf import settings

from realtime.layers import RedisChannelLayer


def layer_for(installation):
    config = dict(settings.CHANNEL_LAYERS["default"]["CONFIG"])
    config["prefix"] = f"gridcast:{installation}:asgi"
    return RedisChannelLayer(**config)


def test_the_configured_layer_is_prefixed_with_the_installation_name():
    config = settings.CHANNEL_LAYERS["default"]["CONFIG"]
    assert settings.INSTALLATION_NAME
    assert config["prefix"] == f"gridcast:{settings.INSTALLATION_NAME}:asgi"
    assert settings.CACHES["default"]["KEY_PREFIX"] == f"gridcast:{settings.INSTALLATION_NAME}:cache"


@pytest.mark.asyncio
async def test_two_installations_on_one_redis_do_not_see_each_others_groups():
    first, second = layer_for("install-one"), layer_for("install-two")
    try:
        one = await first.new_channel()
        two = await second.new_channel()
        await first.group_add("workspace-1", one)
        await second.group_add("workspace-1", two)
        await first.group_send("workspace-1", {"type": "alert.fired", "from": "one"})
        assert await asyncio.wait_for(first.receive(one), 5) == {"type": "alert.fired", "from": "one"}
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(second.receive(two), 1.5)
    finally:
        await first.flush()
        await second.flush()


def test_the_sheet_pub_sub_channels_carry_the_same_installation_name():
    from realtime.bus import RedisBus, get_bus

    bus = get_bus()
    assert isinstance(bus, RedisBus)
    assert bus.prefix == f"gridcast:{settings.INSTALLATION_NAME}:sheet:"


@pytest.mark.asyncio
async def test_more_group_joins_at_once_than_the_layer_has_connections_all_succeed():
    """A reconnect storm: every socket joins its groups at once. Commands beyond the layer's pool
    wait for a connection; none fails (redis-py's default pool raised MaxConnectionsError)."""
    from realtime.layers import LAYER_MAX_CONNECTIONS

    layer = layer_for(f"storm-{uuid.uuid4().hex[:8]}")
    try:
        channels = [await layer.new_channel() for _ in range(LAYER_MAX_CONNECTIONS * 3)]
        await asyncio.gather(*(layer.group_add("sheet-1", channel) for channel in channels))
        await layer.group_send("sheet-1", {"type": "op.frame", "n": 1})
        received = await asyncio.gather(*(asyncio.wait_for(layer.receive(c), 10) for c in channels))
        assert received == [{"type": "op.frame", "n": 1}] * len(channels)
    finally:
        await layer.flush()
