"""The sheet page in real browsers: two people edit one sheet live."""

import pytest

from accounts.models import Role
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet, member

from .conftest import screenshot, team_and_sheet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(workspace):
    return team_and_sheet(workspace)


def cell(page, row, col):
    """The grid cell at 1-based row `row` and 0-based column `col` (by position on screen)."""
    return page.locator("[data-testid=grid] .gc-cell:not([hidden])").nth(
        (row - 1) * page.evaluate("document.querySelectorAll('[data-testid=grid] .gc-colhead:not([hidden])').length")
        + col
    )


def open_sheet(open_as, person, sheet, **options):
    page = open_as(person, f"/sheets/{sheet.pk}/", **options)
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading):not([hidden])').length > 0"
    )
    return page


def test_an_edit_typed_by_one_appears_for_the_other(open_as, team):
    sheet = team["sheet"]
    alice = open_sheet(open_as, team["owner"], sheet)
    bob = open_sheet(open_as, team["editor"], sheet)
    assert cell(alice, 1, 0).inner_text() == "item 1"
    cell(alice, 2, 0).click()
    alice.keyboard.type("Typed by Olivia")
    alice.keyboard.press("Enter")
    bob.wait_for_function("[...document.querySelectorAll('.gc-cell')].some(c => c.textContent === 'Typed by Olivia')")
    assert cell(bob, 2, 0).inner_text() == "Typed by Olivia"
    # Stored in the database, and shown in the activity feed of the other.
    bob.wait_for_selector("[data-testid=activity] >> text=Typed by Olivia")
    assert Row.objects.get(pk=team["rows"][1].pk).data["c1"] == "Typed by Olivia"
    screenshot(alice, "sheet-two-users")


def cell_text_is(page, row, col, text):
    page.wait_for_function(
        """([row, col, text]) => {
            const heads = document.querySelectorAll('[data-testid=grid] .gc-colhead:not([hidden])').length;
            const cells = document.querySelectorAll('[data-testid=grid] .gc-cell:not([hidden])');
            return cells[(row - 1) * heads + col]?.textContent === text;
        }""",
        arg=[row, col, text],
    )


def saved(page):
    """Every write of this page acknowledged."""
    page.wait_for_function("window.gridcast && window.gridcast.socket.unacknowledged === 0")


def test_others_selection_is_outlined_with_their_name(open_as, team):
    sheet = team["sheet"]
    alice = open_sheet(open_as, team["owner"], sheet)
    bob = open_sheet(open_as, team["editor"], sheet)
    cell(bob, 5, 1).click()
    peer = alice.locator(".gc-peer:not([hidden])")
    peer.wait_for()
    assert peer.inner_text() == "Eddie Editor"
    # The outline sits on row 5, column 1 of Alice's grid.
    box, target = peer.bounding_box(), cell(alice, 5, 1).bounding_box()
    assert abs(box["x"] - target["x"]) <= 2 and abs(box["y"] - target["y"]) <= 2
    assert "Eddie Editor" in alice.locator("[data-testid=presence]").inner_text()
    screenshot(alice, "sheet-presence")
    bob.close()
    alice.wait_for_function("!document.querySelector('[data-testid=presence]').textContent.includes('Eddie Editor')")


def test_a_viewer_watches_but_cannot_edit(open_as, team):
    sheet = team["sheet"]
    viewer = open_sheet(open_as, team["viewer"], sheet)
    owner = open_sheet(open_as, team["owner"], sheet)
    assert viewer.locator("[data-testid=read-only]").is_visible()
    cell(viewer, 1, 0).click()
    viewer.keyboard.type("nope")
    viewer.keyboard.press("Enter")
    assert viewer.locator(".gc-editor").count() == 0
    viewer.wait_for_selector(".toast >> text=not edit")
    cell_text_is(viewer, 1, 0, "item 1")
    assert Row.objects.get(pk=team["rows"][0].pk).data["c1"] == "item 1"
    # ...and still sees the others' edits live.
    cell(owner, 1, 0).dblclick()
    owner.keyboard.press("Control+A")
    owner.keyboard.type("changed by the owner")
    owner.keyboard.press("Enter")
    cell_text_is(viewer, 1, 0, "changed by the owner")


