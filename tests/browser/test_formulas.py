"""Formula columns in real browsers: one person adds [Price] * [Qty], another edits Qty, and both
see the new result; formula cells are read-only and show their formula."""

import pytest

from accounts.models import Role
from sheets import services
from sheets.models import Column, Row
from tests.factories import make_sheet, member

from .test_sheet_page import cell, cell_text_is, open_sheet

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop(workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    sheet = make_sheet(
        workspace, owner, columns=[{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]
    )
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 2.5, "c2": 4}, {"c1": 10, "c2": 1}])
    return {"sheet": sheet, "owner": owner, "editor": editor}


def test_add_a_formula_column_and_see_it_follow_another_persons_edit(open_as, shop):
    sheet = shop["sheet"]
    alice = open_sheet(open_as, shop["owner"], sheet)
    bob = open_sheet(open_as, shop["editor"], sheet)

    cell(alice, 1, 1).click()  # the new column goes right of the selection
    alice.once("dialog", lambda dialog: dialog.accept("[Price] * [Qty]"))
    alice.get_by_role("button", name="+ Formula").click()
    for page in (alice, bob):
        cell_text_is(page, 1, 2, "10")
        cell_text_is(page, 2, 2, "10")
    assert "computed" in cell(bob, 1, 2).get_attribute("class")
    assert cell(bob, 1, 2).get_attribute("title") == "= [Price] * [Qty]"

    cell(bob, 2, 1).click()  # Qty of the second row
    bob.keyboard.type("7")
    bob.keyboard.press("Enter")
    for page in (alice, bob):
        cell_text_is(page, 2, 2, "70")
    key = Column.objects.get(sheet=sheet, name="Formula 1").key
    assert sorted(Row.objects.filter(sheet=sheet).values_list(f"data__{key}", flat=True)) == [10, 70]

    # A formula cell is not edited: typing on it says why and changes nothing.
    cell(bob, 1, 2).click()
    bob.keyboard.type("5")
    bob.wait_for_selector("text=is computed by its formula")
    cell_text_is(bob, 1, 2, "10")


def test_a_bad_formula_is_refused_with_the_servers_message(open_as, shop):
    alice = open_sheet(open_as, shop["owner"], shop["sheet"])
    alice.once("dialog", lambda dialog: dialog.accept("[Price] * [Quantity]"))
    alice.get_by_role("button", name="+ Formula").click()
    alice.wait_for_selector("text=no column named 'Quantity' in this sheet")
    assert not Column.objects.filter(sheet=shop["sheet"], type="formula").exists()


def test_a_formula_changed_on_a_large_sheet_shows_its_progress_then_the_new_values(open_as, workspace, jobs_worker):
    """12,000 rows: more than FORMULA_INLINE_ROWS, so the new formula is computed in the
    background, in three batches; the page shows a progress badge, then the new values."""
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    columns = [
        {"name": "Price", "type": "number"},
        {"name": "Qty", "type": "integer"},
        {"name": "Total", "type": "formula", "options": {"formula": "[Price] * [Qty]"}},
    ]
    sheet = make_sheet(workspace, owner, columns=columns)
    for start in (0, 6000):
        rows = [{"c1": i, "c2": 2} for i in range(start + 1, start + 6001)]
        services.rows_insert(sheet=sheet, actor=owner, rows=rows)
    page = open_sheet(open_as, owner, sheet)
    cell_text_is(page, 2, 2, "4")
    # The badge may come and go between two polls: a MutationObserver keeps every text it showed.
    page.evaluate(
        """() => {
            window.badges = [];
            window.dimmed = 0;
            new MutationObserver(() => {
                const badge = document.querySelector('[data-testid=recompute]');
                if (badge) window.badges.push(badge.textContent.replace(/\\s+/g, ' ').trim());
                window.dimmed += document.querySelectorAll('.gc-cell.pending[title^="Being recomputed"]').length;
            }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
        }"""
    )
    head = page.locator(".gc-colhead[data-col=c3]")
    head.locator(".gc-menu").click()
    page.get_by_test_id("column-formula").fill("[Price] * [Qty] + 1")
    page.get_by_role("button", name="Change type").click()
    cell_text_is(page, 2, 2, "5")
    cell_text_is(page, 1, 2, "3")
    page.wait_for_selector("[data-testid=recompute]", state="detached")
    badges = page.evaluate("window.badges")
    assert badges and all(text.startswith("Computing Total…") for text in badges), badges
    assert "0%" in badges[0]
    assert page.evaluate("window.dimmed") > 0  # the Total cells not recomputed yet were shown dimmed
    done = sorted({int(text.rsplit(" ", 1)[-1].rstrip("%")) for text in badges})
    assert done[0] == 0 and any(0 < d < 100 for d in done), done  # 0%, then 41% and 83% of the rows
    ordered = Row.objects.filter(sheet=sheet).order_by("pk").values_list("data__c3", flat=True)
    assert list(ordered[:3]) == [3, 5, 7] and ordered.last() == 24_001


def test_deleting_a_range_across_a_formula_column_clears_the_other_cells(open_as, shop):
    """Delete over Price, Qty and a formula column: the server refuses writes into formula cells
    (the whole edit, as one batch), so the grid leaves them out and the others clear; the formula
    follows its cleared inputs."""
    sheet = shop["sheet"]
    services.column_add(
        sheet=sheet, actor=shop["owner"], name="Total", type="formula", options={"formula": "[Price] * [Qty]"}
    )
    alice = open_sheet(open_as, shop["owner"], sheet)
    cell_text_is(alice, 1, 2, "10")
    cell(alice, 1, 0).click()
    cell(alice, 1, 2).click(modifiers=["Shift"])
    alice.keyboard.press("Delete")
    cell_text_is(alice, 1, 0, "")
    cell_text_is(alice, 1, 1, "")
    cell_text_is(alice, 1, 2, "0")  # recomputed by the server from the cleared inputs
    first = Row.objects.filter(sheet=sheet).order_by("position").first()
    assert first.data.get("c1") is None and first.data.get("c2") is None
