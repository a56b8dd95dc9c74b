"""Restore (sheets.services.restore, POST /api/v1/sheets/<id>/restore/): a cell, a row, a column or
the whole sheet set back to a past version as ONE sheet.restore operation, undone and redone with
the existing undo, listed in history; editors only; bad input refused with nothing applied."""

import pytest

from sheets import history, selectors, services
from sheets.models import Operation, Row
from sheets.undo import operation_redo, operation_undo

from ..factories import make_sheet

pytestmark = pytest.mark.django_db

COLUMNS = [{"name": "Name", "type": "text"}, {"name": "Amount", "type": "number"}]


@pytest.fixture(autouse=True)
def _indexed_as_read():
    """After each test: what RowChange indexes of every operation (restores and their undos
    included) is exactly the cells and rows history reads from it."""
    yield
    for op in Operation.objects.all():
        computed = {(int(row), col) for col, values in (op.payload.get("computed") or {}).items() for row in values}
        direct = set(history.changes(op.kind, {**op.payload, "computed": {}}, op.previous))
        index = set(history.touched(op.kind, op.payload, op.previous))
        assert index == direct | {(row, history.COMPUTED) for row, _ in computed}, op.kind


@pytest.fixture
def room(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=3, columns=COLUMNS)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[{"row": r, "col": "c1", "value": f"v{i}"} for i, r in enumerate(rows)]
        + [{"row": r, "col": "c2", "value": i} for i, r in enumerate(rows)],
    )
    sheet.refresh_from_db()
    return sheet, rows, sheet.version


def state(sheet):
    columns = [(c.key, c.name) for c in selectors.sheet_columns(sheet)]
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", "data"))
    return columns, rows


def set_cell(sheet, actor, row, col, value):
    return services.cells_update(sheet=sheet, actor=actor, cells=[{"row": row, "col": col, "value": value}])


def last(sheet):
    return Operation.objects.filter(sheet=sheet).order_by("-version").first()


def test_restore_a_cell_is_one_operation_in_history_and_undone(room, owner):
    sheet, rows, then = room
    set_cell(sheet, owner, rows[0], "c1", "changed")
    set_cell(sheet, owner, rows[0], "c2", 99)
    op = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="cell", row=rows[0], col="c1")
    assert op.kind == "sheet.restore" and op.payload["cells"] == [{"row": rows[0], "col": "c1", "value": "v0"}]
    assert Row.objects.get(pk=rows[0]).data == {"c1": "v0", "c2": 99}  # only that cell
    entries, _ = history.row_history(sheet, rows[0], "c1")
    assert (entries[0].kind, entries[0].before, entries[0].after) == ("sheet.restore", "changed", "v0")
    operation_undo(sheet=sheet, actor=owner)
    assert Row.objects.get(pk=rows[0]).data["c1"] == "changed"
    operation_redo(sheet=sheet, actor=owner)
    assert Row.objects.get(pk=rows[0]).data["c1"] == "v0"


def test_restore_a_row_deleted_since_brings_it_back_at_its_place(room, owner):
    sheet, rows, then = room
    set_cell(sheet, owner, rows[1], "c1", "edited before the delete")
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[1]])
    op = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="row", row=rows[1])
    assert [r["id"] for r in op.payload["rows"]] == [rows[1]]
    assert list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True)) == rows
    assert Row.objects.get(pk=rows[1]).data == {"c1": "v1", "c2": 1}
    operation_undo(sheet=sheet, actor=owner)
    assert not Row.objects.filter(pk=rows[1]).exists()


def test_restore_a_row_that_exists_sets_its_values_back(room, owner):
    sheet, rows, then = room
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[{"row": rows[2], "col": "c1", "value": "x"}, {"row": rows[2], "col": "c2", "value": 5}],
    )
    services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="row", row=rows[2])
    assert Row.objects.get(pk=rows[2]).data == {"c1": "v2", "c2": 2}


def test_restore_a_column(room, owner):
    sheet, rows, then = room
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c2", "value": 50} for r in rows])
    set_cell(sheet, owner, rows[0], "c1", "kept")
    op = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="column", col="c2")
    assert len(op.payload["cells"]) == 3
    assert [Row.objects.get(pk=r).data for r in rows] == [
        {"c1": "kept", "c2": 0},
        {"c1": "v1", "c2": 1},
        {"c1": "v2", "c2": 2},
    ]


def test_restore_the_sheet_brings_back_rows_columns_and_values_and_undo_reverts_it(room, owner):
    sheet, rows, then = room
    before = state(sheet)
    set_cell(sheet, owner, rows[0], "c1", "changed")
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[1]])
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "new"}], after=rows[0])
    services.rows_move(sheet=sheet, actor=owner, row_ids=[rows[2]], before=rows[0])
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Renamed")
    services.column_delete(sheet=sheet, actor=owner, key="c2")
    services.column_add(sheet=sheet, actor=owner, name="Added")
    sheet.refresh_from_db()
    after = state(sheet)
    op = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="sheet")
    assert state(sheet) == before
    assert [c["key"] for c in op.payload["columns"]] == ["c1", "c2"]
    assert Operation.objects.filter(sheet=sheet, version__gt=then).count() == 8  # seven changes, one restore
    operation_undo(sheet=sheet, actor=owner)
    assert state(sheet) == after
    operation_redo(sheet=sheet, actor=owner)
    assert state(sheet) == before


