"""The sheet as of a version (sheets.time_travel, GET /api/v1/sheets/<id>/rows/?as_of=): for random
sequences of every kind of operation, the past read back equals the sheet as it was snapshotted
then; windows across checkpoints; editors only; bad versions and times refused clearly."""

import random
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Role
from sheets import selectors, services, time_travel
from sheets.models import Operation, Row, Sheet
from sheets.undo import operation_redo, operation_undo

from ..factories import make_sheet, member

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Name", "type": "text"}, {"name": "Amount", "type": "text"}]


def snapshot(sheet):
    """The whole sheet as the live API reads it: columns (key, name, type) and rows in order."""
    columns = [(c.key, c.name, c.type) for c in selectors.sheet_columns(sheet)]
    keys = [key for key, _, _ in columns]
    rows = [
        (pk, {k: data.get(k) for k in keys})
        for pk, data in Row.objects.filter(sheet=sheet).order_by("position", "pk").values_list("pk", "data")
    ]
    return columns, rows


def read_past(sheet, version, offset=0, limit=1000):
    sheet.refresh_from_db()
    window = time_travel.rows_window_at(sheet, version, offset=offset, limit=limit)
    columns = [(c["key"], c["name"], c["type"]) for c in window["columns"]]
    return columns, [(r["id"], r["values"]) for r in window["rows"]], window["total"]


def step(sheet, actor, rng, action):
    """One random operation of the kind `action` (skipped when it cannot apply)."""
    sheet.refresh_from_db()
    ids = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    keys = [c.key for c in selectors.sheet_columns(sheet)]
    if action == "edit" and ids and keys:
        cells = [
            {"row": rng.choice(ids), "col": key, "value": rng.choice(["a", "b", None, "7"])}
            for key in rng.sample(keys, rng.randint(1, len(keys)))
        ]
        services.cells_update(sheet=sheet, actor=actor, cells=cells)
    elif action == "insert":
        anchor = {"after": rng.choice(ids)} if ids and rng.random() < 0.6 else {}
        values = [{keys[0]: f"new {rng.randint(0, 99)}"}] if keys else [{}]
        services.rows_insert(sheet=sheet, actor=actor, rows=values * rng.randint(1, 3), **anchor)
    elif action == "delete" and ids:
        services.rows_delete(sheet=sheet, actor=actor, row_ids=rng.sample(ids, min(len(ids), rng.randint(1, 2))))
    elif action == "move" and len(ids) > 2:
        row, anchor = rng.sample(ids, 2)
        services.rows_move(sheet=sheet, actor=actor, row_ids=[row], before=anchor)
    elif action == "add_column":
        services.column_add(sheet=sheet, actor=actor, name=f"Col {rng.randint(0, 10**6)}")
    elif action == "rename" and keys:
        services.column_rename(sheet=sheet, actor=actor, key=rng.choice(keys), name=f"Named {rng.randint(0, 10**6)}")
    elif action == "drop_column" and len(keys) > 1:
        services.column_delete(sheet=sheet, actor=actor, key=rng.choice(keys))
    elif action == "undo":
        operation_undo(sheet=sheet, actor=actor)
    elif action == "redo":
        operation_redo(sheet=sheet, actor=actor)
    elif action == "restore" and sheet.version > 2:
        services.sheet_restore(sheet=sheet, actor=actor, version=rng.randint(1, sheet.version - 1), scope="sheet")


ACTIONS = ["edit", "edit", "insert", "delete", "move", "add_column", "rename", "drop_column", "undo", "redo", "restore"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), actions=st.lists(st.sampled_from(ACTIONS), min_size=1, max_size=14))
def test_as_of_every_version_is_the_sheet_as_it_was(workspace, monkeypatch, seed, actions):
    monkeypatch.setattr(selectors, "STRIDE", 3)  # windows cross checkpoints on a small sheet
    selectors.row_index.clear()
    owner = member(workspace, Role.OWNER)
    sheet = make_sheet(workspace, owner, rows=5, columns=COLUMNS)
    rng = random.Random(seed)
    snapshots = {sheet.version: snapshot(sheet)}
    for action in actions:
        step(sheet, owner, rng, action)
        sheet.refresh_from_db()
        snapshots[sheet.version] = snapshot(sheet)
    for version, (columns, rows) in snapshots.items():
        assert read_past(sheet, version)[:2] == (columns, rows), version
        assert read_past(sheet, version)[2] == len(rows)
        for offset, limit in ((1, 2), (2, 4), (4, 3), (len(rows) - 1, 5)):
            if offset >= 0:
                assert read_past(sheet, version, offset, limit)[1] == rows[offset : offset + limit], (version, offset)


