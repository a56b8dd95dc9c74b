"""The grid's layout and fill handle in a real browser: frozen columns stay in place while the
others scroll (and a saved view keeps them), footer totals sit under their columns and follow
the scroll, and dragging the fill handle writes a series as one edit that one undo takes back."""

import time

import pytest

from accounts.models import Role
from sheets import services
from sheets.models import Row, SheetView
from tests.factories import make_sheet, member

from .conftest import team_and_sheet
from .test_sheet_page import open_sheet, saved

pytestmark = pytest.mark.django_db(transaction=True)

NARROW = {"viewport": {"width": 900, "height": 600}}  # the grid is narrower than its 7 columns


@pytest.fixture
def team(workspace):
    return team_and_sheet(workspace)


def grid_cell(page, row, col):
    """The cell of 1-based row `row` and 1-based column `col`, as assistive technology finds it."""
    return page.locator(f"[data-testid=grid] [role=row][aria-rowindex='{row + 1}'] [aria-colindex='{col}']")


def cell_text_is(page, row, col, text):
    page.wait_for_function(
        """([row, col, text]) => document.querySelector(`[data-testid=grid]
             [role=row][aria-rowindex='${row + 1}'] [aria-colindex='${col}']`)?.textContent === text""",
        arg=[row, col, text],
    )


def head(page, key):
    return page.locator(f"[data-testid=grid] .gc-colhead[data-col={key}]:not([hidden])")


def scroll_left(page, px):
    page.evaluate("px => { document.querySelector('.gc-scroller').scrollLeft = px; }", px)
    page.wait_for_function(
        "px => window.gridcast.grid.layout.left === px && !window.gridcast.grid.frame",
        arg=px,
    )


def x_of(locator):
    box = locator.bounding_box()
    return round(box["x"]), round(box["width"])


def menu_of(page, key):
    head(page, key).locator(".gc-menu").click()
    return page.get_by_role("dialog")


def test_frozen_columns_stay_while_the_others_scroll_and_a_view_keeps_them(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet, **NARROW)
    menu_of(page, "c2").get_by_role("button", name="Freeze up to this column").click()
    page.wait_for_selector(".gc-colhead.frozen[data-col=c2]")
    assert page.locator(".gc-frozen-edge:not([hidden])").count() == 1
    name_cell, amount_head, count_head = grid_cell(page, 1, 1), head(page, "c2"), head(page, "c3")
    before = [x_of(name_cell), x_of(amount_head)]
    count_x = x_of(count_head)[0]
    edge = page.locator(".gc-frozen-edge").bounding_box()["x"]

    scroll_left(page, 100)
    assert [x_of(name_cell), x_of(amount_head)] == before
    assert x_of(count_head)[0] == count_x - 100  # under the frozen ones now, partly
    assert name_cell.inner_text() == "item 1" and name_cell.is_visible()
    # The last column comes into view; the frozen ones have not moved.
    page.get_by_test_id("grid").focus()
    page.keyboard.press("End")
    page.wait_for_function("document.querySelector('.gc-scroller').scrollLeft > 100 && !window.gridcast.grid.frame")
    assert [x_of(name_cell), x_of(amount_head)] == before
    last = head(page, "c7").bounding_box()
    grid_box = page.get_by_test_id("grid").bounding_box()
    assert last["x"] >= edge and last["x"] + last["width"] <= grid_box["x"] + grid_box["width"] + 1
    # A click on a frozen cell selects it without scrolling back.
    left = page.evaluate("document.querySelector('.gc-scroller').scrollLeft")
    grid_cell(page, 3, 1).click()
    page.wait_for_function("document.querySelector('[data-testid=grid-live]').textContent.startsWith('A3, Name')")
    assert page.evaluate("document.querySelector('.gc-scroller').scrollLeft") == left

    page.get_by_test_id("save-view").click()
    page.get_by_label("View name").fill("Frozen names")
    page.get_by_test_id("save-view-confirm").click()
    page.wait_for_url("**?view=*")
    view = SheetView.objects.get(sheet=sheet)
    assert view.config["frozen"] == ["c1", "c2"]

    other = open_sheet(open_as, team["owner"], sheet, **NARROW)
    assert other.locator(".gc-colhead.frozen").count() == 0
    other.goto(f"/sheets/{sheet.pk}/?view={view.pk}")
    other.wait_for_selector(".gc-colhead.frozen[data-col=c2]")
    assert other.locator(".gc-colhead.frozen").count() == 2

    menu_of(page, "c1").get_by_role("button", name="Unfreeze").click()
    page.wait_for_selector(".gc-colhead.frozen", state="detached")
    assert page.locator(".gc-frozen-edge:not([hidden])").count() == 0


