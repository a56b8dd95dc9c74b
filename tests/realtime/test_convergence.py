"""Convergence, as a property: whatever several people do at once on a sheet through two server
processes (edit cells, insert and delete rows, undo and redo, lose their connection), once they
stop, every client's model of the sheet equals the database and every other client's."""

import asyncio
import contextlib

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import ApiToken, Role
from sheets.models import Operation

from ..factories import make_sheet, member
from .servers import SheetClient, logs, running_servers, sheet_state

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "A"}, {"name": "B"}, {"name": "N", "type": "integer"}]
# What a write may be refused for when others change the sheet at the same moment.
EXPECTED_REFUSALS = {"invalid_value", "not_found", "nothing_to_undo", "nothing_to_redo"}


@pytest.fixture
def cluster(transactional_db, workspace):
    """Two server processes (uvicorn and daphne) sharing Redis, and four editors' tokens."""
    people = [member(workspace, Role.EDITOR) for _ in range(4)]
    keys = [ApiToken.issue(user=person, name="ws")[1] for person in people]
    with running_servers(("uvicorn", "daphne"), django_settings.REDIS_URL) as servers:
        yield workspace, people[0], keys, servers


pick = st.integers(0, 1000)
text = st.text(alphabet="xyz", min_size=0, max_size=3)
action = st.one_of(
    st.tuples(st.just("edit"), pick, st.sampled_from(["c1", "c2"]), text),
    st.tuples(st.just("edit"), pick, st.just("c3"), st.integers(-3, 3)),
    st.tuples(st.just("insert"), pick, text),
    st.tuples(st.just("delete"), pick),
    st.tuples(st.sampled_from(["undo", "redo"])),
    st.tuples(st.just("pause"), st.integers(0, 30)),
    st.tuples(st.just("drop")),
)
scripts = st.lists(st.lists(action, min_size=5, max_size=30), min_size=2, max_size=4)


def in_order(client):
    return [pk for pk, row in sorted(client.rows.items(), key=lambda item: (item[1]["position"], item[0]))]


async def play(client, script):
    """Carry out one person's actions without waiting for answers, choosing rows from what the
    client sees at that moment (which may already be stale on the server)."""
    for kind, *args in script:
        rows = in_order(client)
        if kind == "edit":
            number, col, value = args
            if rows:
                await client.edit(rows[number % len(rows)], col, value)
        elif kind == "insert":
            number, value = args
            after = rows[number % len(rows)] if rows and number % 3 else None
            await client.write({"type": "insert_rows", "rows": [{"c1": value}], "after": after})
        elif kind == "delete":
            if rows:
                await client.write({"type": "delete_rows", "row_ids": [rows[args[0] % len(rows)]]})
        elif kind in ("undo", "redo"):
            await client.write({"type": kind})
        elif kind == "pause":
            await asyncio.sleep(args[0] / 1000)
        elif kind == "drop":
            await client.drop()


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(scripts=scripts)
async def test_concurrent_clients_on_two_processes_converge_to_the_database(cluster, scripts):
    workspace, owner, keys, servers = cluster
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=4, columns=COLUMNS)
    clients = []
    try:
        for number, _script in enumerate(scripts):
            server = servers[number % len(servers)]
            path = f"/ws/sheets/{sheet.pk}/?token={keys[number]}"
            clients.append(await SheetClient(server.ws_url(path), f"client {number} on {server.kind}").start())
        for client in clients:
            await client.synced(sheet.version)
        await asyncio.gather(*(play(client, script) for client, script in zip(clients, scripts)))

        for client in clients:
            await client.wait(lambda c=client: not c.unacked, 60, "its writes to be answered")
        version, rows = await database_sync_to_async(sheet_state)(sheet.pk)
        for client in clients:
            await client.synced(version, 60)
        for client in clients:
            assert client.version == version, client.status()
            assert client.model() == rows, f"{client.name} differs from the database"
            assert not client.anomalies, client.anomalies
            refusals = {error["code"] for error in client.rejected.values()}
            assert refusals <= EXPECTED_REFUSALS, client.rejected

        # The log since the sheet was made is exactly the acknowledged writes, each once.
        acked = {op_id: ack["version"] for client in clients for op_id, ack in client.acks.items()}
        logged = await database_sync_to_async(
            lambda: {
                str(op_id): v
                for op_id, v in Operation.objects.filter(sheet_id=sheet.pk, version__gt=sheet.version).values_list(
                    "op_id", "version"
                )
            }
        )()
        assert logged == acked
    except BaseException:
        print(logs(servers))
        for client in clients:
            print(client.name, client.status())
        raise
    finally:
        with contextlib.suppress(Exception):
            await asyncio.gather(*(client.close() for client in clients))
