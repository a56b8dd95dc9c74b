"""Saved views: the config's schema, who sees and changes which view, rows and totals through
`view=<id>` over the whole sheet, and a view whose column was deleted since."""

import pytest

from accounts.models import Role
from sheets import services
from sheets.models import SheetView

from ..factories import make_sheet, member

pytestmark = pytest.mark.django_db

FRUIT = [
    {"c1": "pear", "c2": 3, "c7": "new"},
    {"c1": "Apple", "c2": 10, "c7": "shipped"},
    {"c1": "fig", "c2": -1},
    {"c1": "banana", "c2": 2.5, "c7": "new"},
    {"c1": "kiwi", "c2": 3, "c7": "shipped"},
]


@pytest.fixture
def fruit(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, rows=FRUIT)
    return sheet


def views_url(sheet, view_id=None):
    return f"/api/v1/sheets/{sheet.pk}/views/" + (f"{view_id}/" if view_id else "")


def create(api, who, sheet, config, shared=False, name="My view"):
    return api(who).post(views_url(sheet), {"name": name, "shared": shared, "config": config}, format="json")


def names(api, who, sheet, query):
    answer = api(who).get(f"/api/v1/sheets/{sheet.pk}/rows/?{query}")
    assert answer.status_code == 200, answer.content
    return [r["values"]["c1"] for r in answer.json()["rows"]]


# --- the schema ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config,message",
    [
        ({"filters": {"op": "and", "conditions": [{"column": "c99", "operator": "eq", "value": 1}]}}, "c99"),
        ({"sorts": [{"column": "zz", "direction": "asc"}]}, "zz"),
        ({"hidden": ["c1", "nope"]}, "nope"),
        ({"order": ["c2", "gone"]}, "gone"),
        ({"widths": {"c42": 100}}, "c42"),
        ({"totals": {"c8": "count"}}, "c8"),
        ({"frozen": ["c1", "x9"]}, "x9"),
    ],
)
def test_an_unknown_column_is_refused_by_name(api, owner, sheet, config, message):
    answer = create(api, owner, sheet, config)
    assert answer.status_code == 400
    assert message in answer.json()["error"]["message"]
    assert not SheetView.objects.exists()


@pytest.mark.parametrize(
    "config",
    [
        "not an object",
        {"colour": "red"},
        {"filters": {"op": "xor", "conditions": []}},
        {"filters": {"op": "and", "conditions": [{"column": "c1", "operator": "like", "value": "a"}]}},
        {"filters": {"op": "and", "conditions": [{"column": "c2", "operator": "gt", "value": "abc"}]}},
        {"filters": {"op": "and", "conditions": [{"column": "c2", "operator": "in", "value": "3"}]}},
        {"filters": {"op": "and", "conditions": [{"column": "c1", "operator": "eq", "value": {"a": 1}}]}},
        {"filters": {"op": "and", "conditions": "c1"}},
        {"sorts": [{"column": "c1", "direction": "up"}]},
        {"sorts": [{"column": "c1"}, {"column": "c1"}]},
        {"sorts": "c1"},
        {"hidden": ["c1", "c1"]},
        {"frozen": 99},
        {"frozen": -1},
        {"frozen": True},
        {"widths": {"c1": 39}},
        {"widths": {"c1": 2001}},
        {"widths": {"c1": "wide"}},
        {"totals": {"c1": "sum"}},  # a text column has no sum
        {"totals": {"c2": "median"}},
    ],
)
def test_a_bad_config_is_a_clear_400(api, owner, sheet, config):
    answer = create(api, owner, sheet, config)
    assert answer.status_code == 400, answer.content
    assert answer.json()["error"]["message"]
    assert not SheetView.objects.exists()


def test_a_full_config_is_kept(api, owner, sheet):
    config = {
        "filters": {"op": "or", "conditions": [{"column": "c1", "operator": "contains", "value": "an"}]},
        "sorts": [{"column": "c2", "direction": "desc"}, {"column": "c1", "direction": "asc"}],
        "hidden": ["c3"],
        "frozen": 1,
        "order": ["c2", "c1"],
        "widths": {"c1": 240},
        "totals": {"c2": "sum", "c1": "unique"},
    }
    answer = create(api, owner, sheet, config)
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["config"] == config and body["problems"] == [] and body["mine"] and body["can_change"]


def test_a_bad_name_is_refused(api, owner, sheet):
    answer = api(owner).post(views_url(sheet), {"name": "  ", "config": {}}, format="json")
    assert answer.status_code == 400


# --- who ------------------------------------------------------------------------------------------


