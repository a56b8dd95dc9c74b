"""The diff between two versions (sheets.time_travel.diff, GET /api/v1/sheets/<id>/diff/): cells
changed, rows added and removed, columns added, removed, renamed; capped with `truncated`; checked
against snapshots for random edits; editors only; bad versions refused."""

import random

import pytest

from sheets import services, time_travel
from sheets.models import Row

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Name", "type": "text"}, {"name": "Note", "type": "text"}]


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3, columns=COLUMNS)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(
        sheet=sheet, actor=owner, cells=[{"row": r, "col": "c1", "value": f"v{i}"} for i, r in enumerate(rows)]
    )
    sheet.refresh_from_db()
    return sheet, rows, sheet.version


def test_diff_names_every_kind_of_change(room, owner):
    sheet, rows, start = room
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "changed"}])
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[1]])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "new"}])
    services.column_rename(sheet=sheet, actor=owner, key="c2", name="Remark")
    services.column_add(sheet=sheet, actor=owner, name="Added")
    sheet.refresh_from_db()
    new = Row.objects.filter(sheet=sheet).order_by("-position").values_list("pk", flat=True).first()
    found = time_travel.diff(sheet, start, sheet.version)
    assert found["cells"] == [{"row": rows[0], "col": "c1", "before": "v0", "after": "changed"}]
    assert found["rows"]["removed"] == [{"id": rows[1], "values": {"c1": "v1", "c2": None}}]
    assert found["rows"]["added"] == [{"id": new, "values": {"c1": "new", "c2": None, "c3": None}}]
    assert found["columns"]["renamed"] == [{"key": "c2", "before": "Note", "after": "Remark"}]
    assert [c["key"] for c in found["columns"]["added"]] == ["c3"] and found["columns"]["removed"] == []
    assert found["truncated"] is False
    back = time_travel.diff(sheet, start, start)
    assert back["cells"] == [] and back["rows"] == {"added": [], "removed": []}


def test_diff_matches_snapshots_for_random_edits(room, owner):
    sheet, rows, start = room
    rng = random.Random(17)
    snapshots = {start: {pk: dict(data) for pk, data in Row.objects.filter(sheet=sheet).values_list("pk", "data")}}
    for i in range(25):
        alive = list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True))
        choice = rng.random()
        if choice < 0.6 and alive:
            services.cells_update(
                sheet=sheet,
                actor=owner,
                cells=[{"row": rng.choice(alive), "col": rng.choice(["c1", "c2"]), "value": str(i)}],
            )
        elif choice < 0.8 or not alive:
            services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": f"n{i}"}])
        else:
            services.rows_delete(sheet=sheet, actor=owner, row_ids=[rng.choice(alive)])
        sheet.refresh_from_db()
        snapshots[sheet.version] = {
            pk: dict(data) for pk, data in Row.objects.filter(sheet=sheet).values_list("pk", "data")
        }
    versions = sorted(snapshots)
    for _ in range(10):
        a, b = sorted(rng.sample(versions, 2))
        found = time_travel.diff(sheet, a, b)
        then, now = snapshots[a], snapshots[b]
        assert {r["id"] for r in found["rows"]["added"]} == set(now) - set(then)
        assert {r["id"] for r in found["rows"]["removed"]} == set(then) - set(now)
        expected = {
            (pk, key, then[pk].get(key), now[pk].get(key))
            for pk in set(then) & set(now)
            for key in ("c1", "c2")
            if then[pk].get(key) != now[pk].get(key)
        }
        assert {(c["row"], c["col"], c["before"], c["after"]) for c in found["cells"]} == expected


def test_a_huge_diff_is_truncated(room, owner, monkeypatch):
    sheet, rows, start = room
    monkeypatch.setattr(time_travel, "MAX_DIFF_CELLS", 2)
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c2", "value": "x"} for r in rows])
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c1", "value": "y"} for r in rows])
    sheet.refresh_from_db()
    found = time_travel.diff(sheet, start, sheet.version)
    assert found["truncated"] is True and len(found["cells"]) <= 2


def url(sheet):
    return f"/api/v1/sheets/{sheet.pk}/diff/"


def test_rest_diff_for_editors_only(api, room, owner, editor, viewer, outsider):
    sheet, rows, start = room
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "z"}])
    answer = api(editor).get(url(sheet), {"from": start})
    assert answer.status_code == 200 and answer.json()["cells"][0]["after"] == "z"
    assert answer.json()["to"] == start + 1
    assert api(viewer).get(url(sheet), {"from": start}).status_code == 403
    assert api(outsider).get(url(sheet), {"from": start}).status_code == 404


@pytest.mark.parametrize(
    "query, message",
    [
        ({}, "from is required"),
        ({"from": "x"}, "from must be a version"),
        ({"from": "0"}, "before the sheet was created"),
        ({"from": "1", "to": "999"}, "beyond"),
        ({"from": "3", "to": "2"}, "at or before"),
    ],
)
def test_bad_diff_is_a_clear_400(api, room, editor, query, message):
    sheet, _, _ = room
    answer = api(editor).get(url(sheet), query)
    assert answer.status_code == 400 and message in answer.json()["error"]["message"]
