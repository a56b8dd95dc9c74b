"""Dashboard widgets over the sheets' history (cell_history): edits per person (or per column) per
time bucket, in the dashboard's time range, one sheet or all of the workspace's; background
recomputes and other workspaces' edits never counted; the query checked with a reason. On real
PostgreSQL and DuckLake (the `writer` fixture: tests/analytics/conftest.py)."""

import datetime as dt
import json

import pytest

from accounts.models import Role
from analytics.dashboards import layouts
from analytics.queries import widget_query
from core.errors import InvalidInput, NotFound
from sheets import services
from tests.factories import WorkspaceFactory, make_sheet, member

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]

LAST_HOUR = {"range": 3600}


def edit(sheet, actor, row, col, value):
    services.cells_update(sheet=sheet, actor=actor, cells=[{"row": row, "col": col, "value": value}])


@pytest.fixture
def edited(workspace, owner, writer):
    """Two people's edits on two sheets of the workspace, and edits of another workspace."""
    owner.display_name = "Olive"
    owner.save()
    editor = member(workspace, Role.EDITOR, display_name="Eddie")
    orders = make_sheet(workspace, owner, rows=2)
    notes = make_sheet(workspace, owner, rows=1, name="Notes")
    first, second = orders.rows.order_by("id").values_list("pk", flat=True)
    edit(orders, owner, first, "c1", "a")
    edit(orders, editor, first, "c1", "b")
    edit(orders, editor, second, "c2", 3)
    edit(notes, editor, notes.rows.get().pk, "c1", "x")
    other = WorkspaceFactory()
    stranger = member(other, Role.OWNER, display_name="Olive")  # the same name: still not counted
    theirs = make_sheet(other, stranger, rows=1)
    edit(theirs, stranger, theirs.rows.get().pk, "c1", "z")
    writer.catch_up()
    return orders, notes, theirs


def totals(result):
    return {t["group"]: t["value"] for t in result["totals"]}


def test_edits_per_person_per_day(workspace, edited):
    orders, notes, _ = edited
    query = {"source": "history", "group_by": "actor", "bucket": "day"}
    result = layouts.widget_data(workspace_id=workspace.pk, query=query, filters=LAST_HOUR)
    # Olive: her edit and the 2 + 1 rows created with the sheets; Eddie: 3 cells.
    assert totals(result) == {"Olive": 4, "Eddie": 3}
    today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    for series in result["series"]:
        [(day, count)] = series["points"]
        assert day.startswith(today) and count == totals(result)[series["group"]]
    assert result["labels"] == {"sheet": None, "group_by": "person"}

    one = {"source": "history", "sheet": notes.pk, "group_by": "column"}
    result = layouts.widget_data(workspace_id=workspace.pk, query=one, filters=LAST_HOUR)
    assert totals(result) == {"Name": 1, None: 1} and result["labels"]["sheet"] == "Notes"  # None: the row created


def test_only_the_dashboards_time_range_counts(workspace, edited):
    query = {"source": "history", "group_by": None}
    earlier = {"from": "2020-01-01T00:00:00Z", "to": "2020-01-02T00:00:00Z"}
    assert totals(layouts.widget_data(workspace_id=workspace.pk, query=query, filters=earlier)) == {None: 0}
    assert totals(layouts.widget_data(workspace_id=workspace.pk, query=query, filters=LAST_HOUR)) == {None: 7}


def test_another_workspaces_sheet_is_not_found(workspace, edited):
    _, _, theirs = edited
    with pytest.raises(NotFound, match="no such sheet in this workspace"):
        layouts.widget_data(
            workspace_id=workspace.pk, query={"source": "history", "sheet": theirs.pk}, filters=LAST_HOUR
        )


@pytest.mark.parametrize(
    "query, message",
    [
        ({"group_by": "old_value"}, "groups by actor or column"),
        ({"group_by": "c1"}, "groups by actor or column"),
        ({"bucket": "week"}, "bucket is one of"),
        ({"top": 0}, "top is between 1 and 100"),
        ({"sheet": "x"}, "names its sheet id"),
        ({"sheet": -3}, "names its sheet id"),
    ],
)
def test_history_queries_are_checked_with_a_reason(query, message):
    with pytest.raises(InvalidInput, match=message):
        widget_query.clean_query({"source": "history", **query})


def test_the_polling_endpoint_answers_members_only(client, workspace, viewer, outsider, edited):
    url = f"/workspaces/{workspace.pk}/dashboard/widget/"
    params = {"query": json.dumps({"source": "history", "group_by": "actor"}), "filters": json.dumps(LAST_HOUR)}
    client.force_login(outsider)
    assert client.get(url, params).status_code == 404
    client.force_login(viewer)
    answer = client.get(url, params)
    assert answer.status_code == 200, answer.content
    assert totals(answer.json()) == {"Olive": 4, "Eddie": 3}
    assert "old_value" not in answer.content.decode() and '"a"' not in answer.content.decode()
