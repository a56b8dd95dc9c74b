"""The realtime path across real server processes: fan-out through Redis between uvicorn and
daphne processes, reconnect with hello and resend by op_id, and a Redis restart under load."""

import asyncio
import contextlib
import itertools
import json
import random

import pytest
from channels.db import database_sync_to_async
from django.conf import settings

from accounts.models import ApiToken
from sheets.models import Operation, Row

from ..factories import make_sheet
from .servers import RedisProcess, SheetClient, logs, running_servers, sheet_state

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def start_servers(transactional_db):
    """start_servers(kinds, redis_url=None): real server processes, stopped after the test
    (before the test database is flushed)."""
    stack = contextlib.ExitStack()
    started = []

    def start(kinds, redis_url=None, **env):
        servers = stack.enter_context(running_servers(kinds, redis_url or settings.REDIS_URL, **env))
        started.extend(servers)
        return servers

    start.started = started
    yield start
    stack.close()


@pytest.fixture
def private_redis():
    redis = RedisProcess().start()
    yield redis
    redis.close()


@pytest.fixture
def room(workspace, owner, editor):
    """A sheet with text columns c1, c2, an integer column c3 and five rows; a token for the
    owner and one for the editor."""
    sheet = make_sheet(
        workspace, owner, rows=5, columns=[{"name": "A"}, {"name": "B"}, {"name": "N", "type": "integer"}]
    )
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    keys = [ApiToken.issue(user=person, name="ws")[1] for person in (owner, editor)]
    return sheet, rows, keys


def url(server, sheet, key):
    return server.ws_url(f"/ws/sheets/{sheet.pk}/?token={key}")


async def converged(clients, sheet, timeout=30):
    """Every client has all its writes answered and equals the database; returns the state."""
    for client in clients:
        await client.wait(lambda c=client: not c.unacked, timeout, "its writes to be answered")
    version, rows = await database_sync_to_async(sheet_state)(sheet.pk)
    for client in clients:
        await client.synced(version, timeout)
    for client in clients:
        assert client.version == version, client.status()
        assert client.model() == rows, f"{client.name} differs from the database"
        assert not client.anomalies, client.anomalies
    return version, rows


async def stop(clients):
    await asyncio.gather(*(client.close() for client in clients))


# --- (a) across processes ----------------------------------------------------------------------


@pytest.mark.parametrize("kinds", [("uvicorn", "uvicorn"), ("daphne", "uvicorn")])
async def test_an_edit_on_one_process_reaches_the_clients_of_the_other(kinds, start_servers, room):
    sheet, rows, (owner_key, editor_key) = room
    a, b = start_servers(kinds)
    alice = await SheetClient(url(a, sheet, owner_key), "alice on " + a.kind).start()
    bob = await SheetClient(url(b, sheet, editor_key), "bob on " + b.kind).start()
    try:
        await converged([alice, bob], sheet)  # both learned the sheet from a replay of the log
        for sender, receiver, value in [(alice, bob, "from A"), (bob, alice, "from B")]:
            ack = await sender.result(await sender.edit(rows[1], "c1", value))
            assert ack["type"] == "ack", ack
            await receiver.synced(ack["version"], timeout=10)
            # It came through the fan-out as an `ops` frame, not through a replay after a gap.
            assert ack["version"] in receiver.ops_versions, receiver.status()
            assert receiver.model()[rows[1]][1] == {"c1": value}
        assert alice.hellos == bob.hellos == 1  # only the first one, to learn the sheet
        await converged([alice, bob], sheet)
    except BaseException:
        print(logs(start_servers.started))
        raise
    finally:
        await stop([alice, bob])


