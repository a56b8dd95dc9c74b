"""Time travel in a real browser: an editor changes a cell; the owner opens time travel, scrubs the
timeline back with the keyboard and sees the old value (read-only, bannered, with who made the
version and what changed since), jumps through the recent changes list, restores one row, then
that version; the editor's open grid shows the old values live; undo reverts the restore. The
history panel restores a cell. Viewers are not offered time travel."""

import pytest

from .conftest import team_and_sheet
from .test_history import type_into_a2
from .test_sheet_page import open_sheet

pytestmark = pytest.mark.django_db(transaction=True)


def past_a2(page):
    return page.get_by_test_id("past-grid").locator("tbody tr").nth(1).locator("td").first


def test_scrub_the_timeline_see_the_past_and_restore_it_live(open_as, workspace):
    team = team_and_sheet(workspace, rows=4, numbers=False)
    sheet = team["sheet"]
    eddie = open_sheet(open_as, team["editor"], sheet)
    type_into_a2(eddie, "changed once")
    type_into_a2(eddie, "changed twice")

    olivia = open_sheet(open_as, team["owner"], sheet)
    olivia.get_by_test_id("time-travel-button").click()
    travel = olivia.get_by_test_id("time-travel")
    travel.wait_for()
    banner = olivia.get_by_test_id("time-travel-banner")
    assert "read-only" in banner.inner_text()
    olivia.wait_for_function("document.querySelector('[data-testid=past-grid]') !== null")
    live = int(olivia.evaluate("window.gridcast.model.version"))
    olivia.get_by_test_id("time-travel-version").get_by_text(f"Version {live} of {live}").wait_for()
    assert past_a2(olivia).inner_text() == "changed twice"
    assert "Eddie Editor" in banner.inner_text()

    # The slider has the focus: one step back with the keyboard is the version before.
    olivia.keyboard.press("ArrowLeft")
    olivia.get_by_test_id("time-travel-version").get_by_text(f"Version {live - 1} of {live}").wait_for()
    olivia.wait_for_function(
        "() => document.querySelectorAll('[data-testid=past-grid] tbody tr')[1]?.querySelector('td')?.textContent"
        " === 'changed once'"
    )
    assert "changed" in past_a2(olivia).get_attribute("class")  # the cell that version wrote

    # Two steps back through the recent changes list: before Eddie's edits.
    olivia.get_by_test_id("time-travel-ops").get_by_role("button", name=f"v{live - 2} ").click()
    olivia.wait_for_function(
        "() => document.querySelectorAll('[data-testid=past-grid] tbody tr')[1]?.querySelector('td')?.textContent"
        " === 'item 2'"
    )
    olivia.get_by_test_id("time-travel-since").get_by_text("Since then: 1 cell changed").wait_for()
    # The live grid has not changed meanwhile.
    assert olivia.evaluate("window.gridcast.model.rowAt(1).values.c1") == "changed twice"
    # One row set back from the past grid: the others' grids get it live.
    olivia.get_by_test_id("past-grid").get_by_role("button", name="Restore row 2 as at").click()
    eddie.wait_for_function("window.gridcast.model.rowAt(1).values.c1 === 'item 2'")
    type_into_a2(eddie, "changed thrice")
    # Live changes join the recent changes list while Olivia looks back.
    olivia.get_by_test_id("time-travel-ops").get_by_text("“changed thrice”").wait_for()

    olivia.get_by_test_id("restore-version").click()
    travel.wait_for(state="detached")
    # Eddie's open grid gets the restore live, and so does Olivia's.
    eddie.wait_for_function("window.gridcast.model.rowAt(1).values.c1 === 'item 2'")
    olivia.wait_for_function("window.gridcast.model.rowAt(1).values.c1 === 'item 2'")
    eddie.get_by_test_id("activity").get_by_text(f"restored the sheet to version {live - 2}").wait_for()

    # Undo (Olivia's) reverts the restore as one step, live everywhere.
    olivia.get_by_test_id("grid").focus()
    olivia.keyboard.press("Control+z")
    eddie.wait_for_function("window.gridcast.model.rowAt(1).values.c1 === 'changed thrice'")

    # Escape leaves time travel for the live grid (once its reads are answered: a read in flight
    # would meet the test database's flush at teardown).
    olivia.get_by_test_id("time-travel-button").click()
    olivia.get_by_test_id("time-travel-ops").get_by_text(f"v{live + 4} ").wait_for()
    olivia.wait_for_function("document.querySelector('[data-testid=past-grid]') !== null")
    olivia.keyboard.press("Escape")
    travel.wait_for(state="detached")


def test_viewers_are_not_offered_time_travel(open_as, workspace):
    team = team_and_sheet(workspace, rows=3, numbers=False)
    vera = open_sheet(open_as, team["viewer"], team["sheet"])
    assert vera.get_by_test_id("time-travel-button").count() == 0
    assert vera.get_by_test_id("time-travel").count() == 0


def test_restore_a_cell_from_its_history(open_as, workspace):
    team = team_and_sheet(workspace, rows=3, numbers=False)
    sheet = team["sheet"]
    eddie = open_sheet(open_as, team["editor"], sheet)
    type_into_a2(eddie, "first")
    type_into_a2(eddie, "second")
    olivia = open_sheet(open_as, team["owner"], sheet)
    olivia.get_by_test_id("grid").focus()
    olivia.keyboard.press("ArrowDown")
    olivia.keyboard.press("Control+Alt+h")
    olivia.wait_for_function("document.querySelectorAll('[data-testid=history-entry]').length === 4")
    entry = olivia.get_by_test_id("history-entry").nth(1)  # Eddie's first edit: "item 2" -> "first"
    assert entry.get_by_test_id("history-after").inner_text() == "first"
    entry.get_by_test_id("history-restore").click()
    eddie.wait_for_function("window.gridcast.model.rowAt(1).values.c1 === 'first'")
    olivia.wait_for_function("document.querySelectorAll('[data-testid=history-entry]').length === 5")
    assert "restored" in olivia.get_by_test_id("history-entry").first.inner_text()


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_time_travel_has_no_serious_accessibility_violation(open_as, workspace, color_scheme):
    from .test_accessibility import serious_violations

    team = team_and_sheet(workspace, rows=3, numbers=False)
    olivia = open_as(team["owner"], f"/sheets/{team['sheet'].pk}/", color_scheme=color_scheme)
    olivia.wait_for_selector("[data-testid=status][data-state=open]")
    olivia.get_by_test_id("time-travel-button").click()
    olivia.wait_for_function("document.querySelectorAll('[data-testid=past-grid] tbody tr').length === 3")
    olivia.keyboard.press("ArrowLeft")
    olivia.get_by_test_id("time-travel-since").wait_for()
    assert serious_violations(olivia) == []
