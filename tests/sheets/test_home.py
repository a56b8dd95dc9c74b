import pytest

from accounts.models import Role
from sheets import selectors, services

from ..factories import WorkspaceFactory, make_sheet, member, user

pytestmark = pytest.mark.django_db


def _sheet_of(data, sheet_id):
    for workspace in data["workspaces"]:
        for sheet in workspace["sheets"]:
            if sheet["id"] == sheet_id:
                return sheet
    return next((sheet for sheet in data["shared"] if sheet["id"] == sheet_id), None)


def test_home_lists_workspaces_with_role_and_what_it_allows(workspace, owner, sheet):
    viewer = member(workspace, Role.VIEWER)
    other = WorkspaceFactory(name="Another")
    member(other, Role.EDITOR, email="e@example.com")  # not the viewer's workspace

    as_owner = selectors.home_for_user(owner)
    (entry,) = as_owner["workspaces"]
    assert (entry["id"], entry["role"], entry["can_edit"], entry["can_manage"]) == (workspace.pk, "owner", True, True)
    assert [s["id"] for s in entry["sheets"]] == [sheet.pk]
    assert _sheet_of(as_owner, sheet.pk)["access"] == "own"
    assert _sheet_of(as_owner, sheet.pk)["url"] == f"/sheets/{sheet.pk}/"

    as_viewer = selectors.home_for_user(viewer)
    (entry,) = as_viewer["workspaces"]
    assert (entry["role"], entry["can_edit"], entry["can_manage"]) == ("viewer", False, False)
    assert _sheet_of(as_viewer, sheet.pk)["access"] == "view"
    assert as_viewer["shared"] == []


def test_home_counts_rows_per_sheet(workspace, owner):
    big = make_sheet(workspace, owner, rows=7, name="Big")
    empty = make_sheet(workspace, owner, name="Empty")
    data = selectors.home_for_user(owner)
    assert (_sheet_of(data, big.pk)["rows"], _sheet_of(data, big.pk)["rows_capped"]) == (7, False)
    assert _sheet_of(data, empty.pk)["rows"] == 0
    # Sheets come sorted by name within the workspace.
    assert [s["name"] for s in data["workspaces"][0]["sheets"]] == ["Big", "Empty"]


def test_row_count_stops_at_the_cap(workspace, owner, monkeypatch):
    monkeypatch.setattr(selectors, "ROW_COUNT_CAP", 3)
    sheet = make_sheet(workspace, owner, rows=5)
    entry = _sheet_of(selectors.home_for_user(owner), sheet.pk)
    assert (entry["rows"], entry["rows_capped"]) == (3, True)


def test_sheets_shared_one_by_one_are_listed_apart_with_their_level(workspace, owner, sheet):
    guest = user()
    services.sheet_share(sheet=sheet, user=guest, level="edit")
    data = selectors.home_for_user(guest)
    assert data["workspaces"] == []
    (entry,) = data["shared"]
    assert (entry["id"], entry["access"], entry["workspace_name"]) == (sheet.pk, "edit", workspace.name)

    services.sheet_share(sheet=sheet, user=guest, level="view")
    assert selectors.home_for_user(guest)["shared"][0]["access"] == "view"

    services.sheet_share(sheet=sheet, user=guest, level=None)
    assert selectors.home_for_user(guest)["shared"] == []


def test_a_viewer_given_edit_on_one_sheet_may_edit_that_sheet_only(workspace, owner):
    viewer = member(workspace, Role.VIEWER)
    mine, other = make_sheet(workspace, owner, name="A"), make_sheet(workspace, owner, name="B")
    services.sheet_share(sheet=mine, user=viewer, level="edit")
    data = selectors.home_for_user(viewer)
    assert (_sheet_of(data, mine.pk)["access"], _sheet_of(data, other.pk)["access"]) == ("edit", "view")
    # Listed in its workspace, not twice.
    assert data["shared"] == []


def test_other_peoples_workspaces_stay_out(workspace, owner, sheet, outsider):
    data = selectors.home_for_user(outsider)
    assert data["workspaces"] == [] and data["shared"] == []


def test_home_reads_in_a_fixed_number_of_queries(workspace, owner, django_assert_max_num_queries):
    for n in range(5):
        make_sheet(workspace, owner, rows=2, name=f"S{n}")
    with django_assert_max_num_queries(5):
        selectors.home_for_user(owner)