async def test_idle_connections_stay_open(start_servers, room):
    """The channel layer polls Redis in 5 s waits; a read timeout as short as that (redis-py 8's
    default) used to end every idle connection after 5 s."""
    sheet, rows, (owner_key, editor_key) = room
    a, b = start_servers(("uvicorn", "daphne"))
    alice = await SheetClient(url(a, sheet, owner_key), "alice").start()
    bob = await SheetClient(url(b, sheet, editor_key), "bob").start()
    try:
        await converged([alice, bob], sheet)
        await asyncio.sleep(7)  # idle for longer than one poll of the channel layer; nothing to wait for
        ack = await alice.result(await alice.edit(rows[0], "c2", "still here"))
        await bob.synced(ack["version"], timeout=10)
        assert ack["version"] in bob.ops_versions
        assert alice.connects == bob.connects == 1 and not alice.close_codes and not bob.close_codes
        assert "channel layer unavailable" not in logs(start_servers.started)
    finally:
        await stop([alice, bob])


async def test_tokens_are_not_written_to_the_server_log(start_servers, room, monkeypatch):
    """uvicorn at log level info writes each WebSocket's path with its query string."""
    sheet, _, (owner_key, _) = room
    monkeypatch.setenv("GC_TEST_SERVER_LOG", "info")
    (server,) = start_servers(("uvicorn",))
    client = await SheetClient(url(server, sheet, owner_key), "script").start()
    await stop([client])
    log = server.log.read_text(errors="replace")
    assert f"/ws/sheets/{sheet.pk}/?token=[redacted]" in log, log
    assert owner_key not in log


# --- (b) reconnect -----------------------------------------------------------------------------


async def test_a_client_that_was_away_catches_up_with_hello_and_resends_exactly_once(start_servers, room, editor):
    sheet, rows, (owner_key, editor_key) = room
    a, b = start_servers(("uvicorn", "uvicorn"))
    alice = await SheetClient(url(a, sheet, owner_key), "alice").start()
    carol = await SheetClient(url(b, sheet, editor_key), "carol").start()
    clients = [alice, carol]
    try:
        await converged(clients, sheet)

        # An ack lost with the connection: carol's edit was applied, she never heard so.
        lost = await carol.edit(rows[0], "c1", "carol's, first")
        first = await carol.result(lost)
        del carol.acks[lost]
        carol.unacked[lost] = {
            "type": "edit",
            "op_id": lost,
            "cells": [{"row": rows[0], "col": "c1", "value": "carol's, first"}],
        }
        inserted = await carol.write({"type": "insert_rows", "count": 1, "after": rows[4]})
        first_insert = await carol.result(inserted)
        del carol.acks[inserted]
        carol.unacked[inserted] = {"type": "insert_rows", "op_id": inserted, "count": 1, "after": rows[4]}
        await carol.go_offline()

        # Meanwhile: others write (a later value for carol's cell, rows added, moved and deleted),
        # and carol writes offline.
        offline = await carol.edit(rows[2], "c3", 42)
        await alice.result(await alice.edit(rows[0], "c1", "alice's, later"))
        for value in range(3):
            await alice.result(await alice.edit(rows[1], "c2", f"v{value}"))
        added = await alice.result(
            await alice.write({"type": "insert_rows", "rows": [{"c1": "new"}], "after": rows[0]})
        )
        await alice.result(await alice.write({"type": "delete_rows", "row_ids": [rows[3]]}))
        await alice.result(await alice.write({"type": "move_rows", "row_ids": [rows[4]], "before": rows[0]}))
        assert added["type"] == "ack"

        carol.go_online()
        again = await carol.result(lost)
        assert again["version"] == first["version"]  # the original ack, not a second application
        assert (await carol.result(inserted))["version"] == first_insert["version"]
        assert (await carol.result(offline))["type"] == "ack"
        version, state = await converged(clients, sheet)
        assert carol.connects == 2 and carol.hellos >= 2
        assert state[rows[0]][1]["c1"] == "alice's, later"  # the resend did not overwrite the later write
        assert state[rows[2]][1]["c3"] == 42 and rows[3] not in state
        assert len(state) == 5 + 1 + 1 - 1  # one row each from carol's insert and alice's
        count = await database_sync_to_async(lambda: Operation.objects.filter(op_id__in=[lost, inserted]).count())()
        assert count == 2
    except BaseException:
        print(logs(start_servers.started))
        raise
    finally:
        await stop(clients)


