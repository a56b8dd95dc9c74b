"""Time travel on a big sheet with a long history (issue 17): the 200-row window of the sheet as of
a random version, and a cell's history. By hand:

    DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench \\
        .venv/bin/python bench/as_of.py [--rows 1000000] [--edits 1000000]

It works in its own database, <name in DATABASE_URL>_as_of, which it drops and creates:
1. a sheet of 5 text columns and --rows rows, written by one INSERT ... generate_series;
2. --edits single-cell edits at random cells, their Operations and RowChanges written by bulk SQL
   (what operations_append writes for each, a chunk of 200,000 per statement);
3. then, through the services, --layout row deletions, as many inserts at random places, a tenth
   as many moves and two column renames: the past of any version has rows that came back, rows that
   vanish and columns renamed back, so the window merges them (VACUUM ANALYZE after);
4. --samples windows (offset random, limit 200) as of random versions, through the selector and
   the REST view in process (permission check and JSON included), and as many first pages of a
   random cell's history: p50/p99.
Targets: the as_of window p99 under 200 ms, a cell's history p99 under 50 ms.
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
WINDOW_MS, HISTORY_MS = 200, 50
CHUNK = 200_000

_ROWS_SQL = """
INSERT INTO sheets_row (sheet_id, position, data)
SELECT %(sheet)s, g, jsonb_build_object('c1', 'r' || g, 'c2', 'r' || g, 'c3', 'r' || g, 'c4', 'r' || g, 'c5', 'r' || g)
  FROM generate_series(1, %(rows)s) g