def test_a_deleted_row_reappears_at_its_place_and_an_inserted_one_vanishes(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3, columns=COLUMNS)
    first, second, third = Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True)
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": second, "col": "c1", "value": "kept"}])
    then = sheet.version
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[second])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "later"}], after=first)
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Renamed")
    services.column_delete(sheet=sheet, actor=owner, key="c2")
    services.column_add(sheet=sheet, actor=owner, name="New")
    columns, rows, total = read_past(sheet, then)
    assert columns == [("c1", "Name", "text"), ("c2", "Amount", "text")]
    assert [r for r, _ in rows] == [first, second, third] and total == 3
    assert rows[1][1] == {"c1": "kept", "c2": None}


def test_as_of_a_long_history_reads_the_first_change_after_the_version(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=2, columns=COLUMNS)
    row = Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True).first()
    versions = {}
    for i in range(30):
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c2", "value": str(i)}])
        versions[i] = Operation.objects.filter(sheet=sheet).order_by("-version").first().version
    for i in (0, 7, 29):
        assert read_past(sheet, versions[i])[1][0][1]["c2"] == str(i)


# --- the REST API --------------------------------------------------------------------------------


def url(sheet):
    return f"/api/v1/sheets/{sheet.pk}/rows/"


def test_rest_as_of_and_as_of_time_with_paging(api, workspace, owner, editor):
    sheet = make_sheet(workspace, owner, rows=4, columns=COLUMNS)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[2], "col": "c1", "value": "old"}])
    then = Operation.objects.filter(sheet=sheet).order_by("-version").first()
    earlier = timezone.now() - timedelta(minutes=5)
    Operation.objects.filter(sheet=sheet, version__lte=then.version).update(created_at=earlier)
    Sheet.objects.filter(pk=sheet.pk).update(created_at=earlier)
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[2], "col": "c1", "value": "new"}])
    sheet.refresh_from_db()
    answer = api(editor).get(url(sheet), {"as_of": then.version, "offset": 1, "limit": 2}).json()
    assert answer["as_of"] == then.version and answer["version"] == sheet.version and answer["total"] == 4
    assert [r["id"] for r in answer["rows"]] == rows[1:3] and answer["rows"][1]["values"]["c1"] == "old"
    assert [c["key"] for c in answer["columns"]] == ["c1", "c2"]
    at = (timezone.now() - timedelta(minutes=1)).isoformat()
    answer = api(editor).get(url(sheet), {"as_of_time": at}).json()
    assert answer["as_of"] == then.version and answer["rows"][2]["values"]["c1"] == "old"
    live = api(editor).get(url(sheet)).json()
    assert live["rows"][2]["values"]["c1"] == "new" and "as_of" not in live


def test_viewers_get_403_and_another_workspace_404(api, workspace, owner, viewer, outsider):
    sheet = make_sheet(workspace, owner, rows=1)
    answer = api(viewer).get(url(sheet), {"as_of": 1})
    assert answer.status_code == 403 and "editors" in answer.json()["error"]["message"]
    assert api(viewer).get(url(sheet)).status_code == 200
    assert api(outsider).get(url(sheet), {"as_of": 1}).status_code == 404


