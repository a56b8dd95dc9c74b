"""The history of a row or a cell (sheets.history, GET /api/v1/sheets/<id>/history/): every kind
of change, newest first, paged; for editors only; bad input refused with a clear error."""

import pytest

from accounts.models import Role
from sheets import history, services
from sheets.find import FindQuery
from sheets.models import Operation, Row, RowChange
from sheets.services.replace import replace_all
from sheets.undo import operation_undo

from ..factories import make_sheet, member, user

pytestmark = pytest.mark.django_db


def ids(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))


def set_cell(sheet, actor, row, col, value):
    return services.cells_update(sheet=sheet, actor=actor, cells=[{"row": row, "col": col, "value": value}])


def seen(sheet, row, col=None, **kwargs):
    entries, _ = history.row_history(sheet, row, col, **kwargs)
    return [(e.version, e.kind, e.event, e.col and e.col["key"], e.before, e.after) for e in entries]


@pytest.fixture(autouse=True)
def _index_keys_are_the_changes():
    """After each test: for every operation it logged, what RowChange indexes (history.touched, read
    fast from the payload) is exactly the cells and rows history.changes reads from it, the formula
    cells it computed again indexed once per row (COMPUTED)."""
    yield
    for op in Operation.objects.all():
        index = set(history.touched(op.kind, op.payload, op.previous))
        computed = {(int(row), col) for col, values in (op.payload.get("computed") or {}).items() for row in values}
        direct = set(history.changes(op.kind, {**op.payload, "computed": {}}, op.previous))
        assert set(history.changes(op.kind, op.payload, op.previous)) == direct | computed, op.kind
        assert index == direct | {(row, history.COMPUTED) for row, _ in computed}, op.kind


@pytest.fixture
def sheet(workspace, owner):
    return make_sheet(workspace, owner, rows=2)


def test_a_cell_history_lists_each_edit_newest_first_with_who_and_the_values(sheet, owner, editor):
    row = ids(sheet)[0]
    first = set_cell(sheet, owner, row, "c1", "a")
    set_cell(sheet, editor, ids(sheet)[1], "c1", "elsewhere")
    set_cell(sheet, owner, row, "c2", 5)
    second = set_cell(sheet, editor, row, "c1", "b")

    entries, following = history.row_history(sheet, row, "c1")

    assert following is None
    assert [(e.version, e.actor["id"], e.before, e.after) for e in entries[:2]] == [
        (second.version, editor.pk, "a", "b"),
        (first.version, owner.pk, None, "a"),
    ]
    assert entries[0].actor["name"] == editor.label and entries[0].col == {"key": "c1", "name": "Name"}
    assert entries[0].at == second.created_at
    # the row's creation closes it: the cell was empty
    assert [(e.kind, e.event, e.before, e.after) for e in entries[2:]] == [("rows.insert", "created", None, None)]


def test_a_row_history_lists_every_column_and_the_row_as_a_whole(sheet, owner):
    row = ids(sheet)[0]
    set_cell(sheet, owner, row, "c1", "a")
    edit = services.cells_update(
        sheet=sheet, actor=owner, cells=[{"row": row, "col": "c2", "value": 2}, {"row": row, "col": "c3", "value": 3}]
    )
    deleted = services.rows_delete(sheet=sheet, actor=owner, row_ids=[row])

    assert seen(sheet, row) == [
        (deleted.version, "rows.delete", "deleted", None, {"c1": "a", "c2": 2.0, "c3": 3}, None),
        (edit.version, "cells.update", "changed", "c2", None, 2.0),
        (edit.version, "cells.update", "changed", "c3", None, 3),
        (edit.version - 1, "cells.update", "changed", "c1", None, "a"),
        (edit.version - 2, "rows.insert", "created", None, None, {}),
    ]
    # a deleted row keeps its history, cell by cell too
    assert seen(sheet, row, "c1")[0] == (deleted.version, "rows.delete", "deleted", "c1", "a", None)


