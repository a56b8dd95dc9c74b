"""Find and replace-all over a 100,000-row sheet (the demo's orders): the time of a find (the
whole sheet's count and the first page of matches, then a page deep in the sheet), of a
replace-all of every order number (one operation of 100,000 cells) and of its undo. By hand:

    DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench \\
        .venv/bin/python bench/find.py [--rows 100000]

It works in its own database, <name in DATABASE_URL>_find, which it drops and creates.
"""

import argparse
import io
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")

from bench.common import drop_database, own_database  # noqa: E402


def timed(label, fn, repeat=3):
    best, result = None, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"{label:<58} {best * 1000:9.1f} ms", flush=True)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    url, name = own_database("find", "bench/find.py")
    from django.core.management import call_command
    from django.db import connection

    from accounts.models import User
    from sheets import find
    from sheets.models import Row, Sheet
    from sheets.services.replace import replace_all
    from sheets.undo import operation_undo

    try:
        call_command("migrate", verbosity=0)
        call_command("seed_demo", rows=args.rows, cols=12, seed=1, verbosity=0, stdout=io.StringIO())
        sheet = Sheet.objects.get(workspace__name="Demo", name="orders")
        editor = User.objects.get(email="editor@demo.gridcast")
        print(f"{args.rows:,} rows", flush=True)
        many = find.parse_query("ORD-")
        answer = timed("find 'ORD-' (every row): count + first 100", lambda: find.find(sheet, many))
        assert answer["total"] >= args.rows
        rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
        deep = f"{rows[len(rows) * 9 // 10]}:c1"  # c1: the order number
        timed("find 'ORD-': the page after a cursor 90% down", lambda: find.find(sheet, many, cursor=deep))
        rare = find.parse_query(f"ORD-{args.rows:07d}", whole_cell=True, match_case=True)
        timed("find one order number (whole cell, match case)", lambda: find.find(sheet, rare))
        started = time.perf_counter()
        outcome = replace_all(sheet=sheet, actor=editor, query=many, replacement="ORDER-")
        print(
            f"{f'replace-all ORD- -> ORDER- ({outcome.replaced:,} cells, one operation)':<58} "
            f"{(time.perf_counter() - started) * 1000:9.1f} ms",
            flush=True,
        )
        started = time.perf_counter()
        operation_undo(sheet=sheet, actor=editor)
        print(f"{'undo of the replace-all':<58} {(time.perf_counter() - started) * 1000:9.1f} ms", flush=True)
    finally:
        connection.close()
        if not args.keep:
            drop_database(url, name)


if __name__ == "__main__":
    main()