def test_restore_is_idempotent_by_op_id(room, owner):
    sheet, rows, then = room
    set_cell(sheet, owner, rows[0], "c1", "changed")
    op_id = "6c8a1f8e-5b1e-4c53-9b1e-2f4c7d1a0b11"
    first = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="sheet", op_id=op_id)
    again = services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="sheet", op_id=op_id)
    assert first.version == again.version


# --- the REST API --------------------------------------------------------------------------------


def url(sheet):
    return f"/api/v1/sheets/{sheet.pk}/restore/"


def test_rest_restore_for_editors_only(api, room, workspace, owner, editor, viewer, outsider):
    sheet, rows, then = room
    set_cell(sheet, owner, rows[0], "c1", "changed")
    body = {"version": then, "scope": "cell", "row": rows[0], "col": "c1"}
    refused = api(viewer).post(url(sheet), body, format="json")
    assert refused.status_code == 403 and "editors" in refused.json()["error"]["message"]
    assert api(outsider).post(url(sheet), body, format="json").status_code == 404
    answer = api(editor).post(url(sheet), body, format="json")
    assert answer.status_code == 200 and answer.json()["kind"] == "sheet.restore"
    assert Row.objects.get(pk=rows[0]).data["c1"] == "v0"


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({"version": 999, "scope": "sheet"}, 400, "beyond the sheet's current version"),
        ({"version": 0, "scope": "sheet"}, 400, "before the sheet was created"),
        ({"version": "x", "scope": "sheet"}, 400, "version"),
        ({"version": 2, "scope": "galaxy"}, 400, "scope"),
        ({"version": 2, "scope": "cell", "col": "c1"}, 400, "needs row"),
        ({"version": 2, "scope": "cell", "row": "ROW", "col": "c1"}, 400, "row"),
        ({"version": 2, "scope": "column"}, 400, "needs col"),
        ({"version": 2, "scope": "sheet", "row": 5}, 400, "row is not used"),
        ({"version": 2, "scope": "column", "col": "c9"}, 404, "not found"),
        ({"version": 2, "scope": "row", "row": 10**12}, 404, "not found"),
        ({"scope": "sheet"}, 400, "version"),
        ({"version": 2, "scope": "row", "row": 10**30}, 400, "row"),
        ({"version": 10**30, "scope": "sheet"}, 400, "version"),
        ({"version": 2, "scope": "cell", "row": 1, "col": "c\u0000"}, 400, "col"),
    ],
)
def test_bad_restore_is_refused_and_nothing_applied(api, room, editor, body, status, message):
    sheet, _, _ = room
    version = sheet.version
    answer = api(editor).post(url(sheet), body, format="json")
    assert answer.status_code == status, answer.content
    assert message in answer.json()["error"]["message"]
    sheet.refresh_from_db()
    assert sheet.version == version


def test_a_row_or_column_that_did_not_exist_then_is_refused(api, room, owner, editor):
    sheet, rows, then = room
    services.rows_insert(sheet=sheet, actor=owner, count=1)
    services.column_add(sheet=sheet, actor=owner, name="Later")
    new_row = Row.objects.filter(sheet=sheet).order_by("-position").values_list("pk", flat=True).first()
    for body in ({"version": then, "scope": "row", "row": new_row}, {"version": then, "scope": "column", "col": "c3"}):
        answer = api(editor).post(url(sheet), body, format="json")
        assert answer.status_code == 400 and f"did not exist at version {then}" in answer.json()["error"]["message"]
    services.column_delete(sheet=sheet, actor=owner, key="c2")
    answer = api(editor).post(url(sheet), {"version": then, "scope": "column", "col": "c2"}, format="json")
    assert answer.status_code == 400 and "deleted since" in answer.json()["error"]["message"]


def test_restoring_an_input_computes_its_formula_cells_again(workspace, owner):
    columns = [
        {"name": "Price", "type": "number"},
        {"name": "Twice", "type": "formula", "options": {"formula": "[Price] * 2"}},
    ]
    sheet = make_sheet(workspace, owner, rows=2, columns=columns)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c1", "value": 5} for r in rows])
    sheet.refresh_from_db()
    then = sheet.version
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": r, "col": "c1", "value": 8} for r in rows])
    assert Row.objects.get(pk=rows[0]).data == {"c1": 8, "c2": 16}
    services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="column", col="c1")
    assert [Row.objects.get(pk=r).data for r in rows] == [{"c1": 5, "c2": 10}] * 2