def test_inserted_rows_imports_upserts_and_replace_all(sheet, owner):
    first, second = ids(sheet)
    set_cell(sheet, owner, first, "c1", "alpha")
    inserted = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "new", "c2": 1}])
    new_row = inserted.payload["rows"][0]["id"]
    imported = services.rows_import(
        sheet=sheet, actor=owner, rows=[{"c1": "alpha", "c2": "7"}, {"c1": "gamma", "c2": "8"}], mode="upsert", key="c1"
    )
    imported_row = imported.payload["rows"][0]["id"]
    replaced = replace_all(sheet=sheet, actor=owner, query=FindQuery("a"), replacement="A").operation

    assert seen(sheet, new_row, "c1") == [(inserted.version, "rows.insert", "created", "c1", None, "new")]
    assert seen(sheet, first, "c2") == [
        (imported.version, "rows.import", "changed", "c2", None, 7.0),
        (2, "rows.insert", "created", "c2", None, None),
    ]
    assert seen(sheet, imported_row) == [
        (replaced.version, "cells.update", "changed", "c1", "gamma", "gAmmA"),
        (imported.version, "rows.import", "created", None, None, {"c1": "gamma", "c2": 8.0}),
    ]
    assert seen(sheet, first, "c1")[0] == (replaced.version, "cells.update", "changed", "c1", "alpha", "AlphA")
    assert seen(sheet, second, "c1") == [(2, "rows.insert", "created", "c1", None, None)]


def test_an_undo_is_a_change_that_names_what_it_undid(sheet, owner):
    row = ids(sheet)[0]
    set_cell(sheet, owner, row, "c1", "a")
    edit = set_cell(sheet, owner, row, "c1", "b")
    undone = operation_undo(sheet=sheet, actor=owner)

    entries, _ = history.row_history(sheet, row, "c1")

    assert (entries[0].version, entries[0].before, entries[0].after, entries[0].undo_of) == (
        undone.version,
        "b",
        "a",
        edit.version,
    )


def test_retyped_and_formula_cells_as_the_operations_carried_them(workspace, owner):
    sheet = make_sheet(workspace, owner, rows=1, columns=[{"name": "N", "type": "text"}])
    row = ids(sheet)[0]
    set_cell(sheet, owner, row, "c1", "12")
    retyped = services.column_retype(sheet=sheet, actor=owner, key="c1", type="integer")
    added = services.column_add(sheet=sheet, actor=owner, name="Twice", type="formula", options={"formula": "[N] * 2"})
    edit = set_cell(sheet, owner, row, "c1", 5)

    assert seen(sheet, row, "c1")[:2] == [
        (edit.version, "cells.update", "changed", "c1", 12, 5),
        (retyped.version, "column.retype", "changed", "c1", "12", 12),
    ]
    assert seen(sheet, row, "c2")[:2] == [
        (edit.version, "cells.update", "changed", "c2", 24, 10),
        (added.version, "column.add", "changed", "c2", None, 24),
    ]


def test_an_operation_of_an_unknown_kind_is_read_by_its_shape(sheet, owner):
    """A kind added later (a background recompute, say) that carries "computed" cells."""
    row = ids(sheet)[0]

    @services.operation("formulas.compute")
    def recompute(*, sheet, actor):
        return lambda version: ({"computed": {"c1": {str(row): "x"}}}, None)

    op = recompute(sheet=sheet, actor=None)

    entries, _ = history.row_history(sheet, row)
    assert (entries[0].version, entries[0].kind, entries[0].actor, entries[0].after) == (
        op.version,
        "formulas.compute",
        None,
        "x",
    )


def test_moves_and_column_renames_are_not_value_changes(sheet, owner):
    first, second = ids(sheet)
    services.rows_move(sheet=sheet, actor=owner, row_ids=[first], after=second)
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Title")
    entries, _ = history.row_history(sheet, first, "c1")
    assert [(e.kind, e.col) for e in entries] == [("rows.insert", {"key": "c1", "name": "Title"})]