def test_personal_views_are_their_owners_and_shared_views_everyones(api, workspace, owner, editor, viewer, sheet):
    mine = create(api, viewer, sheet, {}, name="Viewer's own").json()
    shared = create(api, editor, sheet, {}, shared=True, name="Team").json()

    assert {v["name"] for v in api(viewer).get(views_url(sheet)).json()} == {"Viewer's own", "Team"}
    assert {v["name"] for v in api(owner).get(views_url(sheet)).json()} == {"Team"}
    # Someone's personal view is not found for the others, not even the sheet's owner.
    assert api(owner).get(views_url(sheet, mine["id"])).status_code == 404
    assert api(owner).patch(views_url(sheet, mine["id"]), {"name": "x"}, format="json").status_code == 404
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/rows/?view={mine['id']}").status_code == 404

    # A viewer reads a shared view but does not change it; nor shares a personal one.
    assert api(viewer).patch(views_url(sheet, shared["id"]), {"name": "x"}, format="json").status_code == 403
    assert api(viewer).delete(views_url(sheet, shared["id"])).status_code == 403
    assert create(api, viewer, sheet, {}, shared=True).status_code == 403
    assert api(viewer).patch(views_url(sheet, mine["id"]), {"shared": True}, format="json").status_code == 403
    assert api(viewer).patch(views_url(sheet, mine["id"]), {"name": "Renamed"}, format="json").json()["name"] == (
        "Renamed"
    )

    # Any editor changes a shared view.
    other_editor = member(workspace, Role.EDITOR)
    changed = api(other_editor).patch(views_url(sheet, shared["id"]), {"name": "Team 2"}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Team 2"
    assert api(other_editor).delete(views_url(sheet, shared["id"])).status_code == 204
    assert api(viewer).delete(views_url(sheet, mine["id"])).status_code == 204
    assert not SheetView.objects.exists()


def test_a_view_of_another_sheet_or_workspace_is_not_found(api, workspace, owner, outsider, sheet):
    other = make_sheet(workspace, owner, name="Other")
    view = create(api, owner, other, {}, shared=True).json()
    assert api(owner).get(views_url(sheet, view["id"])).status_code == 404
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/rows/?view={view['id']}").status_code == 404
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/totals/?view={view['id']}").status_code == 404
    assert api(outsider).get(views_url(other)).status_code == 404
    assert api(outsider).get(views_url(other, view["id"])).status_code == 404
    assert api(owner).get(f"/api/v1/sheets/{sheet.pk}/rows/?view=abc").status_code == 400


# --- rows through a view ---------------------------------------------------------------------------


def test_rows_follow_the_views_filters_and_sorts(api, owner, viewer, fruit):
    config = {
        "filters": {
            "op": "or",
            "conditions": [
                {"column": "c7", "operator": "eq", "value": "new"},
                {"column": "c2", "operator": "gte", "value": 10},
            ],
        },
        "sorts": [{"column": "c2", "direction": "desc"}],
    }
    view = create(api, owner, fruit, config, shared=True).json()
    assert names(api, viewer, fruit, f"view={view['id']}") == ["Apple", "pear", "banana"]

    two_sorts = {"sorts": [{"column": "c2", "direction": "asc"}, {"column": "c1", "direction": "desc"}]}
    api(owner).patch(views_url(fruit, view["id"]), {"config": two_sorts}, format="json")
    assert names(api, viewer, fruit, f"view={view['id']}") == ["fig", "banana", "pear", "kiwi", "Apple"]

    anded = {
        "filters": {
            "op": "and",
            "conditions": [
                {"column": "c7", "operator": "not_empty"},
                {"column": "c1", "operator": "not_contains", "value": "E"},
                {"column": "c2", "operator": "in", "value": [3, 10, 2.5]},
            ],
        },
        "sorts": [{"column": "c1", "direction": "asc"}],
    }
    api(owner).patch(views_url(fruit, view["id"]), {"config": anded}, format="json")
    assert names(api, viewer, fruit, f"view={view['id']}") == ["banana", "kiwi"]
    # Ad hoc filters narrow the view further; the paging is the existing one.
    assert names(api, viewer, fruit, f"view={view['id']}&filter=c7:eq:shipped") == ["kiwi"]
    answer = api(viewer).get(f"/api/v1/sheets/{fruit.pk}/rows/?view={view['id']}&offset=1&limit=1").json()
    assert answer["total"] == 2 and [r["values"]["c1"] for r in answer["rows"]] == ["kiwi"]


def test_a_view_filters_the_whole_sheet_not_a_window(api, owner, sheet):
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": f"r{i:04d}", "c3": i} for i in range(700)])
    view = create(
        api,
        owner,
        sheet,
        {
            "filters": {"op": "and", "conditions": [{"column": "c3", "operator": "gte", "value": 690}]},
            "sorts": [{"column": "c3", "direction": "desc"}],
            "totals": {"c3": "sum"},
        },
    ).json()  # noqa: E501
    answer = api(owner).get(f"/api/v1/sheets/{sheet.pk}/rows/?view={view['id']}&limit=3").json()
    assert answer["total"] == 10
    assert [r["values"]["c1"] for r in answer["rows"]] == ["r0699", "r0698", "r0697"]
    totals = api(owner).get(f"/api/v1/sheets/{sheet.pk}/totals/?view={view['id']}").json()
    assert totals["totals"] == {"c3": sum(range(690, 700))}


def test_a_deleted_column_is_dropped_and_named(api, owner, editor, fruit):
    config = {
        "filters": {"op": "and", "conditions": [{"column": "c7", "operator": "eq", "value": "new"}]},
        "sorts": [{"column": "c1", "direction": "desc"}],
        "hidden": ["c7"],
        "totals": {"c7": "filled", "c2": "sum"},
    }
    view = create(api, owner, fruit, config, shared=True).json()
    assert names(api, editor, fruit, f"view={view['id']}") == ["pear", "banana"]

    services.column_delete(sheet=fruit, actor=editor, key="c7")

    answer = api(editor).get(f"/api/v1/sheets/{fruit.pk}/rows/?view={view['id']}").json()
    assert [r["values"]["c1"] for r in answer["rows"]] == ["pear", "kiwi", "fig", "banana", "Apple"]
    assert [p["column"] for p in answer["problems"]] == ["c7"]
    assert "deleted" in answer["problems"][0]["message"]
    detail = api(editor).get(views_url(fruit, view["id"])).json()
    assert [p["column"] for p in detail["problems"]] == ["c7"]
    totals = api(editor).get(f"/api/v1/sheets/{fruit.pk}/totals/?view={view['id']}").json()
    assert totals["totals"] == {"c2": 17.5} and [p["column"] for p in totals["problems"]] == ["c7"]
    # Saving it again asks for a config without the deleted column.
    again = api(editor).patch(views_url(fruit, view["id"]), {"config": config}, format="json")
    assert again.status_code == 400 and "c7" in again.json()["error"]["message"]


# --- totals ------------------------------------------------------------------------------------------


def test_totals_of_every_function(api, viewer, owner, fruit):
    query = "&".join(f"total={t}" for t in ["c2:sum", "c3:count", "c7:filled", "c7:unique", "c1:min", "c1:max"])
    answer = api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?{query}")
    assert answer.status_code == 200, answer.content
    assert answer.json()["totals"] == {"c2": 17.5, "c3": 5, "c7": 2, "c1": "pear"}
    each = {}
    for t in ["avg", "min", "max"]:
        each[t] = api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c2:{t}").json()["totals"]["c2"]
    assert each == {"avg": 3.5, "min": -1, "max": 10}
    assert api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c7:filled").json()["totals"] == {"c7": 4}
    assert api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c1:sum").status_code == 400
    assert api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c1:median").status_code == 400
    assert api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c99:count").status_code == 400
    filtered = api(viewer).get(f"/api/v1/sheets/{fruit.pk}/totals/?total=c2:sum&filter=c7:eq:new").json()
    assert filtered["totals"] == {"c2": 5.5}


# --- hostile input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {"column": "c2", "operator": "in", "value": [{"a": 1}]},
        {"column": "c2", "operator": "in", "value": [[1]]},
        {"column": "c2", "operator": "in", "value": []},
        {"column": "c2", "operator": "in", "value": list(range(101))},
        {"column": "c5", "operator": "gt", "value": "2020-13-45"},
        {"column": "c3", "operator": "eq", "value": 10**30},
        {"column": "c1", "operator": "contains", "value": "x" * 100_000},
        {"column": "c1", "operator": "eq", "value": "\x00"},
        {"column": "c4", "operator": "eq", "value": "perhaps"},
        {"column": "c7", "operator": "eq", "value": "not a choice"},
        {"column": ["c1"], "operator": "eq", "value": "a"},
        {"column": "c1", "operator": "eq", "value": "a", "extra": 1},
    ],
)
def test_hostile_filter_values_are_400_never_500(api, owner, sheet, condition):
    answer = create(api, owner, sheet, {"filters": {"op": "and", "conditions": [condition]}})
    assert answer.status_code == 400, answer.content
    assert not SheetView.objects.exists()