async def test_a_write_sent_just_before_the_connection_drops_is_applied_at_most_once(start_servers, room):
    sheet, rows, (owner_key, editor_key) = room
    a, b = start_servers(("uvicorn", "uvicorn"))
    alice = await SheetClient(url(a, sheet, owner_key), "alice").start()
    carol = await SheetClient(url(b, sheet, editor_key), "carol").start()
    clients = [alice, carol]
    try:
        await converged(clients, sheet)
        op_ids = []
        for _ in range(5):  # the server may or may not have read it: either way it applies once
            connects = carol.connects
            op_ids.append(await carol.write({"type": "insert_rows", "count": 1}))
            await carol.drop()
            await carol.wait(lambda before=connects: carol.connects > before, 15, "the reconnection")
        answers = [await carol.result(op_id) for op_id in op_ids]
        assert all(answer["type"] == "ack" for answer in answers), answers
        version, state = await converged(clients, sheet)
        assert len(state) == 5 + 5
        count = await database_sync_to_async(lambda: Operation.objects.filter(op_id__in=op_ids).count())()
        assert count == 5
    except BaseException:
        print(logs(start_servers.started))
        raise
    finally:
        await stop(clients)


# --- (c) Redis restarted under load ------------------------------------------------------------


async def keep_editing(client, rows, stop_event, tag, pause=0.03):
    """Edit random cells (values unique to this client), now and then add a row, until told to stop."""
    rng = random.Random(tag)
    for number in itertools.count():
        if stop_event.is_set():
            return
        if number % 25 == 24:
            await client.write({"type": "insert_rows", "rows": [{"c1": f"{tag} row {number}"}]})
        else:
            await client.edit(rng.choice(rows), rng.choice(["c1", "c2"]), f"{tag} {number}")
        await asyncio.sleep(pause)


async def test_clients_recover_from_a_redis_restart_and_no_acknowledged_edit_is_lost(
    start_servers, private_redis, room
):
    sheet, rows, (owner_key, editor_key) = room
    a, b = start_servers(("uvicorn", "uvicorn"), redis_url=private_redis.url)
    editors = [
        await SheetClient(url(server, sheet, key), f"editor {n} on :{server.port}").start()
        for n, (server, key) in enumerate([(a, owner_key), (a, editor_key), (b, owner_key), (b, editor_key)])
    ]
    # Watchers never ask for anything after their first hello: only the servers can repair what
    # they missed while Redis was down (the bus resubscribes and replays to every connection).
    watchers = [
        await SheetClient(url(server, sheet, editor_key), f"watcher on :{server.port}", gap_timeout=None).start()
        for server in (a, b)
    ]
    clients = editors + watchers
    loop = asyncio.get_running_loop()

    async def acks_grow(by, among):
        before = [len(c.acks) for c in among]
        for client, count in zip(among, before):
            await client.wait(lambda c=client, n=count: len(c.acks) >= n + by, 60, f"{by} more acks")

    def edit_for_a_while():
        stop_editing = asyncio.Event()
        tasks = [
            asyncio.create_task(keep_editing(c, rows, stop_editing, f"e{n}.{loop.time()}"))
            for n, c in enumerate(editors)
        ]

        async def stop_all():
            stop_editing.set()
            await asyncio.gather(*tasks)

        return stop_all

    try:
        start_version, _ = await converged(clients, sheet)
        stop_editing = edit_for_a_while()
        await acks_grow(10, editors)

        await asyncio.to_thread(private_redis.stop, kill=True)
        await acks_grow(10, editors)  # writes still commit and are acknowledged while Redis is down
        dropped = editors[0]
        failures = len(dropped.close_codes)
        await dropped.drop()  # and a client that loses its connection cannot come back yet
        await dropped.wait(
            lambda: len(dropped.close_codes) >= failures + 3 and len(dropped.unacked) >= 3,
            30,
            "refused reconnections while Redis is down",
        )
        await stop_editing()
        for client in editors[1:]:
            await client.wait(lambda c=client: not c.unacked, 30, "its writes to be answered")
        # They missed the other server's writes of the outage (their own server's reach them directly).
        outage_version, _ = await database_sync_to_async(sheet_state)(sheet.pk)
        assert all(w.version < outage_version for w in watchers)

        await asyncio.to_thread(private_redis.start)
        restarted_version, _ = await converged(clients, sheet, timeout=60)
        assert dropped.connects == 2
        assert [w.hellos for w in watchers] == [1, 1]  # the servers' replay alone brought them up to date

        # The fan-out works again: watchers get new writes as `ops` frames.
        stop_editing = edit_for_a_while()
        for watcher in watchers:
            await watcher.wait(
                lambda w=watcher: len([v for v in w.ops_versions if v > restarted_version]) >= 10,
                30,
                "ops after the restart",
            )
        await stop_editing()
        version, state = await converged(clients, sheet, timeout=60)

        # Every acknowledged write is in the log with the version of its ack, and the log holds
        # nothing else since the start.
        acked = {op_id: ack["version"] for c in editors for op_id, ack in c.acks.items()}
        logged = await database_sync_to_async(
            lambda: {
                str(op_id): v
                for op_id, v in Operation.objects.filter(sheet=sheet, version__gt=start_version).values_list(
                    "op_id", "version"
                )
            }
        )()
        assert logged == acked
        assert version == start_version + len(acked) and not any(c.rejected for c in editors)

        # Presence shows who is here, not connections that ended while Redis was away.
        late = await SheetClient(url(a, sheet, owner_key), "late").start()
        clients.append(late)
        here = {c.welcome["you"]["connection"] for c in (editors[0], editors[1], watchers[0])}
        assert {p["connection"] for p in late.welcome["presence"]} == here
    except BaseException:
        print(logs(start_servers.started))
        for c in clients:
            print(c.name, c.status(), dict(c.received))
        raise
    finally:
        await stop(clients)


