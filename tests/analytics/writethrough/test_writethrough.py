"""The write-through of sheet data into DuckLake, on real PostgreSQL and DuckLake (the lake and
the `writer` fixture: tests/analytics/conftest.py)."""

import os
import random
import signal
import subprocess
import sys
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from accounts.models import ApiToken
from analytics.lake import connections as lake_connections
from analytics.lake import maintenance
from analytics.lake import schema as lake_schema
from analytics.queries import selectors
from analytics.writethrough.writer import Writer
from sheets import services, undo
from sheets.models import Column, Row, Sheet
from sheets.services import columns as column_services
from tests.analytics.sheet_lake import assert_lake_matches, random_value
from tests.factories import make_sheet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]


@pytest.fixture
def rng():
    seed = random.randrange(10**6)
    print(f"random seed {seed}")
    return random.Random(seed)


def columns_of(sheet):
    return {c.key: c for c in Column.objects.filter(sheet_id=sheet.pk, deleted=False)}


def random_edits(sheet, actor, rng, count):
    """A mix of every row and cell write, through the services, with values of each type."""
    for _ in range(count):
        columns = columns_of(sheet)
        rows = list(Row.objects.filter(sheet_id=sheet.pk).values_list("pk", flat=True))
        roll = rng.random()
        if roll < 0.55 and rows:
            cells = []
            for _ in range(rng.randint(1, 6)):
                column = rng.choice(list(columns.values()))
                cells.append(
                    {
                        "row": rng.choice(rows),
                        "col": column.key,
                        "value": random_value(rng, column.type, column.options),
                    }
                )
            services.cells_update(sheet=sheet, actor=actor, cells=cells, op_id=uuid.uuid4())
        elif roll < 0.7 or not rows:
            new = [
                {c.key: random_value(rng, c.type, c.options) for c in rng.sample(list(columns.values()), 3)}
                for _ in range(rng.randint(1, 4))
            ]
            anchor = {"after": rng.choice(rows)} if rows and rng.random() < 0.5 else {}
            services.rows_insert(sheet=sheet, actor=actor, rows=new, **anchor)
        elif roll < 0.8:
            services.rows_delete(sheet=sheet, actor=actor, row_ids=rng.sample(rows, min(len(rows), rng.randint(1, 2))))
        elif roll < 0.9 and len(rows) > 2:
            moving = rng.sample(rows, 2)
            anchor = rng.choice([r for r in rows if r not in moving])
            services.rows_move(sheet=sheet, actor=actor, row_ids=moving, before=anchor)
        elif roll < 0.97:
            undo.operation_undo(sheet=sheet, actor=actor, op_id=uuid.uuid4())
        else:
            undo.operation_redo(sheet=sheet, actor=actor, op_id=uuid.uuid4())
        sheet.refresh_from_db()


def test_random_edits_through_the_services_reach_the_view(workspace, owner, writer, rng):
    sheet = make_sheet(workspace, owner, rows=5)
    random_edits(sheet, owner, rng, 120)
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    # And again from where the checkpoint is, after more edits.
    random_edits(sheet, owner, rng, 60)
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    checkpoint = writer.con.execute(
        "SELECT max(version) FROM (SELECT version FROM sheet_state WHERE sheet_id = $1"
        " UNION ALL SELECT version FROM sheet_versions WHERE sheet_id = $1)",
        [sheet.pk],
    ).fetchone()[0]
    assert checkpoint == Sheet.objects.get(pk=sheet.pk).version


def test_several_sheets_each_with_its_workspace(workspace, owner, writer, rng):
    from accounts.models import Role
    from tests.factories import WorkspaceFactory, member

    other = WorkspaceFactory()
    other_owner = member(other, Role.OWNER)
    a = make_sheet(workspace, owner, rows=2, name="A")
    b = make_sheet(other, other_owner, rows=2, name="B")
    random_edits(a, owner, rng, 20)
    random_edits(b, other_owner, rng, 20)
    services.rows_insert(sheet=b, actor=other_owner, rows=[{}])  # the random edits may have deleted every row
    writer.catch_up()
    assert_lake_matches(a.pk)
    assert_lake_matches(b.pk)
    _, rows = lake_connections.query(f"SELECT DISTINCT workspace_id FROM {lake_schema.sheet_view_name(b.pk)}")
    assert rows == [(other.pk,)]


