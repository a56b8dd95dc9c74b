"""Comments in a real browser, two people in two browser contexts: Eddie selects a cell, writes a
comment and mentions Vera through the @ list; Vera, with the sheet open, gets it live: her bell
counts it, its toast shows, and the cell gets its marker in her grid; the thread is in her panel
(read only: she views the sheet). Resolving it takes the marker away for everyone."""

import pytest

from .conftest import team_and_sheet
from .test_sheet_page import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)

MARKED = "document.querySelectorAll('.gc-cell.commented').length"


def test_a_mention_reaches_the_other_person_live_with_the_marker(open_as, workspace):
    team = team_and_sheet(workspace, rows=5, numbers=False)
    sheet = team["sheet"]
    vera = open_sheet(open_as, team["viewer"], sheet)
    eddie = open_sheet(open_as, team["editor"], sheet)
    assert vera.evaluate(MARKED) == 0

    eddie.get_by_test_id("grid").focus()
    eddie.keyboard.press("Control+Home")
    eddie.keyboard.press("ArrowDown")  # Name · row 2
    eddie.get_by_test_id("comments-button").click()
    panel = eddie.get_by_test_id("comments-panel")
    assert panel.get_by_test_id("comments-target").inner_text() == "Name · row 2"
    box = panel.get_by_test_id("comment-box")
    box.click()
    box.type("Please check <b>this</b> @Ver")
    panel.get_by_test_id("mention-offers").get_by_text("Vera Viewer").wait_for()
    box.press("Enter")  # picks the first offered
    assert box.input_value() == "Please check <b>this</b> @Vera Viewer "
    panel.get_by_test_id("comment-send").click()
    panel.get_by_test_id("comment-body").wait_for()
    eddie.wait_for_function(f"{MARKED} === 1")

    # Vera: the bell counts it, and the cell is marked, without a reload.
    vera.get_by_test_id("bell-count").wait_for()
    assert vera.get_by_test_id("bell-count").inner_text() == "1"
    vera.wait_for_function(f"{MARKED} === 1")
    marked = vera.locator(".gc-cell.commented")
    assert marked.inner_text() == "item 2"
    vera.get_by_role("button", name="Notifications, 1 unread").click()
    item = vera.get_by_role("dialog", name="Notifications").locator("li").first
    assert "Eddie Editor mentioned you on Orders: “Please check <b>this</b> @Vera Viewer”" in item.inner_text()
    link = item.get_by_role("link", name="open the comment").get_attribute("href")
    assert link.startswith(f"/sheets/{sheet.pk}/?comment=")

    # The link opens the thread in the panel; a viewer reads it and is offered no box.
    vera.goto(link)
    vera_panel = vera.get_by_test_id("comments-panel")
    vera_panel.get_by_test_id("comment-body").wait_for()
    assert vera_panel.get_by_test_id("comment-body").inner_text() == "Please check <b>this</b> @Vera Viewer"
    assert vera_panel.get_by_test_id("comment-box").count() == 0

    # Resolved by Eddie: the marker goes for both.
    panel.get_by_test_id("resolve").click()
    eddie.wait_for_function(f"{MARKED} === 0")
    vera.wait_for_function(f"{MARKED} === 0")
