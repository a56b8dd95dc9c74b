"""The sheet page in real browsers: two people edit one sheet live."""
import pytest

from accounts.models import Role
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet, member

from .conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(workspace):
    owner = member(workspace, Role.OWNER, display_name="Olivia Owner")
    editor = member(workspace, Role.EDITOR, display_name="Eddie Editor")
    viewer = member(workspace, Role.VIEWER, display_name="Vera Viewer")
    sheet = make_sheet(workspace, owner, rows=30)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position"))
    services.cells_update(sheet=sheet, actor=owner, cells=[
        {"row": row.pk, "col": "c1", "value": f"item {i + 1}"} for i, row in enumerate(rows)
    ] + [{"row": row.pk, "col": "c2", "value": str(i * 10)} for i, row in enumerate(rows)])
    return {"sheet": sheet, "owner": owner, "editor": editor, "viewer": viewer, "rows": rows}


def cell(page, row, col):
    """The grid cell at 1-based row `row` and 0-based column `col` (by position on screen)."""
    return page.locator(f"[data-testid=grid] .gc-cell:not([hidden])").nth((row - 1) * page.evaluate(
        "document.querySelectorAll('[data-testid=grid] .gc-colhead:not([hidden])').length") + col)


def open_sheet(open_as, person, sheet, **options):
    page = open_as(person, f"/sheets/{sheet.pk}/", **options)
    page.wait_for_selector("[data-testid=status][data-state=open]")
    page.wait_for_function("document.querySelectorAll('[data-testid=grid] .gc-cell:not(.loading):not([hidden])').length > 0")
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
