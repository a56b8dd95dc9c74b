"""Formula columns: the added cost of an edit to a row with five formula columns, and the rate of
recomputing a formula over many rows, measured on the code the services run (SheetFormulas: the
compiled formulas in dependency order, computing a row dict), without a database:

    DJANGO_SETTINGS_MODULE=config.settings.test .venv/bin/python bench/formulas.py [--rows 1000000]

Targets (issue 16): under 1 ms added per edit; 1,000,000 rows recomputed in under 20 s. The
database's share of a full recompute (reading the rows and writing the patches, batched by
sheets.services.formulas.BATCH) is not in these figures.
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

import django  # noqa: E402

django.setup()

from sheets.formulas import compile_names  # noqa: E402
from sheets.services.formulas import SheetFormulas  # noqa: E402

FORMULAS = {
    "Total": "[Price] * [Qty]",
    "Taxed": "ROUND([Total] * 1.2, 2)",
    "Label": 'UPPER(LEFT([Item], 3)) & "-" & [Qty]',
    "Big": 'IF(AND([Total] > 100, NOT(ISBLANK([Item]))), "big", "small")',
    "Days": 'IFERROR(DATEDIFF([Due], "2026-12-31"), 0)',
}


def columns():
    """A sheet of 15 plain columns and the five formula columns (key -> (name, type, options))."""
    plain = {"c1": ("Price", "number", {}), "c2": ("Qty", "integer", {}), "c3": ("Item", "text", {})}
    plain["c4"] = ("Due", "date", {})
    for i in range(5, 16):
        plain[f"c{i}"] = (f"Other {i}", "text", {})
    names = {name: key for key, (name, _, _) in plain.items()}
    names |= {name: f"f{i}" for i, name in enumerate(FORMULAS)}
    result = dict(plain)
    for i, (name, formula) in enumerate(FORMULAS.items()):
        source, _ = compile_names(formula, names)
        result[f"f{i}"] = (name, "formula", {"formula": formula, "source": source, "result_type": None})
    return result


def row(rng):
    data = {"c1": round(rng.uniform(1, 100), 2), "c2": rng.randint(0, 20), "c3": rng.choice(["apple", "pear", None])}
    data["c4"] = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    data |= {f"c{i}": f"text {i}" for i in range(5, 16)}
    return data


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--edits", type=int, default=20_000)
    args = parser.parse_args()
    rng = random.Random(16)
    sheet_columns = columns()

    # An edit: the batch builds SheetFormulas from the columns it read, then computes the row.
    datas = [row(rng) for _ in range(1000)]
    started = time.perf_counter()
    for i in range(args.edits):
        data = datas[i % 1000]
        data["c2"] = i % 17
        SheetFormulas(sheet_columns).compute(data)
    per_edit = (time.perf_counter() - started) / args.edits * 1000
    print(f"added cost per edit, five formula columns: {per_edit:.3f} ms (target < 1 ms)")

    formulas = SheetFormulas(sheet_columns)
    datas = [row(rng) for _ in range(min(args.rows, 100_000))]
    started = time.perf_counter()
    for i in range(args.rows):
        formulas.compute(datas[i % len(datas)], {"f0"})
        if i % len(datas) == len(datas) - 1:
            for data in datas:
                data["c2"] = rng.randint(0, 20)  # fresh inputs, so every value changes
    elapsed = time.perf_counter() - started
    print(
        f"recompute of the five formulas over {args.rows:,} rows: {elapsed:.1f} s, "
        f"{args.rows / elapsed:,.0f} rows/s (target 1,000,000 rows < 20 s, database not included)"
    )


if __name__ == "__main__":
    main()