def test_a_pasted_3x3_block_lands_in_both(open_as, team):
    sheet = team["sheet"]
    alice = open_sheet(open_as, team["owner"], sheet, permissions=["clipboard-read", "clipboard-write"])
    bob = open_sheet(open_as, team["editor"], sheet)
    cell(alice, 3, 0).click()
    alice.evaluate("navigator.clipboard.writeText('x1\\t1.5\\t7\\nx2\\t2.5\\t8\\nx3\\t3.5\\t9\\n')")
    alice.keyboard.press("Control+V")
    for page in (alice, bob):
        cell_text_is(page, 5, 2, "9")
        cell_text_is(page, 3, 0, "x1")
        cell_text_is(page, 4, 1, "2.5")
    saved(alice)
    rows = [Row.objects.get(pk=r.pk).data for r in team["rows"][2:5]]
    assert [(d["c1"], d["c2"], d["c3"]) for d in rows] == [("x1", 1.5, 7), ("x2", 2.5, 8), ("x3", 3.5, 9)]


def test_undo_and_redo_of_ones_own_edit(open_as, team):
    sheet = team["sheet"]
    alice = open_sheet(open_as, team["owner"], sheet)
    bob = open_sheet(open_as, team["editor"], sheet)
    cell(alice, 1, 1).click()
    alice.keyboard.type("999")
    alice.keyboard.press("Enter")
    cell_text_is(bob, 1, 1, "999")
    saved(alice)
    alice.keyboard.press("Control+Z")
    for page in (alice, bob):
        cell_text_is(page, 1, 1, "0")
    saved(alice)
    assert Row.objects.get(pk=team["rows"][0].pk).data["c2"] == 0
    alice.keyboard.press("Control+Y")
    cell_text_is(bob, 1, 1, "999")


