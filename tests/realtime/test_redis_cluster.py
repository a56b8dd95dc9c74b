"""REDIS_URL naming a Redis Cluster (issue 18): a cluster of the test's own, three masters with a
replica each (redis-server in cluster mode). Sheets spread over the masters by id (shard channels),
the channel layer's groups and the cache work on it, and when a master is killed its replica takes
over: clients catch up and no acknowledged edit is lost."""

import asyncio
import contextlib
import json
import urllib.error
import urllib.request

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache.backends.redis import RedisSerializer
from django.test import override_settings

from accounts.models import ApiToken, Membership
from core.redis import ClusterCacheClient
from realtime.layers import ClusterChannelLayer
from sheets.models import Operation, Row

from ..factories import make_sheet
from .servers import RedisClusterProcesses, SheetClient, logs, running_servers
from .test_servers import converged, keep_editing, stop, url


@pytest.fixture
def redis_cluster():
    cluster = RedisClusterProcesses(masters=3, node_timeout_ms=1000).start()
    yield cluster
    cluster.close()


async def wait_for(condition, timeout, what):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


def readiness(server):
    try:
        response = urllib.request.urlopen(f"{server.http_url}/readyz", timeout=10)
    except urllib.error.HTTPError as error:  # 503: another check failed; the body names each
        response = error
    return json.loads(response.read())["checks"]


def sheet_channel(sheet_id):
    """The sheet's shard channel (realtime.bus.RedisBus._channel), whose slot decides its master."""
    return f"gridcast:{settings.INSTALLATION_NAME}:sheet:{sheet_id}"


def test_the_cache_works_on_a_cluster_across_slots(redis_cluster):
    cache = ClusterCacheClient([redis_cluster.url], serializer=RedisSerializer)
    keys = [f"gc-test:key:{n}" for n in range(30)]  # over every master
    assert len({redis_cluster.master_of(key) for key in keys}) == 3
    cache.set_many({key: n for n, key in enumerate(keys)}, 60)
    assert cache.get_many(keys + ["gc-test:missing"]) == {key: n for n, key in enumerate(keys)}
    assert cache.add(keys[0], "other", 60) is False
    assert cache.incr(keys[1], 5) == 6
    cache.delete_many(keys[:10])
    assert cache.get_many(keys[:12]) == {keys[10]: 10, keys[11]: 11}


async def test_channel_layer_groups_survive_a_master_failover(redis_cluster):
    """Two processes' layers: a group_send from one reaches the other's member; after the master of
    the group's shard channel is killed, the member is told to look at its access again (what was
    published meanwhile is lost) and group messages reach it again through the new master."""
    here = ClusterChannelLayer(redis_cluster.url, prefix="gc-test:asgi")
    there = ClusterChannelLayer(redis_cluster.url, prefix="gc-test:asgi")
    try:
        channel = await here.new_channel()
        await here.group_add("user.7", channel)
        await there.group_send("user.7", {"type": "access.changed", "n": 1})
        assert await asyncio.wait_for(here.receive(channel), 5) == {"type": "access.changed", "n": 1}

        shards = here._shards
        await asyncio.to_thread(redis_cluster.kill, redis_cluster.master_of(here._group_channel("user.7")))
        # Told once the subscriptions moved to the replica that took over.
        assert await asyncio.wait_for(here.receive(channel), 30) == {"type": "access.changed"}
        assert shards.failures >= 1 and here._group_channel("user.7") in shards.subscribed
        for _ in range(50):  # the publisher learns the new master on its first failures
            with contextlib.suppress(Exception):
                await there.group_send("user.7", {"type": "notification.created", "n": 2})
                break
            await asyncio.sleep(0.2)
        assert await asyncio.wait_for(here.receive(channel), 5) == {"type": "notification.created", "n": 2}
    finally:
        await here.flush()
        await there.flush()