def test_footer_totals_sit_under_their_columns_and_follow_the_scroll(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet, **NARROW)
    page.get_by_label("Total of Amount").select_option("sum")
    amount = page.locator("[data-testid=totals] .gc-total[data-col=c2]")
    page.wait_for_function("document.querySelector('.gc-total[data-col=c2] output')?.textContent === '4350'")
    menu_of(page, "c3").get_by_test_id("column-total").select_option("count")
    page.wait_for_function("document.querySelector('.gc-total[data-col=c3] output')?.textContent === '30'")
    count = page.locator("[data-testid=totals] .gc-total[data-col=c3]")
    assert page.get_by_label("Total of Count").input_value() == "count"

    def aligned():
        for total, key in ((amount, "c2"), (count, "c3")):
            assert x_of(total) == x_of(head(page, key))
            assert total.bounding_box()["y"] > grid_cell(page, 1, 1).bounding_box()["y"]

    aligned()
    scroll_left(page, 120)
    aligned()
    # With the first column frozen the footer follows it: the Amount total slides under its edge.
    scroll_left(page, 0)
    menu_of(page, "c1").get_by_role("button", name="Freeze up to this column").click()
    page.wait_for_selector(".gc-colhead.frozen[data-col=c1]")
    scroll_left(page, 60)
    aligned()
    name_total = page.locator("[data-testid=totals] .gc-total[data-col=c1]")
    assert x_of(name_total) == x_of(head(page, "c1"))
    assert "frozen" in name_total.get_attribute("class")

    # Still the whole sheet's total, and live: an edit elsewhere changes it.
    first = {"row": team["rows"][0].pk, "col": "c2", "value": "1000"}
    services.cells_update(sheet=sheet, actor=team["owner"], cells=[first])
    page.wait_for_function("document.querySelector('.gc-total[data-col=c2] output')?.textContent === '5350'")

    page.get_by_label("Total of Amount").select_option("")
    page.wait_for_selector(".gc-total[data-col=c2] output", state="detached")


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def fill_handle_of(page, row, col):
    """The fill handle's box once it sits at the bottom-right corner of the selection ending at
    (row, col): it is drawn on the next frame after the selection changes."""

    def at_corner():
        handle = page.locator(".gc-fill-handle:not([hidden])").bounding_box()
        corner = grid_cell(page, row, col).bounding_box()
        if handle is None or corner is None:
            return None
        x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
        near = abs(x - corner["x"] - corner["width"]) < 8 and abs(y - corner["y"] - corner["height"]) < 8
        return handle if near else None

    wait_for(at_corner)
    return at_corner()


def amounts(team, n):
    pks = [row.pk for row in team["rows"][:n]]
    data = dict(Row.objects.filter(pk__in=pks).values_list("pk", "data"))
    return [data[pk].get("c2") for pk in pks]


def test_dragging_the_fill_handle_continues_the_series_as_one_undoable_edit(open_as, team):
    sheet = team["sheet"]
    rows = team["rows"]
    services.cells_update(
        sheet=sheet,
        actor=team["owner"],
        cells=[{"row": rows[0].pk, "col": "c2", "value": "1"}, {"row": rows[1].pk, "col": "c2", "value": "2"}],
    )
    page = open_sheet(open_as, team["owner"], sheet)
    other = open_sheet(open_as, team["viewer"], sheet)
    grid_cell(page, 1, 2).click()
    grid_cell(page, 2, 2).click(modifiers=["Shift"])
    handle = fill_handle_of(page, 2, 2)
    below = grid_cell(page, 7, 2).bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(below["x"] + 20, below["y"] + below["height"] / 2, steps=8)
    assert page.locator(".gc-fill-preview:not([hidden])").count() == 1
    page.mouse.up()
    saved(page)
    wait_for(lambda: amounts(team, 8) == [1, 2, 3, 4, 5, 6, 7, 70])
    for n in range(3, 8):
        cell_text_is(other, n, 2, str(n))
    assert page.evaluate("document.querySelectorAll('[role=gridcell][aria-selected=true]').length") == 7
    assert other.locator(".gc-fill-handle:not([hidden])").count() == 0  # a viewer gets no handle

    page.keyboard.press("Control+Z")  # one undo takes the whole fill back
    wait_for(lambda: amounts(team, 8) == [1, 2, 20, 30, 40, 50, 60, 70])
    cell_text_is(other, 3, 2, "20")


def test_a_fill_across_a_formula_column_skips_it_and_continues_numbered_text(open_as, workspace):
    owner = member(workspace, Role.OWNER)
    columns = [{"name": "Qty", "type": "integer"}, {"name": "Label", "type": "text"}]
    sheet = make_sheet(workspace, owner, columns=columns)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 1, "c2": "Box 1"}, {"c1": 2, "c2": "Box 2"}, {}, {}])
    services.column_add(sheet=sheet, actor=owner, name="Double", type="formula", options={"formula": "[Qty] * 2"})
    rows = list(Row.objects.filter(sheet=sheet).order_by("position"))
    page = open_sheet(open_as, owner, sheet)
    grid_cell(page, 1, 1).click()
    grid_cell(page, 2, 3).click(modifiers=["Shift"])
    handle = fill_handle_of(page, 2, 3)
    below = grid_cell(page, 4, 3).bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(below["x"] + 20, below["y"] + below["height"] / 2, steps=5)
    page.mouse.up()
    saved(page)
    for row, text in ((3, "3"), (4, "4")):
        cell_text_is(page, row, 1, text)
    cell_text_is(page, 4, 2, "Box 4")
    cell_text_is(page, 4, 3, "8")  # computed by the server from the filled Qty, not written
    double = next(c.key for c in sheet.columns.all() if c.name == "Double")
    data = [Row.objects.get(pk=row.pk).data for row in rows]
    expected = [(1, "Box 1", 2), (2, "Box 2", 4), (3, "Box 3", 6), (4, "Box 4", 8)]
    assert [(d["c1"], d["c2"], d[double]) for d in data] == expected
    assert not page.locator(".gc-cell.error").count()