"""
# One chunk of edits: each an Operation (as cells.update writes it) and its RowChange.
_EDITS_SQL = """
WITH e AS MATERIALIZED (
  SELECT %(base)s + g AS version, %(first)s + floor(random() * %(rows)s)::bigint AS row_id,
         'c' || (1 + floor(random() * 5)::int) AS col
    FROM generate_series(1, %(count)s) g
), ops AS (
  INSERT INTO sheets_operation (sheet_id, version, kind, payload, previous, actor_id, created_at)
  SELECT %(sheet)s, version, 'cells.update',
         jsonb_build_object('cells', jsonb_build_array(jsonb_build_object('row', row_id, 'col', col, 'value', 'v' || version))),
         jsonb_build_object('cells', jsonb_build_array(jsonb_build_object('row', row_id, 'col', col, 'value', 'p' || version))),
         %(actor)s, %(start)s + version * interval '1 millisecond'
    FROM e
)
INSERT INTO sheets_rowchange (sheet_id, row_id, version, col) SELECT %(sheet)s, row_id, version, col FROM e
"""


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


def build(rows, edits):
    from django.db import connection, transaction
    from django.utils import timezone

    from accounts.models import Membership, Role, User, Workspace
    from sheets import services
    from sheets.models import Row, Sheet

    workspace = Workspace.objects.create(name="Bench")
    editor = User.objects.create_user(email="editor@bench.gridcast", password="x")
    Membership.objects.create(workspace=workspace, user=editor, role=Role.EDITOR)
    columns = [{"name": f"Column {i}", "type": "text"} for i in range(1, len(COLS) + 1)]
    sheet = services.sheet_create(workspace=workspace, name="As of", actor=editor, columns=columns)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(_ROWS_SQL, {"sheet": sheet.pk, "rows": rows})
    first = Row.objects.filter(sheet=sheet).order_by("pk").values_list("pk", flat=True).first()
    print(f"{rows:,} rows written in {time.perf_counter() - started:.1f} s", flush=True)
    base, start = sheet.version, timezone.now()
    for done in range(0, edits, CHUNK):
        count = min(CHUNK, edits - done)
        with transaction.atomic(), connection.cursor() as cursor:
            params = {"sheet": sheet.pk, "base": base + done, "first": first, "rows": rows, "count": count}
            cursor.execute(_EDITS_SQL, {**params, "actor": editor.pk, "start": start})
        print(f"  {done + count:,} edits logged, {time.perf_counter() - started:.0f} s", flush=True)
    Sheet.objects.filter(pk=sheet.pk).update(version=base + edits)
    sheet.refresh_from_db()
    return sheet, editor, first


def change_layout(sheet, editor, first, rows, count, rng):
    """Deletions, inserts, moves and renames after the edits, through the services."""
    from sheets import services
    from sheets.models import Row

    started = time.perf_counter()
    alive = set(range(first, first + rows))
    for _ in range(count):
        gone = rng.choice(tuple(alive)) if len(alive) < 10_000 else rng.randrange(first, first + rows)
        if gone in alive and Row.objects.filter(pk=gone).exists():
            services.rows_delete(sheet=sheet, actor=editor, row_ids=[gone])
            alive.discard(gone)
        anchor = rng.randrange(first, first + rows)
        if anchor in alive:
            services.rows_insert(sheet=sheet, actor=editor, count=1, after=anchor)
    for _ in range(max(1, count // 10)):
        row, anchor = rng.randrange(first, first + rows), rng.randrange(first, first + rows)
        if row != anchor and row in alive and anchor in alive:
            services.rows_move(sheet=sheet, actor=editor, row_ids=[row], before=anchor)
    services.column_rename(sheet=sheet, actor=editor, key="c2", name="Second")
    services.column_rename(sheet=sheet, actor=editor, key="c4", name="Fourth")
    sheet.refresh_from_db()
    print(f"{count} deletions, inserts, moves, 2 renames in {time.perf_counter() - started:.1f} s", flush=True)


def measure(sheet, editor, first, rows, samples, rng):
    from rest_framework.test import APIClient

    from sheets import history, selectors, time_travel

    client = APIClient(HTTP_HOST="127.0.0.1")
    client.force_authenticate(editor)
    url = f"/api/v1/sheets/{sheet.pk}/rows/"
    total = selectors.row_count(sheet)
    picks = [(rng.randint(1, sheet.version), rng.randrange(0, max(1, total - 200))) for _ in range(samples)]

    def window(i):
        version, offset = picks[i]
        answer = time_travel.rows_window_at(sheet, version, offset=offset, limit=200)
        assert len(answer["rows"]) == 200

    def api(i):
        version, offset = picks[i]
        response = client.get(url, {"as_of": version, "offset": offset, "limit": 200})
        assert response.status_code == 200, response.content

    timed_each(window, min(20, samples))  # warm-up (the checkpoints of the row index)
    timed_each(api, min(20, samples))  # and of the REST stack (its first request sets it up)
    missed = report("as_of window of 200 rows (selector)", timed_each(window, samples), WINDOW_MS) >= WINDOW_MS
    missed |= report("as_of window of 200 rows (REST, in process)", timed_each(api, samples), WINDOW_MS) >= WINDOW_MS
    cells = [(rng.randrange(first, first + rows), rng.choice(COLS)) for _ in range(samples)]
    missed |= (
        report(
            "a cell's history, first page (selector)",
            timed_each(lambda i: history.row_history(sheet, *cells[i]), samples),
            HISTORY_MS,
        )
        >= HISTORY_MS
    )
    spans = [(v, min(sheet.version, v + 1000)) for v, _ in picks[: max(10, samples // 10)]]
    report(
        "diff across 1,000 versions (selector)", timed_each(lambda i: time_travel.diff(sheet, *spans[i]), len(spans))
    )
    return missed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--edits", type=int, default=1_000_000)
    parser.add_argument("--layout", type=int, default=100, help="row deletions and inserts after the edits")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    url, name = own_database("as_of", "bench/as_of.py")
    from django.core.management import call_command
    from django.db import connection

    rng = random.Random(args.seed)
    missed = False
    try:
        call_command("migrate", verbosity=0)
        sheet, editor, first = build(args.rows, args.edits)
        change_layout(sheet, editor, first, args.rows, args.layout, rng)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"{args.rows:,} rows x {len(COLS)} columns, version {sheet.version:,}", flush=True)
        missed = measure(sheet, editor, first, args.rows, args.samples, rng)
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, name)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