async def test_the_bus_spreads_sheets_over_the_masters_and_publishes_a_batch_to_each(redis_cluster):
    """Two processes' buses on the cluster: one batch of frames for sheets on three masters
    reaches the other process's rooms, each sheet's frames in order; a room left is unsubscribed."""
    from realtime.bus import RedisBus

    from .test_bus import Connection

    publisher, listener = RedisBus(redis_cluster.url, "gc-test"), RedisBus(redis_cluster.url, "gc-test")
    sheet_ids = []
    for sheet_id in range(1, 40):
        if redis_cluster.master_of(listener._channel(sheet_id)) not in {
            redis_cluster.master_of(listener._channel(s)) for s in sheet_ids
        }:
            sheet_ids.append(sheet_id)
    assert len(sheet_ids) == 3
    connections = {sheet_id: Connection(f"c{sheet_id}") for sheet_id in sheet_ids}
    try:
        for sheet_id, connection in connections.items():
            await listener.join(sheet_id, connection)
        assert listener._shards.subscribed == {listener._channel(s) for s in sheet_ids}
        assert len(listener._shards.masters) == 3  # one subscriber connection per master
        items = [(s, f'{{"v":{v}}}', None, v) for v in (1, 2) for s in sheet_ids]
        await asyncio.to_thread(publisher.publish_many, items)
        await wait_for(lambda: all(len(c.frames) == 2 for c in connections.values()), 5, "the frames")
        assert all(c.frames == [('{"v":1}', 1), ('{"v":2}', 2)] for c in connections.values())

        first, connection = sheet_ids[0], connections[sheet_ids[0]]
        await listener.leave(first, connection)
        assert listener._channel(first) not in listener._shards.subscribed
        # Left and joined again at once (a reload): Redis's confirmation of the leave is not
        # mistaken for the slot moving away.
        await listener.join(first, connection)
        await asyncio.to_thread(publisher.publish, first, '{"v":3}', None, 3)
        await wait_for(lambda: len(connection.frames) == 3, 5, "the frame after joining again")
        assert listener._shards.failures == 0 and connection.resyncs == 0
    finally:
        await listener._shards.close()


async def test_a_master_that_stops_answering_is_left_for_its_replica(redis_cluster):
    """A master that stops without closing its connections (its host gone, a partition; SIGSTOP
    here): no connection drops, but the slot map shows its replica in its place, and the bus moves
    there and replays."""
    from realtime.bus import RedisBus

    from .test_bus import Connection

    publisher, listener = RedisBus(redis_cluster.url, "gc-test"), RedisBus(redis_cluster.url, "gc-test")
    connection = Connection("c")
    try:
        await listener.join(1, connection)
        victim = redis_cluster.master_of(listener._channel(1))
        await asyncio.to_thread(redis_cluster.pause, victim)
        await asyncio.to_thread(redis_cluster.wait_healthy, 30)
        assert redis_cluster.master_of(listener._channel(1)) != victim
        await wait_for(lambda: connection.resyncs == 1, 15, "the replay after the move")
        for _ in range(50):  # the publisher learns the new master on its first failures
            with contextlib.suppress(Exception):
                await asyncio.to_thread(publisher.publish, 1, '{"v":1}', None, 1)
                break
            await asyncio.sleep(0.2)
        await wait_for(lambda: connection.frames == [('{"v":1}', 1)], 5, "a frame through the new master")
    finally:
        await listener._shards.close()


@pytest.fixture
def sheets_on_every_master(workspace, owner, editor, redis_cluster):
    """Three sheets whose channels live on three different masters, five rows each; tokens for
    the owner and the editor."""
    chosen = {}
    for _ in range(40):
        sheet = make_sheet(workspace, owner, rows=5, columns=[{"name": "A"}, {"name": "B"}])
        chosen.setdefault(redis_cluster.master_of(sheet_channel(sheet.pk)), sheet)
        if len(chosen) == 3:
            break
    assert len(chosen) == 3, "three sheets on three masters"
    sheets = [
        (sheet, list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True)))
        for sheet in chosen.values()
    ]
    keys = [ApiToken.issue(user=person, name="ws")[1] for person in (owner, editor)]
    return sheets, keys