def test_schema_changes_are_reflected_in_the_view(workspace, owner, writer, rng, monkeypatch):
    sheet = make_sheet(workspace, owner, rows=4)
    random_edits(sheet, owner, rng, 30)
    writer.catch_up()
    assert_lake_matches(sheet.pk)

    steps = [
        lambda: services.column_add(sheet=sheet, actor=owner, name="Total (€)", type="number", after="c1"),
        lambda: services.column_rename(sheet=sheet, actor=owner, key="c1", name="1st name"),
        lambda: services.column_rename(sheet=sheet, actor=owner, key="c7", name="AMOUNT!"),  # sanitises to a taken name
        lambda: services.column_retype(sheet=sheet, actor=owner, key="c2", type="text"),
        lambda: services.column_retype(sheet=sheet, actor=owner, key="c1", type="number"),  # most values cleared
        lambda: services.column_retype(sheet=sheet, actor=owner, key="c3", type="number"),
        lambda: services.column_move(sheet=sheet, actor=owner, key="c4", before="c1"),
        lambda: services.column_delete(sheet=sheet, actor=owner, key="c7"),
    ]
    for step in steps:
        step()
        sheet.refresh_from_db()
        random_edits(sheet, owner, rng, 5)
        writer.catch_up()
        assert_lake_matches(sheet.pk)
    # Undoing a delete brings the column back with its values, which the lake kept.
    services.column_delete(sheet=sheet, actor=owner, key="c5")
    writer.catch_up()
    assert "day" not in [c for c, *_ in lake_connections.query(f"DESCRIBE {lake_schema.sheet_view_name(sheet.pk)}")[1]]
    undo.operation_undo(sheet=sheet, actor=owner, op_id=uuid.uuid4())
    writer.catch_up()
    assert "day" in [c for c, *_ in lake_connections.query(f"DESCRIBE {lake_schema.sheet_view_name(sheet.pk)}")[1]]
    assert_lake_matches(sheet.pk)
    # A retype changing more values than an operation carries: the writer reloads the sheet.
    monkeypatch.setattr(column_services, "RETYPE_VALUES_IN_PAYLOAD", 1)
    services.rows_insert(sheet=sheet, actor=owner, count=2)  # the random edits may have left one row or none
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": r, "col": "c6", "value": "2024-05-01T10:00:00Z"}
            for r in Row.objects.filter(sheet=sheet).values_list("pk", flat=True)
        ],
    )
    op = services.column_retype(sheet=sheet, actor=owner, key="c6", type="date")
    assert op.payload.get("reload")
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    types = dict(
        (name, kind)
        for name, kind, *_ in lake_connections.query(f"DESCRIBE {lake_schema.sheet_view_name(sheet.pk)}")[1]
    )
    assert types["_row"] == "BIGINT" and types["workspace_id"] == "BIGINT" and types["at"] == "DATE"
    random_edits(sheet, owner, rng, 5)  # (an undo among them may revert the retype)
    writer.catch_up()
    assert_lake_matches(sheet.pk)


def test_sheet_rename_and_deletion(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, rows=2)
    services.sheet_rename(sheet=sheet, actor=owner, name="Renamed")
    writer.catch_up()
    assert writer.states[sheet.pk].name == "Renamed"
    assert len(selectors.sheet_rows(sheet.pk)) == 2
    sheet_id = sheet.pk
    services.sheet_delete(sheet=sheet, actor=owner)
    writer.catch_up()
    assert sheet_id not in writer.states
    with pytest.raises(Exception, match="does not exist"):
        lake_connections.query(f"SELECT * FROM {lake_schema.sheet_view_name(sheet_id)}")
    tables = {
        t
        for (t,) in writer.con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = 'lake'").fetchall()
    }
    assert f"sheet_{sheet_id}_base" not in tables
    assert writer.con.execute("SELECT count(*) FROM sheet_state WHERE sheet_id = ?", [sheet_id]).fetchone()[0] == 0


