"""Formula columns in the lake: typed by their result (declared, else inferred), errors NULL, so a
dashboard's sheet aggregate sums a numeric formula; values recomputed in the background reach it."""

import threading
import time

import pytest

from analytics.queries import selectors
from analytics.queries.sheet_aggregates import sheet_aggregate
from analytics.queries.widget_query import clean_sheet_query
from sheets import services
from sheets.models import FormulaRecompute, Row
from tests.factories import make_sheet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]


def formula(sheet, owner, name, text, **options):
    op = services.column_add(sheet=sheet, actor=owner, name=name, type="formula", options={"formula": text, **options})
    return op.payload["column"]["key"]


def total(sheet, key, agg="sum"):
    query = clean_sheet_query({"sheet": sheet.pk, "agg": agg, "column": key})
    return sheet_aggregate(workspace_id=sheet.workspace_id, query=query)["totals"][0]["value"]


def test_a_numeric_formula_is_a_number_in_the_lake_and_sums(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 10, "c2": 4}, {"c1": 3, "c2": 0}, {"c1": 1, "c2": 2}])
    unit = formula(sheet, owner, "Unit", "[Price] / [Qty]")
    label = formula(sheet, owner, "Label", "[Price] * [Qty]", result_type="text")
    writer.catch_up()
    columns = selectors.sheet_view_columns(sheet.pk)
    assert columns[unit] == ("unit", "number") and columns[label] == ("label", "text")
    rows = selectors.sheet_rows(sheet.pk)
    assert [r["unit"] for r in rows] == [2.5, None, 0.5]  # #DIV/0! is NULL
    assert [r["label"] for r in rows] == ["40", "0", "2"]
    assert total(sheet, unit) == 3.0 and total(sheet, unit, "count") == 2

    # The formula changes type: the lake follows.
    services.column_retype(sheet=sheet, actor=owner, key=unit, type="formula", options={"formula": "[Qty] > 1"})
    writer.catch_up()
    assert selectors.sheet_view_columns(sheet.pk)[unit] == ("unit", "boolean")
    assert [r["unit"] for r in selectors.sheet_rows(sheet.pk)] == [True, False, True]


def test_values_recomputed_in_the_background_reach_the_lake(workspace, owner, writer, settings, jobs_worker):
    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 3, "FORMULA_RECOMPUTE_BATCH": 4}
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": i, "c2": 2} for i in range(10)])
    key = formula(sheet, owner, "Total", "[Price] * [Qty]")
    deadline = time.monotonic() + 20
    while FormulaRecompute.objects.filter(sheet=sheet).exclude(columns=[]).exists():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    for thread in threading.enumerate():
        if thread.name.startswith("gridcast-recompute-"):
            thread.join(10)
    assert sorted(d[key] for d in Row.objects.filter(sheet=sheet).values_list("data", flat=True)) == list(
        range(0, 20, 2)
    )
    writer.catch_up()
    assert sorted(r["total"] for r in selectors.sheet_rows(sheet.pk)) == [float(v) for v in range(0, 20, 2)]
    assert total(sheet, key) == 90.0