@pytest.mark.django_db(transaction=True)  # the servers are other processes: they see only what is committed
async def test_a_master_killed_under_load_loses_no_acknowledged_edit(
    transactional_db, redis_cluster, sheets_on_every_master, editor
):
    sheets, (owner_key, editor_key) = sheets_on_every_master
    with running_servers(("uvicorn", "uvicorn"), redis_cluster.url) as servers:
        a, b = servers
        editors, watchers = {}, {}
        for sheet, _ in sheets:
            editors[sheet.pk] = [
                await SheetClient(url(a, sheet, owner_key), f"editor of {sheet.pk} on :{a.port}").start(),
                await SheetClient(url(b, sheet, editor_key), f"editor of {sheet.pk} on :{b.port}").start(),
            ]
            # A watcher never asks after its first hello: only its server can repair what it missed.
            watchers[sheet.pk] = await SheetClient(
                url(b, sheet, editor_key), f"watcher of {sheet.pk} on :{b.port}", gap_timeout=None
            ).start()
        clients = [c for pair in editors.values() for c in pair] + list(watchers.values())
        everyone = [c for pair in editors.values() for c in pair]

        def edit_for_a_while(tag):
            stop_editing = asyncio.Event()
            tasks = [
                asyncio.create_task(keep_editing(client, rows, stop_editing, f"{tag}.{sheet.pk}.{n}", pause=0.05))
                for sheet, rows in sheets
                for n, client in enumerate(editors[sheet.pk])
            ]

            async def stop_all():
                stop_editing.set()
                await asyncio.gather(*tasks)

            return stop_all

        async def acks_grow(by, among, timeout=30):
            before = [len(c.acks) for c in among]
            for client, count in zip(among, before):
                await client.wait(lambda c=client, n=count: len(c.acks) >= n + by, timeout, f"{by} more acks")

        try:
            assert readiness(a)["redis"] == "ok"  # /readyz pings the cluster
            start = {}
            for sheet, _ in sheets:
                start[sheet.pk], _ = await converged(editors[sheet.pk] + [watchers[sheet.pk]], sheet)

            stop_editing = edit_for_a_while("before")
            await acks_grow(5, everyone)
            victim_sheet, _ = sheets[0]
            victim = redis_cluster.master_of(sheet_channel(victim_sheet.pk))
            await asyncio.to_thread(redis_cluster.kill, victim)
            await acks_grow(5, everyone)  # edits commit and are acknowledged during the failover
            await asyncio.to_thread(redis_cluster.wait_healthy, 30)
            assert redis_cluster.master_of(sheet_channel(victim_sheet.pk)) != victim  # the replica took over
            await acks_grow(5, everyone)
            await stop_editing()
            for sheet, _ in sheets:
                await converged(editors[sheet.pk] + [watchers[sheet.pk]], sheet, timeout=60)
            assert [w.hellos for w in watchers.values()] == [1, 1, 1]  # the servers' replay, not theirs
            # The sheets of the other masters lost nothing: no replay beyond the first one's.
            assert [watchers[s.pk].received["replay"] for s, _ in sheets[1:]] == [1, 1]

            # The fan-out works again on every sheet: watchers get new edits as `ops` frames.
            since = {pk: watcher.version for pk, watcher in watchers.items()}
            stop_editing = edit_for_a_while("after")
            for pk, watcher in watchers.items():
                await watcher.wait(
                    lambda w=watcher, v=since[pk]: len([n for n in w.ops_versions if n > v]) >= 5,
                    30,
                    "ops after the failover",
                )
            await stop_editing()

            for sheet, _ in sheets:
                version, _ = await converged(editors[sheet.pk] + [watchers[sheet.pk]], sheet, timeout=60)
                # Every acknowledged edit is in the log with the version of its ack, and nothing else.
                acked = {op_id: ack["version"] for c in editors[sheet.pk] for op_id, ack in c.acks.items()}
                logged = await database_sync_to_async(
                    lambda s=sheet: {
                        str(op_id): v
                        for op_id, v in Operation.objects.filter(sheet=s, version__gt=start[s.pk]).values_list(
                            "op_id", "version"
                        )
                    }
                )()
                assert logged == acked
                assert version == start[sheet.pk] + len(acked)
                assert not any(c.rejected for c in editors[sheet.pk])

            # Revocation goes through the cluster's channel layer too: the editor, removed from the
            # workspace, loses every socket (4403), on both servers.
            layer = {
                "BACKEND": "realtime.layers.ClusterChannelLayer",
                "CONFIG": {"url": redis_cluster.url, "prefix": f"gridcast:{settings.INSTALLATION_NAME}:asgi"},
            }
            with override_settings(CHANNEL_LAYERS={"default": layer}):
                await database_sync_to_async(lambda: Membership.objects.filter(user=editor).delete())()
            for client in [pair[1] for pair in editors.values()] + list(watchers.values()):
                await client.wait(lambda c=client: 4403 in c.close_codes, 15, "the 4403 close")
            assert all(4403 not in pair[0].close_codes for pair in editors.values())
        except BaseException:
            print(logs(servers))
            for c in clients:
                print(c.name, c.status(), dict(c.received))
            raise
        finally:
            await stop(clients)