@pytest.mark.parametrize("raw", ["0", "-1", str(2**63), str(10**30), "1e3", "", " ", "1;2"])
def test_hostile_view_ids_are_answered_cleanly(api, owner, fruit, raw):
    for path in ("rows", "totals"):
        answer = api(owner).get(f"/api/v1/sheets/{fruit.pk}/{path}/", {"view": raw, "total": "c1:count"})
        if raw:
            assert answer.status_code in (400, 404), answer.content
        else:  # an empty view= is no view
            assert answer.status_code == 200, answer.content


@pytest.mark.parametrize("total", ["c1", ":count", "c1:", "c1:sum:x", "c2:" + "a" * 1000])
def test_hostile_totals_are_400(api, owner, fruit, total):
    assert api(owner).get(f"/api/v1/sheets/{fruit.pk}/totals/", {"total": total}).status_code == 400


def test_the_quota_of_views_per_sheet(api, owner, sheet, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_VIEWS_PER_SHEET": 2}
    assert create(api, owner, sheet, {}, name="one").status_code == 201
    assert create(api, owner, sheet, {}, name="two").status_code == 201
    answer = create(api, owner, sheet, {}, name="three")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "quota_exceeded"


def test_a_shared_view_outlives_its_creators_account(api, owner, editor, sheet):
    shared = create(api, editor, sheet, {}, shared=True, name="Team").json()
    create(api, editor, sheet, {}, name="Personal")
    editor.delete()
    assert SheetView.objects.count() == 1
    listed = api(owner).get(views_url(sheet)).json()
    assert [(v["id"], v["created_by"], v["can_change"]) for v in listed] == [(shared["id"], None, True)]