def test_pages_end_at_an_operation_and_follow_with_next(sheet, owner):
    row = ids(sheet)[0]
    for n in range(5):
        set_cell(sheet, owner, row, "c1", f"v{n}")
    both = services.cells_update(
        sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "x"}, {"row": row, "col": "c2", "value": 1}]
    )

    page, following = history.row_history(sheet, row, limit=1)
    assert [(e.version, e.col["key"]) for e in page] == [(both.version, "c1"), (both.version, "c2")]
    assert following == both.version
    page, following = history.row_history(sheet, row, before=following, limit=4)
    assert [e.after for e in page] == ["v4", "v3", "v2", "v1"]
    page, following = history.row_history(sheet, row, before=following, limit=4)
    assert [e.after for e in page] == ["v0", {}] and following is None


def test_the_index_is_written_with_each_operation_and_nothing_else(sheet, owner):
    first, second = ids(sheet)
    edit = services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[{"row": first, "col": "c1", "value": "a"}, {"row": first, "col": "c1", "value": "b"}],
    )
    assert set(RowChange.objects.filter(version=edit.version).values_list("row_id", "col")) == {(first, "c1")}
    assert RowChange.objects.filter(sheet=sheet).count() == 3  # two rows created, one cell edited
    assert not RowChange.objects.filter(version=Operation.objects.get(sheet=sheet, kind="sheet.create").version)


# --- REST ----------------------------------------------------------------------------------------


def url(sheet, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/api/v1/sheets/{sheet.pk}/history/?{query}"


def test_rest_answers_a_page_with_next(api, sheet, owner, editor):
    row = ids(sheet)[0]
    set_cell(sheet, owner, row, "c1", "a")
    edit = set_cell(sheet, editor, row, "c1", "b")

    response = api(editor).get(url(sheet, row=row, col="c1", limit=1))

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["next"] == edit.version
    [entry] = body["results"]
    assert entry["actor"] == {"id": editor.pk, "name": editor.label}
    assert (entry["version"], entry["before"], entry["after"], entry["col"]) == (
        edit.version,
        "a",
        "b",
        {"key": "c1", "name": "Name"},
    )
    assert len(api(editor).get(url(sheet, row=row, col="c1", before=body["next"])).json()["results"]) == 2


@pytest.mark.parametrize("who", ["viewer", "view guest"])
def test_viewers_get_403_with_a_clear_message(api, workspace, sheet, owner, who):
    row = ids(sheet)[0]
    set_cell(sheet, owner, row, "c1", "secret")
    if who == "viewer":
        person = member(workspace, Role.VIEWER)
    else:
        person = user()
        services.sheet_share(sheet=sheet, user=person, level="view")
    response = api(person).get(url(sheet, row=row, col="c1"))
    assert response.status_code == 403
    assert "for editors" in response.json()["error"]["message"] and "secret" not in response.content.decode()


def test_an_edit_guest_reads_history(api, sheet, owner):
    guest = user()
    services.sheet_share(sheet=sheet, user=guest, level="edit")
    assert api(guest).get(url(sheet, row=ids(sheet)[0])).status_code == 200


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "row is required"),
        ({"row": "abc"}, 400, "row must be a whole number"),
        ({"row": "{row}", "col": "zz"}, 400, "no column 'zz'"),
        ({"row": "{row}", "col": ""}, 400, "no column ''"),
        ({"row": "{row}", "limit": 0}, 400, "limit must be at least 1"),
        ({"row": "{row}", "limit": 201}, 400, "limit must be at most 200"),
        ({"row": "{row}", "before": "x"}, 400, "before must be a whole number"),
        ({"row": "{other}"}, 404, "not found in this sheet"),
        ({"row": 999999999}, 404, "not found in this sheet"),
    ],
)
def test_bad_input_is_refused_with_a_clear_error(api, workspace, sheet, owner, params, status, message):
    other = make_sheet(workspace, owner, rows=1, name="Other")
    values = {"row": ids(sheet)[0], "other": ids(other)[0]}
    params = {k: str(v).format(**values) for k, v in params.items()}
    response = api(owner).get(url(sheet, **params))
    assert response.status_code == status, response.content
    assert message in response.json()["error"]["message"], response.json()


