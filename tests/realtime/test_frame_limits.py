"""Threat: one client floods a socket with cheap-looking frames (`hello` replays, `ping`s that each
read the database, `presence` fanned out to the room, dashboard `subscribe`s that each compute
every widget) or opens sockets and streams without end, and slows everyone else. Each frame type
has a token bucket (GRIDCAST["WS_FRAME_LIMITS"]): over it the client gets `rate_limited` naming the
frame; a client that keeps flooding is closed with 4429. A user has at most
MAX_CONNECTIONS_PER_USER sockets and streams across processes (slots in the shared cache): one
more socket is closed with 4429, one more stream answers 429 JSON."""

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import AsyncClient, override_settings

from accounts.models import ApiToken
from config.asgi import application
from realtime import limits
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = [(b"origin", b"http://127.0.0.1:8000")]


def frame_limits(**kinds):
    return override_settings(
        GRIDCAST={
            **settings.GRIDCAST,
            "WS_FRAME_LIMITS": {**settings.GRIDCAST["WS_FRAME_LIMITS"], **kinds},
            "WS_FLOOD_REFUSALS": 5,
        }
    )


def connection_cap(n):
    return override_settings(GRIDCAST={**settings.GRIDCAST, "MAX_CONNECTIONS_PER_USER": n})


async def frames_until(communicator, predicate, timeout=3):
    while True:
        frame = json.loads(await communicator.receive_from(timeout=timeout))
        if predicate(frame):
            return frame


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner)


@pytest.mark.parametrize("kind", ["hello", "ping", "presence"])
async def test_sheet_socket_frames_over_their_limit_are_refused_naming_the_type(sheet, owner, connect, kind):
    frame = {
        "hello": {"type": "hello", "since": 0},
        "ping": {"type": "ping", "t": 1},
        "presence": {"type": "presence", "selection": None, "editing": False},
    }[kind]
    with frame_limits(**{kind: (0.01, 2)}):
        client, _ = await connect(owner, sheet)
        for _ in range(3):
            await client.send(frame)
        refused = await client.recv_type("error")
        assert refused["code"] == "rate_limited" and refused["frame"] == kind
        assert "retry_after" in refused


async def test_a_sheet_socket_that_keeps_flooding_is_closed_with_4429(sheet, owner, connect):
    with frame_limits(ping=(0.01, 1)):
        client, _ = await connect(owner, sheet)
        for _ in range(20):
            await client.send({"type": "ping", "t": 1})
        closed = await frames_until_close(client.ws)
        assert closed == limits.CLOSE_RATE_LIMITED


async def frames_until_close(communicator, timeout=5):
    while True:
        message = await communicator.receive_output(timeout)
        if message["type"] == "websocket.close":
            return message.get("code")


async def open_dashboard(person, workspace_id):
    _, key = await database_sync_to_async(ApiToken.issue)(user=person, name="dash")
    communicator = WebsocketCommunicator(application, f"/ws/dashboards/{workspace_id}/?token={key}", headers=ORIGIN)
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    await frames_until(communicator, lambda f: f["type"] == "welcome")
    return communicator


async def test_dashboard_subscribe_and_ping_are_limited_then_flooding_closes(workspace, viewer):
    with frame_limits(subscribe=(0.01, 1), ping=(0.01, 1)):
        socket = await open_dashboard(viewer, workspace.pk)
        try:
            for _ in range(2):
                await socket.send_to(text_data=json.dumps({"type": "subscribe", "widgets": [], "filters": {}}))
            refused = await frames_until(socket, lambda f: f["type"] == "error")
            assert refused["code"] == "rate_limited" and refused["frame"] == "subscribe"
            for _ in range(2):
                await socket.send_to(text_data=json.dumps({"type": "ping"}))
            refused = await frames_until(socket, lambda f: f["type"] == "error")
            assert refused["code"] == "rate_limited" and refused["frame"] == "ping"
            for _ in range(20):
                await socket.send_to(text_data=json.dumps({"type": "ping"}))
            assert await frames_until_close(socket) == limits.CLOSE_RATE_LIMITED
        finally:
            await socket.disconnect()