def test_bulk_rows_are_loaded_from_the_database(workspace, owner, writer):
    """seed_demo's rows.insert carries no rows ({"bulk": true}): the sheet is read from PostgreSQL."""
    call_command("seed_demo", rows=300, cols=12, seed=7, verbosity=0)
    sheet = Sheet.objects.get(name="orders")
    writer.catch_up()
    assert_lake_matches(sheet.pk)


def test_compaction_moves_the_watermark_and_keeps_the_view(workspace, owner, writer, rng):
    sheet = make_sheet(workspace, owner, rows=3)
    random_edits(sheet, owner, rng, 40)
    writer.catch_up()
    events = writer.con.execute("SELECT count(*) FROM cell_events WHERE sheet_id = ?", [sheet.pk]).fetchone()[0]
    folded = writer.compact(writer.states[sheet.pk])
    assert folded.watermark == writer.batch and folded.pending == 0
    assert_lake_matches(sheet.pk)
    # Events are not deleted (that conflicts with concurrent appends); the view skips them.
    assert writer.con.execute("SELECT count(*) FROM cell_events WHERE sheet_id = ?", [sheet.pk]).fetchone()[0] == events
    random_edits(sheet, owner, rng, 40)
    services.column_add(sheet=sheet, actor=owner, name="Late", type="integer")
    sheet.refresh_from_db()
    random_edits(sheet, owner, rng, 10)
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    writer.compact(writer.states[sheet.pk])
    assert_lake_matches(sheet.pk)


def test_background_compaction_keeps_batches_going_and_the_view(workspace, owner, writer, rng, settings):
    settings.ANALYTICS = {**settings.ANALYTICS, "COMPACT_EVENTS": 1}
    sheet = make_sheet(workspace, owner, rows=3)
    random_edits(sheet, owner, rng, 40)
    writer.catch_up()
    assert writer.compact_in_background() is None  # the fold starts in a thread
    job = writer._fold_job
    random_edits(sheet, owner, rng, 20)  # applied while the fold runs: they stay after the watermark
    writer.catch_up()
    job["done"].wait(30)
    folded = writer.compact_in_background()
    assert folded is not None and folded.watermark == job["upto"] < writer.batch
    assert_lake_matches(sheet.pk)
    # A schema change during the fold: the fold is dropped, the next one is installed.
    writer.compact_in_background()
    job = writer._fold_job
    services.column_add(sheet=sheet, actor=owner, name="During", type="integer")
    sheet.refresh_from_db()
    random_edits(sheet, owner, rng, 10)
    writer.catch_up()
    job["done"].wait(30)
    assert writer.compact_in_background() is None
    assert_lake_matches(sheet.pk)
    writer.compact_in_background()
    writer._fold_job["done"].wait(30)
    assert writer.compact_in_background() is not None
    assert_lake_matches(sheet.pk)
    _no_duplicate_events(writer.con, sheet.pk)


def _no_duplicate_events(con, sheet_id):
    total, distinct = con.execute(
        "SELECT count(*), count(DISTINCT ord) FROM cell_events WHERE sheet_id = ?", [sheet_id]
    ).fetchone()
    assert total == distinct


def test_failure_between_append_and_checkpoint_loses_and_duplicates_nothing(workspace, owner, writer, rng):
    sheet = make_sheet(workspace, owner, rows=5)
    random_edits(sheet, owner, rng, 30)
    writer.catch_up()
    random_edits(sheet, owner, rng, 30)

    def crash():
        raise RuntimeError("injected between append and commit")

    writer.before_commit = crash
    with pytest.raises(RuntimeError, match="injected"):
        writer.step()
    writer.close()
    again = Writer()
    try:
        again.catch_up()
        assert_lake_matches(sheet.pk)
        _no_duplicate_events(again.con, sheet.pk)
    finally:
        again.close()


