"""Saved views in a real browser: an editor sorts, filters and hides a column, saves that as a
view shared with the workspace; a viewer opens the url naming the view and sees the same rows in
the same order, with the same column hidden; when the editor deletes the view, the viewer's page
goes back to every row at once."""

import re

import pytest

from sheets.models import SheetView

from .conftest import team_and_sheet

pytestmark = pytest.mark.django_db(transaction=True)

ROWS_IN_ORDER = """(n) => {
  const model = window.gridcast.model;
  if (model.total !== n) return null;
  const rows = [...Array(n).keys()].map((i) => model.rowAt(i));
  return rows.every(Boolean) ? rows.map((r) => r.values.c1) : null;
}"""


def rows_shown(page, n):
    return page.wait_for_function(ROWS_IN_ORDER, arg=n).json_value()


def open_sheet(open_as, person, path):
    page = open_as(person, path)
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading):not([hidden])').length > 0"
    )
    return page


def sort_down_and_keep_amounts_below_100(page):
    """From the Amount column's menu: sort Z→A, then filter Amount lt 100 (the rows "item 10" to "item 1")."""
    amount = page.locator(".gc-colhead[data-col=c2]")
    amount.locator(".gc-menu").click()
    page.get_by_role("button", name="Sort Z→A ↓").click()
    amount.locator(".gc-menu").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("select").nth(1).select_option("lt")
    dialog.get_by_label("Filter value").fill("100")
    dialog.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_selector(".chip >> text=Amount lt 100")


def test_save_a_shared_view_and_open_it_by_url(open_as, workspace):
    team = team_and_sheet(workspace)
    sheet, editor, viewer = team["sheet"], team["editor"], team["viewer"]

    alice = open_sheet(open_as, editor, f"/sheets/{sheet.pk}/")
    sort_down_and_keep_amounts_below_100(alice)
    alice.locator(".gc-colhead[data-col=c3] .gc-menu").click()
    alice.get_by_role("dialog").get_by_role("button", name="Hide").click()
    alice.wait_for_selector(".gc-colhead[data-col=c3]", state="detached")
    expected = [f"item {i}" for i in range(10, 0, -1)]
    assert rows_shown(alice, 10) == expected

    alice.get_by_test_id("save-view").click()
    alice.get_by_label("View name").fill("Low amounts")
    alice.get_by_label("Shared with the workspace").check()
    alice.get_by_test_id("save-view-confirm").click()
    alice.wait_for_url(re.compile(r"\?view=\d+$"))
    view = SheetView.objects.get(sheet=sheet)
    assert (view.name, view.shared, view.created_by_id) == ("Low amounts", True, editor.pk)
    assert view.config["sorts"] == [{"column": "c2", "direction": "desc"}]
    assert view.config["filters"]["conditions"] == [{"column": "c2", "operator": "lt", "value": "100"}]
    assert view.config["hidden"] == ["c3"]
    assert alice.url.endswith(f"?view={view.pk}")

    bob = open_sheet(open_as, viewer, f"/sheets/{sheet.pk}/?view={view.pk}")
    assert rows_shown(bob, 10) == expected
    assert bob.get_by_test_id("views").input_value() == str(view.pk)
    bob.wait_for_selector(".gc-colhead[data-col=c3]", state="detached")
    assert bob.locator(".gc-colhead[data-col=c2]").is_visible()

    bob.get_by_role("button", name="Show hidden columns").click()
    bob.wait_for_selector(".gc-colhead[data-col=c3]")

    # The editor deletes the view: the viewer's page, live, goes back to every row.
    alice.once("dialog", lambda dialog: dialog.accept())
    alice.get_by_test_id("delete-view").click()
    assert rows_shown(bob, 30)[0] == "item 1"
    bob.wait_for_function("!location.search.includes('view=')")
    assert bob.get_by_test_id("views").input_value() == ""
    assert not SheetView.objects.exists()