def test_a_rejected_value_is_shown_on_the_cell(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    cell(page, 2, 1).click()
    page.keyboard.type("lots")
    page.keyboard.press("Enter")
    page.wait_for_selector(".gc-cell.error")
    bad = page.locator(".gc-cell.error")
    assert bad.inner_text() == "lots"
    assert "not a number" in bad.get_attribute("title")
    assert Row.objects.get(pk=team["rows"][1].pk).data["c2"] == 10


def test_reload_keeps_the_data(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    cell(page, 7, 0).click()
    page.keyboard.type("kept")
    page.keyboard.press("Tab")
    saved(page)
    page.reload()
    page.wait_for_selector("[data-testid=status][data-state=open]")
    cell_text_is(page, 7, 0, "kept")


def test_edits_made_while_disconnected_are_sent_on_reconnect(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    cell(page, 4, 0).click()
    page.evaluate("window.gridcast.socket.ws.close()")
    page.wait_for_selector("[data-testid=status][data-state=offline]")
    page.keyboard.type("typed offline")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=status][data-state=open]")
    saved(page)
    assert Row.objects.get(pk=team["rows"][3].pk).data["c1"] == "typed offline"


def test_rows_and_columns_can_be_added_and_removed(open_as, team):
    sheet = team["sheet"]
    page = open_sheet(open_as, team["owner"], sheet)
    other = open_sheet(open_as, team["editor"], sheet)
    cell(page, 1, 0).click()
    page.get_by_role("button", name="+ Row ↑").click()
    cell_text_is(other, 2, 0, "item 1")
    page.get_by_role("button", name="+ Column").click()
    other.wait_for_selector(".gc-colhead >> text=Column 8")
    saved(page)
    assert Row.objects.filter(sheet=sheet).count() == 31
    assert sheet.columns.filter(deleted=False).count() == 8


def test_a_phone_sized_screen_reads_scrolls_and_edits(open_as, team):
    page = open_sheet(
        open_as, team["owner"], team["sheet"], viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    assert cell(page, 1, 0).inner_text() == "item 1"
    page.locator(".gc-scroller").evaluate("el => el.scrollTop = 200")
    page.wait_for_function(
        "[...document.querySelectorAll('.gc-rowhead:not([hidden])')].some(r => r.textContent === '20')"
    )
    page.locator(".gc-scroller").evaluate("el => el.scrollTop = 0")
    cell_text_is(page, 2, 0, "item 2")
    cell(page, 2, 0).tap()
    cell(page, 2, 0).tap()
    page.locator(".gc-editor").fill("from a phone")
    page.keyboard.press("Enter")
    saved(page)
    assert Row.objects.get(pk=team["rows"][1].pk).data["c1"] == "from a phone"
    screenshot(page, "sheet-phone")


def test_a_long_sheet_keeps_only_visible_cells_in_the_page(open_as, workspace):
    owner = member(workspace, Role.OWNER)
    sheet = make_sheet(workspace, owner, rows=5000)
    page = open_sheet(open_as, owner, sheet)
    page.locator("[data-testid=grid]").press("Control+End")
    page.wait_for_function(
        "[...document.querySelectorAll('.gc-rowhead:not([hidden])')].some(r => r.textContent === '5000')"
    )
    assert page.locator(".gc-cell").count() < 500


def test_sort_and_filter_by_a_column(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    amount = page.locator(".gc-colhead[data-col=c2]")
    amount.locator(".gc-menu").click()
    page.get_by_role("button", name="Sort Z→A ↓").click()
    cell_text_is(page, 1, 1, "290")
    cell_text_is(page, 1, 0, "item 30")
    amount.locator(".gc-menu").click()
    dialog = page.get_by_role("dialog")
    dialog.locator("select").nth(1).select_option("lt")
    dialog.get_by_label("Filter value").fill("30")
    dialog.get_by_role("button", name="Filter", exact=True).click()
    page.wait_for_selector(".chip >> text=Amount lt 30")
    cell_text_is(page, 1, 1, "20")
    page.wait_for_function("document.querySelectorAll('.gc-rowhead:not([hidden])').length === 3")
    page.get_by_role("button", name="Clear filter").click()
    page.wait_for_function("document.querySelectorAll('.gc-rowhead:not([hidden])').length > 3")


def test_fill_down_copies_the_first_row_of_the_selection(open_as, team):
    page = open_sheet(open_as, team["owner"], team["sheet"])
    cell(page, 1, 0).click()
    cell(page, 4, 0).click(modifiers=["Shift"])
    page.keyboard.press("Control+D")
    cell_text_is(page, 4, 0, "item 1")
    saved(page)
    assert [Row.objects.get(pk=r.pk).data["c1"] for r in team["rows"][:4]] == ["item 1"] * 4


def test_a_viewer_that_was_away_catches_up_with_current_values_only(open_as, team):
    """History is for editors (tests/sheets/test_history_access.py): a viewer that reconnects after
    missing edits gets the cells' current values, never a value overwritten meanwhile; after rows
    changed it reloads the rows; either way it shows what the database holds."""
    sheet, rows, owner = team["sheet"], team["rows"], team["owner"]
    viewer = open_sheet(open_as, team["viewer"], sheet)
    frames = []
    viewer.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(payload)))

    def away():
        viewer.evaluate("""() => { const s = window.gridcast.socket; s.connectLater = s.connect;
                                   s.connect = () => {}; s.ws.close(); }""")
        viewer.wait_for_selector("[data-testid=status][data-state=offline]")

    def back():
        viewer.evaluate("() => { const s = window.gridcast.socket; s.connect = s.connectLater; s.reconnectNow(); }")
        viewer.wait_for_selector("[data-testid=status][data-state=open]")

    away()
    for value in ("draft, never shown", "final value"):
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0].pk, "col": "c1", "value": value}])
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[2].pk, "col": "c1", "value": None}])
    back()
    cell_text_is(viewer, 1, 0, "final value")
    cell_text_is(viewer, 3, 0, "")
    assert frames and not any("draft" in frame for frame in frames), frames

    away()
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "inserted while away"}], before=rows[0].pk)
    services.cells_update(
        sheet=sheet, actor=owner, cells=[{"row": rows[1].pk, "col": "c1", "value": "after the insert"}]
    )
    back()
    cell_text_is(viewer, 1, 0, "inserted while away")
    cell_text_is(viewer, 3, 0, "after the insert")
    version = type(sheet).objects.get(pk=sheet.pk).version
    viewer.wait_for_function(f"window.gridcast.socket.version === {version}")
    assert viewer.evaluate("window.gridcast.model.version") == version
    # The page never asked for the operation log (403 for viewers): no error toast.
    assert viewer.locator(".toast >> text=Activity").count() == 0
