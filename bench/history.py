"""The history of a cell and of a row on a sheet with a long operation log (issue 17), and what
indexing the log costs an edit. By hand:

    DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench \\
        .venv/bin/python bench/history.py [--edits 1000000] [--rows 2000]

It works in its own database, <name in DATABASE_URL>_history, which it drops and creates:
1. a sheet of --rows rows and 5 text columns, through the services;
2. the edits' cost: --edit-samples single-cell edits and as many 100-cell batches through
   services.cells_update, and 10 inserts of 5,000 rows (what a CSV import does per chunk), p50/p99 (run it with `--edits 0` on a checkout without the history
   index to compare: that part imports nothing of it);
3. --edits more single-cell edits at random cells, logged through operations_append (the path
   every edit takes, in batches of 1,000 operations, so that a million takes a minute), then
   VACUUM ANALYZE;
4. --samples first pages (50 changes) of random cells' and rows' histories, through the
   selector and through the REST view in process (permission check and JSON included): p50/p99.
Target: a cell's history p99 under 50 ms with 1,000,000 edits.
"""

import argparse
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")

from bench.common import drop_database, own_database, percentile  # noqa: E402

COLS = ["c1", "c2", "c3", "c4", "c5"]
TARGET_MS = 50


def report(label, samples, target=None):
    p50, p99 = percentile(samples, 50) * 1000, percentile(samples, 99) * 1000
    verdict = "" if target is None else ("  PASS" if p99 < target else f"  MISS (target p99 < {target} ms)")
    print(f"{label:<52} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms{verdict}", flush=True)
    return p99


def timed_each(fn, count):
    samples = []
    for i in range(count):
        started = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - started)
    return samples


def make_sheet(rows):
    from accounts.models import Membership, Role, User, Workspace
    from sheets import services
    from sheets.models import Row

    workspace = Workspace.objects.create(name="Bench")
    editor = User.objects.create_user(email="editor@bench.gridcast", password="x")
    Membership.objects.create(workspace=workspace, user=editor, role=Role.EDITOR)
    columns = [{"name": f"Column {i}", "type": "text"} for i in range(1, len(COLS) + 1)]
    sheet = services.sheet_create(workspace=workspace, name="History", actor=editor, columns=columns)
    for start in range(0, rows, 5000):
        services.rows_insert(sheet=sheet, actor=editor, count=min(5000, rows - start))
    ids = list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True))
    return sheet, editor, ids


def measure_edits(sheet, editor, ids, count, rng):
    from sheets import services

    def one(i):
        cell = {"row": rng.choice(ids), "col": rng.choice(COLS), "value": f"edit {i}"}
        services.cells_update(sheet=sheet, actor=editor, cells=[cell])

    def batch(i):
        cells = [{"row": rng.choice(ids), "col": rng.choice(COLS), "value": f"b{i}-{n}"} for n in range(100)]
        services.cells_update(sheet=sheet, actor=editor, cells=cells)

    def insert(i):
        rows = [{col: f"r{i}-{n}" for col in COLS} for n in range(5000)]
        services.rows_insert(sheet=sheet, actor=editor, rows=rows)

    timed_each(one, 20)  # warm-up
    report("edit of 1 cell (services.cells_update)", timed_each(one, count))
    report("edit of 100 cells (services.cells_update)", timed_each(batch, count))
    report("insert of 5,000 rows of 5 values (services.rows_insert)", timed_each(insert, 10))


def log_edits(sheet, editor, ids, count, rng):
    """`count` single-cell edits appended to the log as the edit path appends them."""
    from django.db import transaction

    from sheets.models import Operation, Sheet
    from sheets.services.operations import operations_append

    sheet.refresh_from_db()
    version, started = sheet.version, time.perf_counter()
    for start in range(0, count, 1000):
        batch = []
        for _ in range(min(1000, count - start)):
            version += 1
            row, col = rng.choice(ids), rng.choice(COLS)
            cells = [{"row": row, "col": col, "value": f"v{version}"}]
            previous = [{"row": row, "col": col, "value": f"v{version - 1}"}]
            op = Operation(
                sheet_id=sheet.pk,
                version=version,
                kind="cells.update",
                actor=editor,
                payload={"cells": cells},
                previous={"cells": previous},
            )
            batch.append((op, None))
        with transaction.atomic():
            operations_append(batch, announce=False)
            Sheet.objects.filter(pk=sheet.pk).update(version=version)
        if (start // 1000) % 100 == 99:
            print(f"  {start + 1000:,} edits logged, {time.perf_counter() - started:.0f} s", flush=True)
    print(f"{count:,} edits logged in {time.perf_counter() - started:.1f} s", flush=True)
    sheet.refresh_from_db()


def measure_history(sheet, editor, ids, samples, rng):
    from rest_framework.test import APIClient

    from sheets.history import row_history

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.force_authenticate(editor)
    url = f"/api/v1/sheets/{sheet.pk}/history/"

    def api(params):
        response = client.get(url, params)
        assert response.status_code == 200, response.content

    for _ in range(20):  # warm-up
        row_history(sheet, rng.choice(ids), rng.choice(COLS))
    cells = [(rng.choice(ids), rng.choice(COLS)) for _ in range(samples)]
    sizes = [len(row_history(sheet, row, col)[0]) for row, col in cells[:50]]
    print(f"a cell's first page holds {sum(sizes) / len(sizes):.1f} changes on average", flush=True)
    missed = report(
        "a cell's history, first page (selector)",
        timed_each(lambda i: row_history(sheet, *cells[i]), samples),
        TARGET_MS,
    )
    missed = (
        report(
            "a cell's history, first page (REST, in process)",
            timed_each(lambda i: api({"row": cells[i][0], "col": cells[i][1]}), samples),
            TARGET_MS,
        )
        >= TARGET_MS
        or missed >= TARGET_MS
    )
    report("a row's history, first page (selector)", timed_each(lambda i: row_history(sheet, cells[i][0]), samples))
    report("a row's history, first page (REST, in process)", timed_each(lambda i: api({"row": cells[i][0]}), samples))
    deep = [row_history(sheet, row, col, limit=10)[1] for row, col in cells[:samples]]
    report(
        "a cell's history, the page after the first 10",
        timed_each(lambda i: row_history(sheet, *cells[i], before=deep[i]), samples),
    )
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=100_000, help="edits of history to build")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--edit-samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    url, name = own_database("history", "bench/history.py")
    from django.core.management import call_command
    from django.db import connection

    rng = random.Random(args.seed)
    missed = False
    try:
        call_command("migrate", verbosity=0)
        sheet, editor, ids = make_sheet(args.rows)
        print(f"{args.rows:,} rows x {len(COLS)} columns", flush=True)
        measure_edits(sheet, editor, ids, args.edit_samples, rng)
        if args.edits:
            log_edits(sheet, editor, ids, args.edits, rng)
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")
            missed = measure_history(sheet, editor, ids, args.samples, rng)
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, name)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