KILLED_WRITER = """
import os, signal, sys
import django
django.setup()
from analytics.writethrough.writer import Writer
writer = Writer()
writer.before_commit = lambda: os.kill(os.getpid(), signal.SIGKILL)
writer.step()
print("not killed")
"""


def _subprocess_env():
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )
    env["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    env["PYTHONPATH"] = str(settings.BASE_DIR)
    return env


def test_writer_killed_mid_batch_loses_and_duplicates_nothing(workspace, owner, rng):
    sheet = make_sheet(workspace, owner, rows=5)
    random_edits(sheet, owner, rng, 40)
    connection.close()
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER],
        env=_subprocess_env(),
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-3000:]
    writer = Writer()
    try:
        assert sheet.pk not in writer.states  # nothing of the killed batch was committed
        writer.catch_up()
        assert_lake_matches(sheet.pk)
        _no_duplicate_events(writer.con, sheet.pk)
    finally:
        writer.close()


def test_worker_killed_at_random_moments_under_edits(workspace, owner, rng):
    """`manage.py analytics_worker` SIGKILLed several times while edits keep coming."""
    import time

    sheet = make_sheet(workspace, owner, rows=5)
    for _round in range(4):
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "analytics_worker", "-v", "0"],
            env=_subprocess_env(),
            cwd=settings.BASE_DIR,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + rng.uniform(1.5, 4.0)
            while time.monotonic() < deadline:
                random_edits(sheet, owner, rng, 3)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
    connection.close()
    writer = Writer()
    try:
        writer.catch_up()
        assert_lake_matches(sheet.pk)
        _no_duplicate_events(writer.con, sheet.pk)
    finally:
        writer.close()


def test_worker_stops_on_sigterm(workspace, owner):
    import time

    sheet = make_sheet(workspace, owner, rows=2)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "analytics_worker"],
        env=_subprocess_env(),
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(selectors.sheet_rows(sheet.pk)) == 2:
                    break
            except Exception:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the worker did not write the sheet")
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "stopped" in output


