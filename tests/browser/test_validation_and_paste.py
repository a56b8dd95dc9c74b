"""Validation rules, paste and find in the sheet page, in a real browser: a rule set from the
column menu refuses a typed value with its reason beside the cell; a pasted block with values its
columns refuse applies the rest and says which cells were not pasted; find within a filtered,
sorted view counts and visits only the rows the view shows, in its order."""

import pytest

from sheets.models import Column, Row

from .conftest import screenshot, team_and_sheet
from .test_sheet_page import cell, open_sheet, saved
from .test_views import sort_down_and_keep_amounts_below_100

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(workspace):
    return team_and_sheet(workspace)


def live_says(page, text):
    page.wait_for_function("text => document.querySelector('[data-testid=grid-live]').textContent === text", arg=text)


def test_a_min_rule_set_from_the_menu_refuses_a_typed_value_beside_the_cell(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet)
    page.locator(".gc-colhead[data-col=c2] .gc-menu").click()
    rules = page.get_by_test_id("column-rules")
    assert rules.get_by_test_id("rules-summary").inner_text() == "none"
    rules.get_by_test_id("rule-min").fill("0")
    screenshot(page, "column-menu-rules")
    rules.get_by_test_id("rules-save").click()
    page.wait_for_function("window.gridcast.model.column('c2').options.rules?.min === 0")
    assert Column.objects.get(sheet=sheet, key="c2").options == {"rules": {"min": 0}}

    cell(page, 2, 1).click()
    page.keyboard.type("-5")
    page.keyboard.press("Enter")
    note = page.get_by_test_id("cell-error")
    note.wait_for(state="visible")
    assert note.inner_text() == "Amount: must be at least 0"
    live_says(page, "Not saved in B2: Amount: must be at least 0")
    refused = cell(page, 2, 1)
    assert refused.inner_text() == "-5" and refused.get_attribute("aria-invalid") == "true"
    # Beside the cell: just under it, starting at its left edge.
    box, under = refused.bounding_box(), note.bounding_box()
    assert abs(under["x"] - box["x"]) < 3 and abs(under["y"] - (box["y"] + box["height"])) < 3
    screenshot(page, "validation-rule-refused")
    assert Row.objects.get(pk=team["rows"][1].pk).data["c2"] == 10

    # The menu shows the rule now; a value within it is taken and the reason goes.
    page.locator(".gc-colhead[data-col=c2] .gc-menu").click()
    assert page.get_by_test_id("rules-summary").inner_text() == "≥ 0"
    assert page.get_by_test_id("rule-min").input_value() == "0"
    page.keyboard.press("Escape")
    cell(page, 2, 1).click()
    page.keyboard.type("5")
    page.keyboard.press("Enter")
    saved(page)
    note.wait_for(state="hidden")
    assert Row.objects.get(pk=team["rows"][1].pk).data["c2"] == 5


def test_a_pasted_block_with_bad_numbers_applies_the_rest_and_says_which(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet, permissions=["clipboard-read", "clipboard-write"])
    cell(page, 3, 0).click()
    page.evaluate("navigator.clipboard.writeText('x1\\t1,234.5\\nx2\\tabc\\nx3\\t45%\\n')")
    page.keyboard.press("Control+V")
    summary = "2 cells not pasted: B4 'abc' is not a number; B5 '45%' is not a number"
    page.wait_for_selector(f"#toasts >> text={summary}")
    live_says(page, summary)
    saved(page)
    data = [Row.objects.get(pk=r.pk).data for r in team["rows"][2:5]]
    assert [(d["c1"], d["c2"]) for d in data] == [("x1", 1234.5), ("x2", 30), ("x3", 40)]
    assert cell(page, 4, 1).inner_text() == "abc" and "error" in cell(page, 4, 1).get_attribute("class")
    screenshot(page, "paste-not-pasted")

    # The cells pasted were one operation: one undo takes them all back.
    page.locator("[data-testid=grid]").press("Control+z")
    page.wait_for_function(
        "pk => window.gridcast.model.rowsById.get(pk)?.values.c1 === 'item 3'", arg=team["rows"][2].pk
    )
    saved(page)
    data = [Row.objects.get(pk=r.pk).data for r in team["rows"][2:5]]
    assert [(d["c1"], d["c2"]) for d in data] == [("item 3", 20), ("item 4", 30), ("item 5", 40)]

    # Past the last row: the row is added, then pasted into the same way.
    page.evaluate("window.gridcast.grid.select(29, 0)")
    page.evaluate("navigator.clipboard.writeText('last\\t1\\nnew\\tzz\\n')")
    page.locator("[data-testid=grid]").press("Control+V")
    page.wait_for_selector("#toasts >> text=1 cell not pasted: B31 'zz' is not a number")
    saved(page)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("data", flat=True))
    assert len(rows) == 31 and rows[29] == {"c1": "last", "c2": 1} and rows[30] == {"c1": "new"}


def count_is(page, text):
    page.wait_for_function(
        "text => document.querySelector('[data-testid=find-count]')?.textContent.trim() === text", arg=text
    )


def test_find_in_a_filtered_view_counts_only_the_rows_shown(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    sort_down_and_keep_amounts_below_100(page)
    page.wait_for_function("document.querySelectorAll('.gc-rowhead:not([hidden])').length === 10")

    page.locator("[data-testid=grid]").focus()
    page.keyboard.press("Control+f")
    page.wait_for_selector("[data-testid=find-input]:focus")
    page.keyboard.type("item 1")
    # The sheet has 11 (item 1, item 10 to 19); the view shows item 10 (90) first and item 1 (0) last.
    count_is(page, "2 matches in this view")
    assert page.get_by_test_id("replace-all").inner_text() == "Replace all in this view"
    page.keyboard.press("Enter")
    count_is(page, "1 of 2 in this view")
    page.wait_for_function("window.gridcast.grid.selection.active.r === 0")
    assert page.locator("[data-testid=grid] .gc-cell.found:not([hidden])").inner_text() == "item 10"
    page.keyboard.press("Enter")
    count_is(page, "2 of 2 in this view")
    page.wait_for_function("window.gridcast.grid.selection.active.r === 9")
    assert page.locator("[data-testid=grid] .gc-cell.found:not([hidden])").inner_text() == "item 1"
    screenshot(page, "find-in-view")

    # Clearing the filter counts again over the whole (sorted) sheet.
    page.get_by_role("button", name="Clear filter").click()
    count_is(page, "11 matches in this view")
