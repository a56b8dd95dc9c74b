"""The grid with the keyboard alone, as a screen reader sees it: ARIA grid roles and indexes, the
active cell in aria-activedescendant and aria-selected, the live region, edits typed and
cancelled, others' edits announced, and the keyboard-shortcut dialog."""

import pytest

from sheets import services
from sheets.models import Row

from .conftest import team_and_sheet
from .test_sheet_page import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)

ACTIVE = "document.getElementById(document.querySelector('[data-testid=grid]').getAttribute('aria-activedescendant'))"


@pytest.fixture
def team(workspace):
    return team_and_sheet(workspace, rows=200, numbers=False)


def active(page) -> dict:
    """The active cell as assistive technology finds it: through the grid's aria-activedescendant."""
    return page.evaluate(
        f"""() => {{ const cell = {ACTIVE}; if (!cell) return null;
        return {{ text: cell.textContent, role: cell.getAttribute('role'), col: cell.getAttribute('aria-colindex'),
                 row: cell.parentElement.getAttribute('aria-rowindex'),
                 rowRole: cell.parentElement.getAttribute('role'),
                 selected: cell.getAttribute('aria-selected'), readonly: cell.getAttribute('aria-readonly') }}; }}"""
    )


def live(page) -> str:
    return page.get_by_test_id("grid-live").inner_text()


def test_grid_semantics_and_arrows(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet)
    grid = page.get_by_role("grid", name="Sheet grid")
    grid.focus()
    assert grid.get_attribute("aria-rowcount") == "201"  # the whole sheet and its head row, not the window
    assert grid.get_attribute("aria-colcount") == str(sheet.columns.count())
    heads = page.get_by_role("columnheader")
    assert heads.first.get_attribute("aria-colindex") == "1"
    assert page.locator("[role=row][aria-rowindex='1'] [role=columnheader]").count() == heads.count()
    assert active(page) == {
        "text": "item 1",
        "role": "gridcell",
        "col": "1",
        "row": "2",
        "rowRole": "row",
        "selected": "true",
        "readonly": None,
    }

    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowRight")
    page.wait_for_function(f"{ACTIVE}?.getAttribute('aria-colindex') === '2'")
    assert active(page)["row"] == "4"
    assert page.locator("[role=gridcell][aria-selected=true]").count() == 1
    assert live(page).startswith("B3, ")
    page.keyboard.press("ArrowLeft")
    page.wait_for_function("document.querySelector('[data-testid=grid-live]').textContent === 'A3, Name, item 3'")
    page.keyboard.press("Shift+ArrowDown")
    page.wait_for_function("document.querySelectorAll('[role=gridcell][aria-selected=true]').length === 2")
    assert live(page) == "A4, Name, item 4, 2 by 1 cells selected"

    # Far down (virtual scrolling re-uses the cells): focus stays on the grid, the indexes follow.
    page.keyboard.press("Control+ArrowDown")
    page.wait_for_function(f"{ACTIVE}?.textContent === 'item 200'")
    assert active(page)["row"] == "201"
    assert page.evaluate("document.activeElement.dataset.testid") == "grid"
    page.keyboard.press("Control+ArrowUp")
    page.wait_for_function(f"{ACTIVE}?.textContent === 'item 1'")
    assert page.evaluate("document.activeElement.dataset.testid") == "grid"


def test_typing_enter_edits_escape_cancels(open_as, team):
    sheet, rows = team["sheet"], team["rows"]
    page = open_sheet(open_as, team["editor"], sheet)
    page.get_by_test_id("grid").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.type("Typed")
    editor = page.get_by_role("textbox", name="Edit Name")
    assert editor.evaluate("e => e === document.activeElement")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelector('[data-testid=grid-live]').textContent === 'A3, Name, item 3'")
    page.wait_for_function("[...document.querySelectorAll('[role=gridcell]')].some(c => c.textContent === 'Typed')")
    assert page.evaluate("document.activeElement.dataset.testid") == "grid"

    page.keyboard.press("ArrowUp")
    page.keyboard.type("Nope")
    page.keyboard.press("Escape")
    assert page.evaluate("document.activeElement.dataset.testid") == "grid"
    page.wait_for_function(f"{ACTIVE}?.textContent === 'Typed'")
    page.wait_for_function("document.querySelector('[data-testid=status]').textContent.includes('Live')")
    page.wait_for_timeout(300)
    assert Row.objects.get(pk=rows[1].pk).data["c1"] == "Typed"


def test_others_edit_of_the_active_cell_is_announced_and_focus_stays(open_as, team):
    sheet, rows = team["sheet"], team["rows"]
    page = open_sheet(open_as, team["owner"], sheet)
    page.get_by_test_id("grid").focus()
    page.keyboard.press("ArrowDown")
    page.wait_for_function("document.querySelector('[data-testid=grid-live]').textContent === 'A2, Name, item 2'")
    services.cells_update(sheet=sheet, actor=team["editor"], cells=[{"row": rows[1].pk, "col": "c1", "value": "Hi"}])
    page.wait_for_function(
        "document.querySelector('[data-testid=grid-live]').textContent === 'Eddie Editor changed A2 to Hi'"
    )
    page.wait_for_function(f"{ACTIVE}?.textContent === 'Hi'")
    assert page.evaluate("document.activeElement.dataset.testid") == "grid"
    # An edit elsewhere says nothing.
    services.cells_update(sheet=sheet, actor=team["editor"], cells=[{"row": rows[5].pk, "col": "c1", "value": "x"}])
    page.wait_for_function("[...document.querySelectorAll('[role=gridcell]')].some(c => c.textContent === 'x')")
    assert live(page) == "Eddie Editor changed A2 to Hi"


def test_viewer_cells_are_read_only(open_as, team):
    page = open_sheet(open_as, team["viewer"], team["sheet"])
    page.get_by_test_id("grid").focus()
    assert active(page)["readonly"] == "true"


def test_shortcut_dialog(open_as, team):
    page = open_sheet(open_as, team["editor"], team["sheet"])
    grid = page.get_by_test_id("grid")
    grid.focus()
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert dialog.is_visible()
    assert dialog.get_attribute("aria-modal") == "true"
    assert dialog.get_by_role("cell", name="Fill down: copy the selection's first row into its other rows").is_visible()
    assert page.evaluate("document.querySelector('[data-testid=shortcuts]').contains(document.activeElement)")
    page.keyboard.press("Tab")  # focus stays in the modal dialog
    page.keyboard.press("Tab")
    assert page.evaluate(
        "document.activeElement === document.body"
        " || document.querySelector('[data-testid=shortcuts]').contains(document.activeElement)"
    )
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert grid.evaluate("g => g === document.activeElement")
    # "?" was not typed into a cell, and the button opens the dialog too.
    assert not page.get_by_role("textbox").count()
    page.get_by_role("button", name="Keyboard shortcuts").click()
    assert dialog.is_visible()
    page.keyboard.press("Escape")
    assert grid.evaluate("g => g === document.activeElement")