def inlined_rows(table):
    """Live rows of `table` that DuckLake keeps in the catalog's inlined-data tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.table_name FROM ducklake.ducklake_inlined_data_tables i JOIN ducklake.ducklake_table t"
            " USING (table_id) WHERE t.table_name = %s AND t.end_snapshot IS NULL",
            [table],
        )
        total = 0
        for (name,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM ducklake."{name}" WHERE end_snapshot IS NULL')
            total += cursor.fetchone()[0]
    return total


def test_upkeep_flushes_inlined_batches_and_merges_files_without_changing_the_data(workspace, owner, writer, rng):
    sheet = make_sheet(workspace, owner, rows=5)
    for _ in range(5):
        random_edits(sheet, owner, rng, 4)
        writer.catch_up()
    assert inlined_rows("cell_events") > 0  # small batches: in the catalog, no file each
    maintenance.maintain(writer.con, retention=0, merge_from=2)
    assert inlined_rows("cell_events") == 0
    assert writer.con.execute("SELECT count(*) FROM ducklake_list_files('lake', 'cell_events')").fetchone()[0] == 1
    assert_lake_matches(sheet.pk)
    random_edits(sheet, owner, rng, 10)
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    _no_duplicate_events(writer.con, sheet.pk)


def test_an_idle_worker_wakes_when_an_edit_commits(workspace, owner):
    """The worker polls every 30 s here: an edit shows in seconds only because the commit's
    NOTIFY (migration analytics 0005) wakes it."""
    import time

    sheet = make_sheet(workspace, owner, rows=1)
    column = sheet.columns.get(name="Name")
    row = sheet.rows.get()
    env = {**_subprocess_env(), "ANALYTICS_WRITER_INTERVAL": "30"}
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "analytics_worker", "-v", "0"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def shows(value, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                if [r["name"] for r in selectors.sheet_rows(sheet.pk)] == [value]:
                    return True
            except Exception:  # the view is not there yet
                pass
            time.sleep(0.05)
        return False

    try:
        assert shows(None, 60), "the worker did not write the sheet"
        time.sleep(1)  # idle now, waiting
        for value in ("first", "second"):
            services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row.pk, "col": column.key, "value": value}])
            assert shows(value, 10), f"{value!r} did not reach the lake"
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)


def test_rebuild_equals_the_database_and_the_writer_continues(workspace, owner, writer, rng):
    a = make_sheet(workspace, owner, rows=4, name="A")
    b = make_sheet(workspace, owner, rows=4, name="B")
    random_edits(a, owner, rng, 40)
    random_edits(b, owner, rng, 40)
    writer.catch_up()
    random_edits(a, owner, rng, 20)  # not applied yet: the rebuild takes them from the database
    call_command("rebuild_analytics", sheet=[a.pk], verbosity=0)
    assert_lake_matches(a.pk)
    # The writer's state is stale now: it notices, reloads and continues from the rebuild's checkpoint.
    random_edits(a, owner, rng, 20)
    random_edits(b, owner, rng, 20)
    writer.catch_up()
    assert_lake_matches(a.pk)
    assert_lake_matches(b.pk)
    _no_duplicate_events(writer.con, a.pk)
    gone = make_sheet(workspace, owner, rows=1, name="Gone")
    writer.catch_up()
    Sheet.objects.filter(pk=gone.pk).delete()  # not through the services: the rebuild finds it
    call_command("rebuild_analytics", verbosity=0)
    assert_lake_matches(a.pk)
    assert_lake_matches(b.pk)
    with pytest.raises(Exception, match="does not exist"):
        lake_connections.query(f"SELECT * FROM {lake_schema.sheet_view_name(gone.pk)}")
    random_edits(b, owner, rng, 10)
    writer.catch_up()
    assert_lake_matches(b.pk)


async def test_edit_through_the_websocket_reaches_the_view(workspace, owner):
    sheet = await database_sync_to_async(make_sheet)(workspace, owner, rows=2)
    rows = await database_sync_to_async(
        lambda: list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    )()
    _, key = await database_sync_to_async(ApiToken.issue)(user=owner, name="ws")
    ws = WebsocketCommunicator(
        __import__("config.asgi", fromlist=["application"]).application,
        f"/ws/sheets/{sheet.pk}/?token={key}",
        headers=[(b"origin", b"http://127.0.0.1:8000")],
    )
    connected, _ = await ws.connect(timeout=5)
    assert connected
    try:
        frames = [
            {
                "type": "edit",
                "op_id": str(uuid.uuid4()),
                "cells": [
                    {"row": rows[0], "col": "c2", "value": "12.5"},
                    {"row": rows[1], "col": "c5", "value": "2024-02-29"},
                ],
            },
            {"type": "insert_rows", "op_id": str(uuid.uuid4()), "after": rows[0], "rows": [{"c1": "Bob", "c4": "yes"}]},
            {"type": "rename_column", "op_id": str(uuid.uuid4()), "key": "c2", "name": "Price"},
        ]
        import json

        for frame in frames:
            await ws.send_to(text_data=json.dumps(frame))
            while True:
                reply = json.loads(await ws.receive_from(timeout=5))
                if reply["type"] in ("ack", "error"):
                    assert reply["type"] == "ack", reply
                    break
    finally:
        await ws.disconnect()

    def check():
        writer = Writer()
        try:
            writer.catch_up()
        finally:
            writer.close()
        assert_lake_matches(sheet.pk)
        got = selectors.sheet_rows(sheet.pk)
        lake_connections.close()
        assert [r["price"] for r in got] == [12.5, None, None]
        assert got[1]["name"] == "Bob" and got[1]["paid"] is True

    await database_sync_to_async(check)()
    from django.db import connections

    await database_sync_to_async(connections.close_all)()
