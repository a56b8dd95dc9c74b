"""A cell's history in a real browser: one person edits a cell twice, another opens the cell's
history (Ctrl+Alt+H) and sees both changes with who made them and the values before and after,
then a third edit appears in the open panel live; the whole-row toggle; viewers are not offered it."""

import pytest

from .conftest import team_and_sheet
from .test_sheet_page import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def type_into_a2(page, text):
    page.get_by_test_id("grid").focus()
    page.keyboard.press("Control+Home")
    page.keyboard.press("ArrowDown")
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "t => [...document.querySelectorAll('[role=gridcell]')].some(c => c.textContent === t)", arg=text
    )
    page.wait_for_function("window.gridcast.socket.unacknowledged === 0")


def entries(page):
    return page.get_by_test_id("history-entry")


def test_the_history_of_a_cell_with_who_and_before_after_live(open_as, workspace):
    team = team_and_sheet(workspace, rows=5, numbers=False)
    sheet = team["sheet"]
    eddie = open_sheet(open_as, team["editor"], sheet)
    type_into_a2(eddie, "first")
    type_into_a2(eddie, "second")

    olivia = open_sheet(open_as, team["owner"], sheet)
    olivia.get_by_test_id("grid").focus()
    olivia.keyboard.press("ArrowDown")
    olivia.keyboard.press("Control+Alt+h")
    panel = olivia.get_by_test_id("history-panel")
    panel.wait_for()
    assert panel.get_by_test_id("history-target").inner_text() == "Name · row 2"
    olivia.wait_for_function("document.querySelectorAll('[data-testid=history-entry]').length === 4")
    texts = entries(olivia).all_inner_texts()
    assert texts[0].startswith("Eddie Editor changed Name") and "second" in texts[0]
    assert [entries(olivia).nth(i).get_by_test_id("history-before").inner_text() for i in range(3)] == [
        "first",
        "item 2",
        "empty",
    ]
    assert [entries(olivia).nth(i).get_by_test_id("history-after").inner_text() for i in range(3)] == [
        "second",
        "first",
        "item 2",
    ]
    assert texts[1].startswith("Eddie Editor") and texts[2].startswith("You changed Name")
    assert texts[3].startswith("You added the row")

    # A third edit arrives live in the open panel.
    type_into_a2(eddie, "third")
    olivia.wait_for_function("document.querySelectorAll('[data-testid=history-entry]').length === 5")
    first = entries(olivia).first
    assert first.get_by_test_id("history-before").inner_text() == "second"
    assert first.get_by_test_id("history-after").inner_text() == "third"

    # The whole row: an edit of another cell of the row is there too.
    olivia.get_by_test_id("grid").focus()
    olivia.keyboard.press("ArrowRight")
    olivia.keyboard.type("7")
    olivia.keyboard.press("Enter")  # saved, and down to B3: the panel follows the active cell
    olivia.keyboard.press("ArrowUp")
    panel.get_by_text("Amount · row 2").wait_for()
    olivia.get_by_test_id("history-whole-row").check()
    panel.get_by_text("changed Amount").wait_for()
    assert entries(olivia).count() == 6


def test_viewers_are_not_offered_history(open_as, workspace):
    team = team_and_sheet(workspace, rows=3, numbers=False)
    vera = open_sheet(open_as, team["viewer"], team["sheet"])
    assert vera.get_by_test_id("history-button").count() == 0
    vera.get_by_test_id("grid").focus()
    vera.keyboard.press("Control+Alt+h")
    vera.get_by_text("The history of a cell is for editors").wait_for()
    assert vera.get_by_test_id("history-panel").count() == 0