async def test_sockets_and_streams_per_user_are_capped(sheet, workspace, owner, connect):
    with connection_cap(2):
        first, _ = await connect(owner, sheet)
        dashboard = await open_dashboard(owner, workspace.pk)
        # the third: a sheet socket, refused with 4429
        _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="ws")
        third = WebsocketCommunicator(application, f"/ws/sheets/{sheet.pk}/?token={key}", headers=ORIGIN)
        connected, _ = await third.connect(timeout=5)
        refusal = await frames_until(third, lambda f: f["type"] == "error")
        assert refusal["code"] == "too_many_connections"
        assert await frames_until_close(third) == limits.CLOSE_RATE_LIMITED
        # a stream: 429 JSON
        client = AsyncClient()
        await sync_to_async(client.force_login)(owner)
        response = await client.get("/notifications/events/")
        assert response.status_code == 429
        assert json.loads(response.content)["error"]["code"] == "too_many_connections"
        assert response["Retry-After"]
        # a socket that ends frees its slot
        await dashboard.disconnect()
        await asyncio.sleep(0.2)
        response = await client.get("/notifications/events/")
        assert response.status_code == 200
        await response.streaming_content.__aiter__().aclose()


async def test_the_cap_is_counted_across_processes(owner):
    """Slots live in the shared cache: a slot claimed through another connection to Redis (another
    process) counts."""
    from django.core.cache.backends.redis import RedisCache

    default = settings.CACHES["default"]
    other_process = RedisCache(default["LOCATION"], {"KEY_PREFIX": default["KEY_PREFIX"]})
    with connection_cap(1):
        original = limits.cache
        limits.cache = other_process
        try:
            held = await limits.claim_connection(owner)
        finally:
            limits.cache = original
        assert held is not None
        assert await limits.claim_connection(owner) is None
        await held.release()
        again = await limits.claim_connection(owner)
        assert again is not None
        await again.release()


def slot_seconds(seconds):
    return override_settings(
        GRIDCAST={**settings.GRIDCAST, "MAX_CONNECTIONS_PER_USER": 3, "CONNECTION_SLOT_SECONDS": seconds}
    )


async def test_a_users_slots_are_one_sorted_set_claimed_in_one_round_trip(owner, monkeypatch):
    """The claim is O(1): one Redis command (a Lua script on the user's sorted set), however high
    the cap (it used to read every numbered key of the cap on each connect)."""
    import redis
    from django.core.cache import cache

    commands = []
    original = redis.Redis.execute_command

    def counted(self, *args, **kwargs):
        commands.append(args[0])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    with connection_cap(1000):
        held = [await limits.claim_connection(owner) for _ in range(5)]
    assert all(slot is not None for slot in held)
    assert commands == ["EVAL"] * 5
    client = cache._cache.get_client(write=True)
    key = cache.make_and_validate_key(f"connections:{owner.pk}")
    assert client.zcard(key) == 5
    for slot in held:
        await slot.release()
    assert client.zcard(key) == 0


async def test_a_slot_nobody_refreshes_lapses_and_a_kept_one_stays(owner):
    """A process that died stops refreshing its slots: they lapse after CONNECTION_SLOT_SECONDS.
    The slots a live process keeps are refreshed by one task for them all and stay."""
    with slot_seconds(0.6):
        abandoned = [await limits.claim_connection(owner) for _ in range(3)]
        assert all(abandoned) and await limits.claim_connection(owner) is None
        await asyncio.sleep(0.8)
        kept = [await limits.claim_connection(owner) for _ in range(3)]
        assert all(kept)
        for slot in kept:
            slot.keep()
        await asyncio.sleep(1.5)  # more than twice the lifetime of an unrefreshed slot
        assert await limits.claim_connection(owner) is None
        await kept[0].release()
        again = await limits.claim_connection(owner)
        assert again is not None
        for slot in [*kept[1:], again]:
            await slot.release()
