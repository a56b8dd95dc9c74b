"""sheets.selectors: the reads of sheets, rows and the operation log."""

import pytest

from accounts.models import Role
from core.errors import InvalidInput
from sheets import selectors, services

from ..factories import make_sheet, member

pytestmark = pytest.mark.django_db


@pytest.fixture
def orders(workspace, owner):
    sheet = make_sheet(workspace, owner)
    services.rows_insert(
        sheet=sheet,
        actor=owner,
        rows=[
            {"c1": "pear", "c2": 3},
            {"c1": "Apple", "c2": 10},
            {"c1": "fig", "c2": None},
            {"c1": "apple pie", "c2": 2.5},
        ],
    )
    sheet.refresh_from_db()
    return sheet


def names(window):
    return [row["values"]["c1"] for row in window["rows"]]


def test_rows_window_pages_in_order_with_the_total(orders):
    window = selectors.rows_window(orders, offset=1, limit=2)
    assert names(window) == ["Apple", "fig"] and window["total"] == 4
    assert [row["index"] for row in window["rows"]] == [1, 2]


def test_rows_window_sorts_numbers_as_numbers_and_text_as_text(orders):
    def without_blank(window):
        return [name for name in names(window) if name != "fig"]

    assert without_blank(selectors.rows_window(orders, sort="c2")) == ["apple pie", "pear", "Apple"]  # 2.5, 3, 10
    assert without_blank(selectors.rows_window(orders, sort="-c2")) == ["Apple", "pear", "apple pie"]
    assert names(selectors.rows_window(orders, sort="c1"))[-1] == "pear"  # text by its text, whatever the collation


def test_rows_window_filters_and_refuses_unknown_columns_and_operators(orders):
    window = selectors.rows_window(orders, filters=[("c1", "contains", "apple")])
    assert sorted(names(window)) == ["Apple", "apple pie"] and window["total"] == 2
    with pytest.raises(InvalidInput, match="no column"):
        selectors.rows_window(orders, filters=[("c99", "eq", "x")])
    with pytest.raises(InvalidInput, match="unknown filter operator"):
        selectors.rows_window(orders, filters=[("c1", "like", "x")])


def test_operations_since_answers_the_log_after_a_version_in_order(orders, owner):
    services.cells_update(
        sheet=orders,
        actor=owner,
        cells=[{"row": selectors.rows_window(orders)["rows"][0]["id"], "col": "c1", "value": "plum"}],
    )
    kinds = [(op.version, op.kind) for op in selectors.operations_since(orders, 1)]
    assert kinds == [(2, "rows.insert"), (3, "cells.update")]
    assert selectors.operations_since(orders, 3) == []


def test_rows_in_order_streams_every_row_by_position(orders):
    assert [data["c1"] for _, data in selectors.rows_in_order(orders, chunk=3)] == ["pear", "Apple", "fig", "apple pie"]


def test_sheets_for_user_sees_its_workspaces_and_sheets_shared_with_it(orders, workspace, outsider):
    assert list(selectors.sheets_for_user(outsider)) == []
    services.sheet_share(sheet=orders, user=outsider, level="view")
    assert list(selectors.sheets_for_user(outsider)) == [orders]
    viewer = member(workspace, Role.VIEWER)
    assert list(selectors.sheets_for_user(viewer, workspace_id=workspace.pk)) == [orders]
    assert selectors.sheet_people(orders)[outsider.pk] == outsider.label