def test_the_schema_documents_the_endpoint(api, owner):
    schema = api(owner).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/sheets/{id}/history/"]["get"]
    assert {p["name"] for p in operation["parameters"]} >= {"row", "col", "before", "limit"}


def test_a_deleted_sheet_takes_its_history_index_with_it(sheet, owner):
    set_cell(sheet, owner, ids(sheet)[0], "c1", "a")
    services.sheet_delete(sheet=sheet, actor=owner)
    assert not RowChange.objects.filter(sheet_id=sheet.pk).exists()


def test_the_migration_indexes_the_log_written_before_it_as_the_edits_do(sheet, owner):
    from importlib import import_module

    from django.apps import apps

    first, second = ids(sheet)
    set_cell(sheet, owner, first, "c1", "a")
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[second])
    written = sorted(RowChange.objects.values_list("sheet_id", "row_id", "version", "col"))
    RowChange.objects.all().delete()

    import_module("sheets.migrations.0010_row_change").index_the_log(apps, None)

    assert sorted(RowChange.objects.values_list("sheet_id", "row_id", "version", "col")) == written
    assert len(written) == 4


@pytest.mark.django_db(transaction=True)
def test_a_background_formula_recompute_is_in_the_cells_history(workspace, owner, settings, jobs_worker):
    from .services.test_formula_recompute import _finished

    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 4, "FORMULA_RECOMPUTE_BATCH": 5}
    columns = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]
    sheet = make_sheet(workspace, owner, columns=columns)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": i, "c2": 2} for i in range(12)])
    formula = {"formula": "[Price] * [Qty]"}
    added = services.column_add(sheet=sheet, actor=owner, name="Total", type="formula", options=formula)
    _finished(sheet)
    last = ids(sheet)[-1]

    entries, _ = history.row_history(sheet, last, added.payload["column"]["key"])

    latest = entries[0]
    assert (latest.kind, latest.actor, latest.before, latest.after) == ("formulas.compute", None, None, 22)
    assert latest.col["name"] == "Total"

    # A new formula: the recompute's value before is the one the cell had (not kept in its payload).
    key = added.payload["column"]["key"]
    services.column_retype(sheet=sheet, actor=owner, key=key, type="formula", options={"formula": "[Price] + 1"})
    _finished(sheet)
    entries, _ = history.row_history(sheet, last, key)
    assert [(e.kind, e.before, e.after) for e in entries[:2]] == [
        ("formulas.compute", 22, 12),
        ("formulas.compute", None, 22),
    ]
    entries, _ = history.row_history(sheet, last, key, before=entries[0].version)  # across pages too
    assert (entries[0].before, entries[0].after) == (None, 22)
    entries, _ = history.row_history(sheet, last, key, limit=1)
    assert (entries[0].before, entries[0].after) == (22, 12)


def test_a_formula_cells_history_pages_past_the_rows_other_formula_cells(workspace, owner):
    """A row's formula cells computed again by a column's recompute are indexed once per row
    (COMPUTED): a page of one formula cell's history skips those that computed only the others."""
    sheet = make_sheet(workspace, owner, rows=1, columns=[{"name": "A", "type": "integer"}])
    row = ids(sheet)[0]
    twice = services.column_add(sheet=sheet, actor=owner, name="2A", type="formula", options={"formula": "[A] * 2"})
    thrice = services.column_add(sheet=sheet, actor=owner, name="3A", type="formula", options={"formula": "[A] * 3"})
    key, other = twice.payload["column"]["key"], thrice.payload["column"]["key"]
    first = set_cell(sheet, owner, row, "c1", 1)

    @services.operation("formulas.compute")
    def recompute(*, sheet, actor):
        return lambda version: ({"computed": {other: {str(row): 3}}}, None)

    for _ in range(5):
        recompute(sheet=sheet, actor=None)

    entries, _ = history.row_history(sheet, row, key, limit=1)

    assert [(e.version, e.before, e.after) for e in entries] == [(first.version, 0, 2)]  # 0: A was blank
    assert RowChange.objects.filter(sheet=sheet, row_id=row, col=history.COMPUTED).count() == 7