@pytest.mark.parametrize(
    "query, message",
    [
        ({"as_of": "99"}, "beyond the sheet's current version"),
        ({"as_of": "0"}, "before the sheet was created"),
        ({"as_of": "-3"}, "before the sheet was created"),
        ({"as_of": "two"}, "must be a version"),
        ({"as_of": "1.5"}, "must be a version"),
        ({"as_of": "99999999999999999999999"}, "beyond"),
        ({"as_of_time": "yesterday"}, "ISO 8601"),
        ({"as_of_time": "2026-13-45T00:00:00"}, "ISO 8601"),
        ({"as_of_time": "2000-01-01T00:00:00Z"}, "before the sheet was created"),
        ({"as_of_time": "2999-01-01T00:00:00Z"}, "in the future"),
        ({"as_of": "1", "as_of_time": "2026-01-01T00:00:00Z"}, "either"),
        ({"as_of": "1", "sort": "c1"}, "does not apply to the past"),
        ({"as_of": "1", "limit": "0"}, "limit"),
        ({"as_of": "1", "offset": "-1"}, "offset"),
    ],
)
def test_bad_as_of_is_a_clear_400(api, workspace, owner, editor, query, message):
    sheet = make_sheet(workspace, owner, rows=1)
    answer = api(editor).get(url(sheet), query)
    assert answer.status_code == 400, answer.content
    assert message in answer.json()["error"]["message"]


def test_a_public_link_asking_for_the_past_is_refused(api, workspace, owner):
    sheet = make_sheet(workspace, owner, rows=1)
    link = api(owner).post(f"/api/v1/sheets/{sheet.pk}/public-links/", {"access": "view"}, format="json").json()
    key = link["url"].rstrip("/").rsplit("/", 1)[-1]
    assert api().get(f"/api/v1/public/{key}/rows/").status_code == 200
    for query in ({"as_of": 1}, {"as_of_time": "2026-01-01T00:00:00Z"}):
        answer = api().get(f"/api/v1/public/{key}/rows/", query)
        assert answer.status_code == 403 and "editors" in answer.json()["error"]["message"]


def test_a_retype_and_a_formula_column_after_the_version_are_taken_back(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3, columns=COLUMNS)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(
        sheet=sheet, actor=owner, cells=[{"row": r, "col": "c2", "value": f"{i}5"} for i, r in enumerate(rows)]
    )
    sheet.refresh_from_db()
    then = sheet.version
    services.column_retype(sheet=sheet, actor=owner, key="c2", type="number")
    services.column_add(sheet=sheet, actor=owner, name="Double", type="formula", options={"formula": "[Amount] * 2"})
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c2", "value": 7}])
    assert Row.objects.get(pk=rows[0]).data["c3"] == 14
    columns, past_rows, _ = read_past(sheet, then)
    assert columns == [("c1", "Name", "text"), ("c2", "Amount", "text")]
    assert [values["c2"] for _, values in past_rows] == ["05", "15", "25"]
    sheet.refresh_from_db()
    columns, now_rows, _ = read_past(sheet, sheet.version)
    assert [values for _, values in now_rows][0] == {"c1": None, "c2": 7, "c3": 14}


def test_as_of_time_without_a_zone_is_utc(api, workspace, owner, editor):
    sheet = make_sheet(workspace, owner, rows=1)
    at = timezone.now().replace(tzinfo=None).isoformat()
    answer = api(editor).get(url(sheet), {"as_of_time": at})
    assert answer.status_code == 200 and answer.json()["as_of"] == sheet.version


def test_formula_cells_computed_again_since_are_read_as_they_were(workspace, owner):
    """A formula changed after the version: its cells were computed again (indexed once per row,
    history.COMPUTED); the past, the diff and a restore read them as they were."""
    columns = [
        {"name": "Price", "type": "number"},
        {"name": "Twice", "type": "formula", "options": {"formula": "[Price] * 2"}},
    ]
    sheet = make_sheet(workspace, owner, rows=2, columns=columns)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c1", "value": 5} for r in rows])
    sheet.refresh_from_db()
    then = sheet.version
    services.column_retype(sheet=sheet, actor=owner, key="c2", type="formula", options={"formula": "[Price] * 3"})
    assert Row.objects.get(pk=rows[0]).data["c2"] == 15
    assert [values["c2"] for _, values in read_past(sheet, then)[1]] == [10, 10]
    sheet.refresh_from_db()
    found = time_travel.diff(sheet, then, sheet.version)
    assert {(c["row"], c["col"], c["before"], c["after"]) for c in found["cells"]} == {(r, "c2", 10, 15) for r in rows}
    services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="sheet")
    assert [Row.objects.get(pk=r).data["c2"] for r in rows] == [10, 10]
