"""Import a real multi-sheet workbook from the home page: its worksheets are listed, the chosen
ones become sheets, typed, and open in the grid."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from sheets.models import Row, Sheet
from tests.factories import WorkspaceFactory, member
from tests.sheets.io.workbook_files import xlsx

pytestmark = pytest.mark.django_db(transaction=True)


def test_import_a_multi_sheet_workbook_picking_its_worksheets(open_as):
    workspace = WorkspaceFactory(name="Acme")
    owner = member(workspace, Role.OWNER, email="owner@acme.test")
    book = xlsx(
        {
            "People": [
                ["Name", "Born", "Score"],
                ["Ada", dt.date(1985, 12, 10), 9.5],
                ["Grace", dt.date(1996, 12, 9), 8],
            ],
            "Notes": [["Text"], ["skip me"]],
            "Totals": [["Item", "Total"], ["a", 3], ["b", 4], ["c", 5]],
        }
    )
    page = open_as(owner, "/")
    card = page.locator(f"section[data-workspace-id='{workspace.pk}']")
    card.get_by_role("button", name="Import CSV").click()
    card.get_by_label("CSV file or workbook", exact=True).set_input_files(
        {"name": "Team.xlsx", "mimeType": "application/octet-stream", "buffer": book}
    )
    worksheets = card.get_by_role("group", name="Worksheets")
    expect(worksheets.get_by_role("checkbox")).to_have_count(3)
    expect(worksheets).to_contain_text("3 rows, 2 columns")
    worksheets.get_by_role("checkbox", name="Notes").uncheck()
    card.get_by_role("button", name="Import", exact=True).click()

    expect(card.get_by_role("link", name="Team – People")).to_be_visible()
    expect(card.get_by_role("link", name="Team – Totals")).to_be_visible()
    assert not Sheet.objects.filter(name="Team – Notes").exists()
    people = Sheet.objects.get(name="Team – People", workspace=workspace)
    assert [(c.name, c.type) for c in people.columns.order_by("position")] == [
        ("Name", "text"),
        ("Born", "date"),
        ("Score", "number"),
    ]
    assert Row.objects.filter(sheet=people).count() == 2

    card.get_by_role("link", name="Team – People").click()
    expect(page.get_by_text("Grace")).to_be_visible()
