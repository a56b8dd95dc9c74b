"""A lone edit's write path alone, in one process and without WebSocket: the server CPU of
realtime.edits' EditQueue (the hop to the database thread, the revocation check, the cell
service's transaction, the commit's announcements: the broadcast published to Redis and the
webhook check), one edit at a time, each finished before the next (10 ms apart). Then the same
with one part left out at a time, the cost of the pieces it is made of (a hop to the database
thread, one statement, a publish) and the floor of this machine (one bare psycopg statement from
the event loop, alone and back to back), to show where the CPU of a lone edit goes. bench/fanout.py's
lone-edit case measures the whole server (this path, the WebSocket frames and the Channels
consumer) against the 0.5 ms target of issue 18:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench REDIS_URL=redis://127.0.0.1:6379/11 \\
        .venv/bin/python bench/edit_path.py [--edits 1000]

Works in its own database, <name in DATABASE_URL>_edit_path, dropped at the end. CPU is this
process's (user + system, time.process_time), so run it on a quiet machine.
"""

import argparse
import asyncio
import contextlib
import gc
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")

from bench.common import drop_database, own_database  # noqa: E402

PAUSE = 0.01
ROUNDS = 5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=1000, help="edits measured in each case")
    return parser.parse_args()


def prepare():
    """An owner, a workspace and a sheet of 10 rows and one text column (c1)."""
    from accounts.models import Membership, Role, User, Workspace
    from sheets import services
    from sheets.models import Row

    owner = User.objects.create_user("bench@example.com", password="x")
    workspace = Workspace.objects.create(name="Bench")
    Membership.objects.create(workspace=workspace, user=owner, role=Role.OWNER)
    sheet = services.sheet_create(workspace=workspace, name="Lone", actor=owner, columns=[{"name": "A"}])
    services.rows_insert(sheet=sheet, actor=owner, count=10)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    return owner, sheet, rows


async def cpu_per_call(call, count, pause=PAUSE):
    """ms of this process's CPU per `await call(i)`, the calls `pause` apart (each one alone)."""
    for i in range(20):  # warm
        await call(i)
    spent = 0.0
    for i in range(count):
        started = time.process_time()
        await call(i)
        spent += time.process_time() - started
        await asyncio.sleep(pause)
    return spent / count * 1000


async def measure(args, url, owner, sheet, rows):
    from channels.db import database_sync_to_async
    from django.db import connection

    from accounts.permissions import Access
    from analytics.webhooks import events as webhook_events
    from realtime import broadcast, edits
    from realtime.revocation import Guard, stamps_of
    from sheets.services import Edit
    from sheets.signals import operations_committed

    guard = Guard(owner, None, lambda user: Access.EDIT)
    guard.value, guard.stamp = Access.EDIT, (await database_sync_to_async(stamps_of)([owner.pk]))[owner.pk]
    queue = edits.queue_for(sheet)

    async def edit(i):
        cells = [{"row": rows[i % len(rows)], "col": "c1", "value": f"value {i}"}]
        result = await queue.enqueue(Edit(owner, cells, str(uuid.uuid4()), "bench"), guard)
        if isinstance(result, BaseException):
            raise result

    def statement():
        with connection.cursor() as cursor:
            cursor.execute("SELECT version FROM sheets_sheet WHERE id = %s", [sheet.pk])
            cursor.fetchone()

    hop = database_sync_to_async(lambda: None)
    query = database_sync_to_async(statement)
    frame = {"type": "op", "version": 0, "payload": {"cells": [{"row": rows[0], "col": "c1", "value": "x"}]}}
    published = database_sync_to_async(lambda: broadcast.publish(sheet.pk, frame, "bench"))

    @contextlib.contextmanager
    def without_receiver(receiver, uid):  # as RealtimeConfig and AnalyticsConfig connect them
        operations_committed.disconnect(dispatch_uid=uid)
        try:
            yield
        finally:
            operations_committed.connect(receiver, dispatch_uid=uid)

    @contextlib.contextmanager
    def without_revocation_check():
        checked, edits.stale_guards_checked = edits.stale_guards_checked, lambda guards: None
        try:
            yield
        finally:
            edits.stale_guards_checked = checked

    bare = await asyncio.to_thread(psycopg.connect, url, autocommit=True)

    async def bare_statement(i):  # in the event loop: no hop, no Django
        bare.execute("SELECT version FROM sheets_sheet WHERE id = %s", [sheet.pk]).fetchone()

    cases = [
        ("the whole write path", edit, PAUSE, contextlib.nullcontext),
        (
            "  without the broadcast",
            edit,
            PAUSE,
            lambda: without_receiver(broadcast.operations_committed, "realtime.operations"),
        ),
        (
            "  without the webhook check",
            edit,
            PAUSE,
            lambda: without_receiver(webhook_events.on_operations_committed, "analytics.webhooks"),
        ),
        ("  without the revocation check", edit, PAUSE, without_revocation_check),
        ("a hop to the database thread and back", lambda i: hop(), PAUSE, contextlib.nullcontext),
        ("  with one statement (Django's cursor)", lambda i: query(), PAUSE, contextlib.nullcontext),
        ("  with one publish to Redis", lambda i: published(), PAUSE, contextlib.nullcontext),
        ("one statement, bare psycopg, alone", bare_statement, PAUSE, contextlib.nullcontext),
        ("  the same back to back (no pause)", bare_statement, 0, contextlib.nullcontext),
    ]
    rounds = {label: [] for label, *_ in cases}
    try:
        for _ in range(ROUNDS):  # in turn, so that a noisy moment touches every case alike
            for label, call, pause, context in cases:
                with context():
                    rounds[label].append(await cpu_per_call(call, args.edits // ROUNDS, pause))
    finally:
        bare.close()
    return [(label, statistics.median(values), min(values), max(values)) for label, values in rounds.items()]


def main():
    args = parse_args()
    if not os.environ.get("REDIS_URL"):
        sys.exit("bench/edit_path.py needs REDIS_URL: the broadcast of a real deployment goes through Redis")
    url, name = own_database("edit_path", "bench/edit_path.py")
    from django.core.management import call_command

    try:
        call_command("migrate", verbosity=0)
        owner, sheet, rows = prepare()
        gc.collect()
        gc.freeze()  # as config/asgi.py does once the server is loaded
        print(f"{args.edits:,} lone edits per case, {PAUSE * 1000:.0f} ms apart; load {os.getloadavg()[0]:.2f}")
        results = asyncio.run(measure(args, url, owner, sheet, rows))
    finally:
        from django.db import connections

        connections.close_all()
        drop_database(url, name)
    print()
    print(f"{'case':<45} {'CPU ms per call, median (min-max) of ' + str(ROUNDS) + ' rounds':>44}")
    for label, median, low, high in results:
        print(f"{label:<45} {median:>26.3f} ({low:.3f}-{high:.3f})")
    print(f"\nload average after the run: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
