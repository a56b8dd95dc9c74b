"""Reads of a sheet's lake view (analytics/queries/selectors.py) and the one shape of a widget's
query (analytics/queries/widget_query.py)."""

import datetime as dt

import pytest

from analytics.lake.schema import column_names
from analytics.queries import selectors
from analytics.queries.widget_query import clean_query, clean_sheet_query
from core.errors import InvalidInput
from sheets import services
from sheets.models import Column, Row
from tests.factories import make_sheet


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("lake_files")
def test_sheet_view_columns_and_rows_follow_the_sheet(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, rows=2)
    assert selectors.sheet_view_columns(sheet.pk) is None  # not in the lake yet
    writer.catch_up()
    columns = {
        c.key: {"name": c.name, "type": c.type, "position": c.position, "deleted": c.deleted}
        for c in Column.objects.filter(sheet=sheet)
    }
    assert selectors.sheet_view_columns(sheet.pk) == {
        key: (name, columns[key]["type"]) for key, name in column_names(columns).items()
    }
    first, second = Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True)
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": second, "col": "c1", "value": "Bea"},
            {"row": second, "col": "c2", "value": 12.5},
            {"row": second, "col": "c6", "value": "2026-03-01T10:00:00+02:00"},
            {"row": first, "col": "c3", "value": 3},
        ],
    )
    services.column_rename(sheet=sheet, actor=owner, key="c2", name="Total (EUR)")
    writer.catch_up()
    assert selectors.sheet_view_columns(sheet.pk)["c2"] == ("total_eur", "number")
    rows = selectors.sheet_rows(sheet.pk)
    assert [r["_row"] for r in rows] == [first, second]  # by position
    assert rows[0]["count"] == 3 and rows[0]["name"] is None
    assert rows[1]["name"] == "Bea" and rows[1]["total_eur"] == 12.5
    assert rows[1]["at"] == dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)  # aware, in UTC
    assert {r["workspace_id"] for r in rows} == {workspace.pk}


def test_a_widget_query_has_one_stored_shape():
    assert clean_query({"metric": "orders", "agg": "avg", "bucket": "hour", "tags": ["region: eu "], "top": "3"}) == {
        "source": "metrics",
        "metric": "orders",
        "agg": "avg",
        "bucket": "hour",
        "group_by": None,
        "tags": ["region:eu"],
        "top": 3,
    }
    assert clean_sheet_query({"sheet": "4", "agg": "sum", "column": "c2", "time_column": "c6", "bucket": "day"}) == {
        "source": "sheet",
        "sheet": 4,
        "agg": "sum",
        "column": "c2",
        "group_by": None,
        "top": None,
        "time_column": "c6",
        "bucket": "day",
    }


@pytest.mark.parametrize(
    "query, message",
    [
        ([], "must be an object"),
        ({"source": "sql"}, "source is one of"),
        ({"metric": "orders", "agg": "median"}, "agg is one of"),
        ({"metric": "orders", "top": 1000}, "top is between 1 and 100"),
        ({"source": "sheet", "sheet": True}, "names its sheet id"),
        ({"source": "sheet", "sheet": 1, "agg": "sum"}, "choose the column to sum"),
        ({"source": "sheet", "sheet": 1, "agg": "count", "bucket": "day"}, "a time bucket needs a time column"),
        ({"source": "sheet", "sheet": 1, "agg": "count", "column": "amount"}, "such as c3"),
    ],
)
def test_a_widget_query_says_what_is_wrong(query, message):
    with pytest.raises(InvalidInput, match=message):
        clean_query(query)