async def test_a_client_that_reads_nothing_is_closed_with_4008_and_the_others_get_everything(start_servers, room):
    """A subscriber that stops reading: once the server holds its writes back (its buffers are
    full) and more than WS_MAX_BACKLOG frames wait behind them, it is closed with 4008. The
    others, reading, get every operation as an `ops` frame and stay connected."""
    sheet, rows, (owner_key, editor_key) = room
    (server,) = start_servers(
        ("uvicorn",), GRIDCAST_WS_MAX_BACKLOG=20, GRIDCAST_WS_EDITS_PER_SECOND=100_000, GRIDCAST_WS_EDIT_BURST=100_000
    )
    watchers = [
        await SheetClient(url(server, sheet, editor_key), f"watcher {n}", gap_timeout=None).start() for n in range(3)
    ]
    writer = await SheetClient(url(server, sheet, owner_key), "writer").start()
    # The stalled client: bench/fanout.py's bare WebSocket client, which stops reading at once.
    from bench.fanout import open_connection

    stalled_frames = []
    stalled = await open_connection(
        server.port, f"/ws/sheets/{sheet.pk}/?token={editor_key}", lambda payload, now: stalled_frames.append(payload)
    )
    stalled.transport.pause_reading()
    start = json.loads(stalled.welcome.result())["version"]
    clients = watchers + [writer]
    try:
        # Frames of 100 kB (every text cell of the sheet, nearly full): the socket's buffers (up to
        # 4 MB on Linux) fill after a few dozen of them.
        filler = "x" * 9_990
        for i in range(150):
            cells = [{"row": row, "col": col, "value": f"{i} {filler}"} for row in rows for col in ("c1", "c2")]
            answer = await writer.result(await writer.write({"type": "edit", "cells": cells}))
            assert answer["type"] == "ack", answer
        version = answer["version"]
        for watcher in watchers:
            await watcher.synced(version)
            assert sorted(v for v in watcher.ops_versions if v > start) == list(range(start + 1, version + 1))
            assert watcher.connects == 1 and watcher.close_codes == [] and not watcher.anomalies
        # Reading again, the stalled client gets what was in the buffers, then the close.
        stalled.transport.resume_reading()
        deadline = asyncio.get_running_loop().time() + 60
        while stalled.close_code is None and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        assert stalled.close_code == 4008, (stalled.close_code, len(stalled_frames), logs([server]))
        assert len(stalled_frames) < version - start
    finally:
        stalled.close()
        await stop(clients)
