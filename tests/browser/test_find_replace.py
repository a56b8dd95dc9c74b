"""Find and replace in the sheet page, in a real browser, over a 100,000-row sheet: the count comes
from the server, Next moves the grid's active cell to a match near the end (loading its rows), and
Replace all is one operation that undo reverts."""

import pytest

from accounts.models import Role
from sheets.models import Row
from tests.factories import make_sheet, member

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 100_000
NEEDLE = "needle-7Q"
PLANTED = [4, 2_500, 61_000, 98_999]  # row indexes (0-based) holding the needle in column c1


@pytest.fixture
def big(workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    viewer = member(workspace, Role.VIEWER, display_name="Vera Viewer")
    sheet = make_sheet(workspace, owner, columns=[{"name": "Name", "type": "text"}, {"name": "Note", "type": "text"}])
    planted = set(PLANTED)
    Row.objects.bulk_create(
        [
            Row(
                sheet=sheet,
                position=float(i + 1),
                data={"c1": f"{NEEDLE} {i}" if i in planted else f"item {i}", "c2": "x"},
            )
            for i in range(ROWS)
        ],
        batch_size=10_000,
    )
    return {"sheet": sheet, "owner": owner, "viewer": viewer}


def open_sheet(open_as, person, sheet):
    page = open_as(person, f"/sheets/{sheet.pk}/")
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading):not([hidden])').length > 0"
    )
    return page


def count_is(page, text):
    page.wait_for_function(
        "text => document.querySelector('[data-testid=find-count]')?.textContent.trim() === text", arg=text
    )


def shown(page, text):
    """A cell on screen shows `text`."""
    page.wait_for_function(
        "text => [...document.querySelectorAll('[data-testid=grid] .gc-cell:not([hidden])')]"
        ".some((el) => el.textContent === text)",
        arg=text,
    )


def planted_values(sheet):
    rows = Row.objects.filter(sheet=sheet, position__in=[float(i + 1) for i in PLANTED]).order_by("position")
    return [row.data["c1"] for row in rows]


def test_find_next_to_the_end_then_replace_all_and_undo_on_100000_rows(open_as, big):
    sheet = big["sheet"]
    page = open_sheet(open_as, big["owner"], sheet)
    page.locator("[data-testid=grid]").focus()
    page.keyboard.press("Control+f")
    page.wait_for_selector("[data-testid=find-input]:focus")
    page.keyboard.type(NEEDLE)
    count_is(page, "4 matches")

    for n, index in enumerate(PLANTED, start=1):
        page.keyboard.press("Enter")
        count_is(page, f"{n} of 4")
        page.wait_for_function("r => window.gridcast.grid.selection.active.r === r", arg=index)
    # The last match, near row 99,000, is the active cell and on screen, its row loaded.
    page.wait_for_function(
        """([label, text]) => [...document.querySelectorAll('[data-testid=grid] .gc-rowhead.sel')]
             .some((el) => !el.hidden && el.textContent === label)
           && [...document.querySelectorAll('[data-testid=grid] .gc-cell:not([hidden]):not(.loading)')]
             .some((el) => el.textContent === text)""",
        arg=[str(PLANTED[-1] + 1), f"{NEEDLE} {PLANTED[-1]}"],
    )
    assert page.evaluate("window.gridcast.grid.selection.active.c") == 0
    assert page.locator("[data-testid=grid] .gc-cell.found:not([hidden])").inner_text() == f"{NEEDLE} {PLANTED[-1]}"

    page.keyboard.press("Shift+Enter")
    count_is(page, "3 of 4")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # wraps to the first
    count_is(page, "1 of 4")
    screenshot(page, "find-bar")

    page.fill("[data-testid=replace-input]", "found")
    page.click("[data-testid=replace-all]")
    page.wait_for_selector("[data-testid=find-message]:has-text('Replaced 4 cells')")
    count_is(page, "No matches")
    shown(page, f"found {PLANTED[0]}")  # the replace-all arrived live, like any edit
    assert planted_values(sheet) == [f"found {i}" for i in PLANTED]
    answer = page.evaluate(f"fetch('/api/v1/sheets/{sheet.pk}/find/?q=found%20{PLANTED[-1]}').then((r) => r.json())")
    assert answer["total"] == 1

    # Esc closes the bar and gives the grid the keys back: Ctrl+Z undoes the replace-all as one step.
    page.keyboard.press("Escape")
    page.wait_for_selector("[data-testid=find-bar]", state="detached")
    page.wait_for_function("document.activeElement === document.querySelector('[data-testid=grid]')")
    page.keyboard.press("Control+z")
    shown(page, f"{NEEDLE} {PLANTED[0]}")
    assert planted_values(sheet) == [f"{NEEDLE} {i}" for i in PLANTED]


def test_a_viewer_finds_but_cannot_replace(open_as, big):
    page = open_sheet(open_as, big["viewer"], big["sheet"])
    page.locator("[data-testid=grid]").focus()
    page.keyboard.press("Control+f")
    page.wait_for_selector("[data-testid=find-input]:focus")
    page.keyboard.type(f"{NEEDLE} 61000")
    count_is(page, "1 match")
    page.keyboard.press("Enter")
    page.wait_for_function("window.gridcast.grid.selection.active.r === 61000")
    assert page.locator("[data-testid=replace-all]").count() == 0
    assert page.locator("[data-testid=replace-input]").count() == 0


def test_next_goes_past_the_first_page_of_matches(open_as, big):
    """`item 99` is in 1,111 rows (99, 990-999, 9900-9999, 99000-99999); a page holds 200 of them:
    the 201st Next loads the second page with the cursor."""
    page = open_sheet(open_as, big["viewer"], big["sheet"])
    page.locator("[data-testid=grid]").focus()
    page.keyboard.press("Control+f")
    page.keyboard.type("item 99")
    count_is(page, "1,111 matches")
    for n in range(1, 202):
        page.keyboard.press("Enter")
        count_is(page, f"{n} of 1,111")
    page.wait_for_function("window.gridcast.grid.selection.active.r === 99089")
    assert page.locator("[data-testid=grid] .gc-cell.found:not([hidden])").inner_text() == "item 99089"
