import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.errors import CellValueInvalid, Conflict, InvalidInput, NotFound, TooLarge
from sheets import selectors, services
from sheets.models import Column, Operation, Row
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db


def ids(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))


def values(sheet, key):
    return [r["values"][key] for r in selectors.rows_window(sheet, offset=0, limit=1000)["rows"]]


def test_create_sheet_logs_one_operation_with_its_columns(workspace, owner):
    sheet = make_sheet(workspace, owner)
    assert sheet.version == 1
    assert [c.key for c in selectors.sheet_columns(sheet)] == [f"c{i}" for i in range(1, 8)]
    op = Operation.objects.get(sheet=sheet)
    assert op.kind == "sheet.create" and op.version == 1
    assert [c["name"] for c in op.payload["columns"]] == ["Name", "Amount", "Count", "Paid", "Day", "At", "Status"]


def test_create_sheet_rejects_bad_columns_and_creates_nothing(workspace, owner):
    from sheets.models import Sheet

    for columns in ([{"name": "A"}, {"name": "a"}], [{"name": "A", "type": "money"}], [{"name": " "}]):
        with pytest.raises((Conflict, InvalidInput)):
            services.sheet_create(workspace=workspace, name="Bad", actor=owner, columns=columns)
    assert not Sheet.objects.filter(name="Bad").exists()


def test_default_columns_are_a_b_c(workspace, owner):
    sheet = services.sheet_create(workspace=workspace, name="Blank", actor=owner)
    assert [(c.key, c.name, c.type) for c in selectors.sheet_columns(sheet)] == [
        ("c1", "A", "text"),
        ("c2", "B", "text"),
        ("c3", "C", "text"),
    ]


def test_cells_update_coerces_by_type_and_records_previous(sheet, owner):
    row_id = services.rows_insert(sheet=sheet, actor=owner, count=1).payload["rows"][0]["id"]
    op = services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": row_id, "col": "c1", "value": 12},
            {"row": row_id, "col": "c2", "value": "1,234.5"},
            {"row": row_id, "col": "c3", "value": "7"},
            {"row": row_id, "col": "c4", "value": "yes"},
            {"row": row_id, "col": "c5", "value": "2026-11-23"},
            {"row": row_id, "col": "c6", "value": "2026-11-23T10:00:00+01:00"},
            {"row": row_id, "col": "c7", "value": "shipped"},
        ],
    )
    data = Row.objects.get(pk=row_id).data
    assert data == {
        "c1": "12",
        "c2": 1234.5,
        "c3": 7,
        "c4": True,
        "c5": "2026-11-23",
        "c6": "2026-11-23T09:00:00Z",
        "c7": "shipped",
    }
    assert op.kind == "cells.update" and op.version == sheet.version
    assert op.previous == {"cells": [{"row": row_id, "col": f"c{i}", "value": None} for i in range(1, 8)]}


@pytest.mark.parametrize(
    "col,value,reason",
    [
        ("c2", "abc", "not a number"),
        ("c3", 1.5, "not a whole number"),
        ("c4", "maybe", "not true or false"),
        ("c5", "23/11/2026", "not a date"),
        ("c6", "yesterday", "not a date and time"),
        ("c7", "lost", "not one of the choices"),
        ("c1", ["a"], "one value"),
        ("c9", "x", "no column"),
    ],
)
def test_one_bad_value_rejects_the_whole_batch(sheet, owner, col, value, reason):
    row_id = services.rows_insert(sheet=sheet, actor=owner, count=1).payload["rows"][0]["id"]
    version = sheet.version
    with pytest.raises(CellValueInvalid) as error:
        services.cells_update(
            sheet=sheet,
            actor=owner,
            cells=[
                {"row": row_id, "col": "c1", "value": "kept?"},
                {"row": row_id, "col": col, "value": value},
            ],
        )
    assert reason in error.value.message
    assert error.value.detail == {"row": row_id, "col": col}
    assert Row.objects.get(pk=row_id).data == {}
    sheet.refresh_from_db()
    assert sheet.version == version


def test_unknown_row_rejects_batch_and_keeps_version(sheet, owner):
    row_id = services.rows_insert(sheet=sheet, actor=owner, count=1).payload["rows"][0]["id"]
    version = Operation.objects.filter(sheet=sheet).count()
    with pytest.raises(CellValueInvalid, match="not found"):
        services.cells_update(
            sheet=sheet,
            actor=owner,
            cells=[
                {"row": row_id, "col": "c1", "value": "a"},
                {"row": 999999999, "col": "c1", "value": "b"},
            ],
        )
    assert Row.objects.get(pk=row_id).data == {}
    assert Operation.objects.filter(sheet=sheet).count() == version
    sheet.refresh_from_db()
    assert sheet.version == version


def test_value_size_and_batch_size_are_limited(sheet, owner, settings):
    row_id = services.rows_insert(sheet=sheet, actor=owner, count=1).payload["rows"][0]["id"]
    with pytest.raises(CellValueInvalid, match="longer than"):
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row_id, "col": "c1", "value": "x" * 10001}])
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_BATCH_CELLS": 3}
    with pytest.raises(TooLarge):
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row_id, "col": "c1", "value": "x"}] * 4)


@pytest.mark.parametrize(
    "cells", [[], "x", [{"row": "1", "col": "c1"}], [{"row": 1}], [{"row": 1, "col": "c1", "extra": 1}]]
)
def test_malformed_cells_are_rejected(sheet, owner, cells):
    with pytest.raises(InvalidInput):
        services.cells_update(sheet=sheet, actor=owner, cells=cells)


def test_resent_op_id_applies_once_and_returns_original(sheet, owner):
    row_id = services.rows_insert(sheet=sheet, actor=owner, count=1).payload["rows"][0]["id"]
    op_id = uuid.uuid4()
    first = services.cells_update(
        sheet=sheet, actor=owner, op_id=op_id, cells=[{"row": row_id, "col": "c3", "value": 1}]
    )
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row_id, "col": "c3", "value": 2}])
    again = services.cells_update(
        sheet=sheet, actor=owner, op_id=str(op_id), cells=[{"row": row_id, "col": "c3", "value": 1}]
    )
    assert again.pk == first.pk and again.version == first.version
    assert Row.objects.get(pk=row_id).data["c3"] == 2
    with pytest.raises(Conflict):
        services.rows_insert(sheet=sheet, actor=owner, op_id=op_id, count=1)


def test_resent_insert_returns_the_same_rows(sheet, owner):
    op_id = uuid.uuid4()
    first = services.rows_insert(sheet=sheet, actor=owner, op_id=op_id, count=2)
    again = services.rows_insert(sheet=sheet, actor=owner, op_id=op_id, count=2)
    assert again.payload["rows"] == first.payload["rows"]
    assert Row.objects.filter(sheet=sheet).count() == 2


def test_versions_are_dense_and_ordered(sheet, owner):
    start = sheet.version
    services.rows_insert(sheet=sheet, actor=owner, count=3)
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Customer")
    services.rows_delete(sheet=sheet, actor=owner, row_ids=ids(sheet)[:1])
    versions = list(Operation.objects.filter(sheet=sheet, version__gt=start).values_list("version", flat=True))
    assert versions == [start + 1, start + 2, start + 3]
    assert [op.version for op in selectors.operations_since(sheet, start + 1)] == [start + 2, start + 3]


def test_insert_between_rows_never_renumbers(sheet, owner):
    first, second = [r["id"] for r in services.rows_insert(sheet=sheet, actor=owner, count=2).payload["rows"]]
    # Inserting again and again at the same place exhausts the gap and makes the service spread rows out.
    anchor = first
    for _ in range(80):
        anchor = services.rows_insert(sheet=sheet, actor=owner, after=anchor, count=1).payload["rows"][0]["id"]
    order = ids(sheet)
    assert order[0] == first and order[-1] == second and len(order) == 82
    positions = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("position", flat=True))
    assert len(set(positions)) == 82
    before = services.rows_insert(sheet=sheet, actor=owner, before=first, count=1).payload["rows"][0]["id"]
    assert ids(sheet)[0] == before


def test_insert_rows_with_values_and_anchor_errors(sheet, owner):
    op = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "a", "c2": "1.5"}, {"c3": 2}])
    assert [r["values"] for r in op.payload["rows"]] == [{"c1": "a", "c2": 1.5}, {"c3": 2}]
    with pytest.raises(CellValueInvalid):
        services.rows_insert(sheet=sheet, actor=owner, rows=[{"c3": "x"}])
    with pytest.raises(NotFound):
        services.rows_insert(sheet=sheet, actor=owner, after=424242424, count=1)
    with pytest.raises(InvalidInput):
        services.rows_insert(sheet=sheet, actor=owner, count=0)
    assert Row.objects.filter(sheet=sheet).count() == 2


def test_delete_rows_keeps_them_for_undo_and_rejects_missing(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "a"}, {"c1": "b"}, {"c1": "c"}])
    a, b, c = ids(sheet)
    op = services.rows_delete(sheet=sheet, actor=owner, row_ids=[b])
    assert op.previous["rows"][0]["id"] == b and op.previous["rows"][0]["values"] == {"c1": "b"}
    assert ids(sheet) == [a, c]
    with pytest.raises(NotFound):
        services.rows_delete(sheet=sheet, actor=owner, row_ids=[a, b])
    assert ids(sheet) == [a, c]


def test_move_rows(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, count=4)
    a, b, c, d = ids(sheet)
    services.rows_move(sheet=sheet, actor=owner, row_ids=[d, a], after=b)
    assert ids(sheet) == [b, d, a, c]
    services.rows_move(sheet=sheet, actor=owner, row_ids=[c], before=b)
    assert ids(sheet) == [c, b, d, a]
    with pytest.raises(InvalidInput):
        services.rows_move(sheet=sheet, actor=owner, row_ids=[a], after=a)


def test_columns_add_rename_move_delete(sheet, owner):
    services.column_add(sheet=sheet, actor=owner, name="Note", after="c1")
    assert [c.key for c in selectors.sheet_columns(sheet)][:3] == ["c1", "c8", "c2"]
    with pytest.raises(Conflict):
        services.column_add(sheet=sheet, actor=owner, name="note")
    services.column_rename(sheet=sheet, actor=owner, key="c8", name="Remark")
    services.column_move(sheet=sheet, actor=owner, key="c8", before="c1")
    assert [c.name for c in selectors.sheet_columns(sheet)][:2] == ["Remark", "Name"]
    op = services.column_delete(sheet=sheet, actor=owner, key="c8")
    assert op.previous["column"]["name"] == "Remark"
    assert "c8" not in [c.key for c in selectors.sheet_columns(sheet)]
    assert Column.objects.get(sheet=sheet, key="c8").deleted
    # A new column never reuses a deleted column's key.
    assert services.column_add(sheet=sheet, actor=owner, name="Other").payload["column"]["key"] == "c9"
    with pytest.raises(InvalidInput):
        services.column_add(sheet=sheet, actor=owner, name="Bad", type="money")


def test_retype_converts_and_clears_what_does_not_convert(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "12"}, {"c1": "abc"}, {"c1": "3.5"}, {}])
    op = services.column_retype(sheet=sheet, actor=owner, key="c1", type="number")
    assert values(sheet, "c1") == [12, None, 3.5, None]
    assert op.payload["cleared"] == 1
    assert sorted(op.previous["values"].values()) == ["12", "3.5", "abc"]
    services.column_retype(sheet=sheet, actor=owner, key="c1", type="text")
    assert values(sheet, "c1") == ["12", None, "3.5", None]


def test_window_by_offset_across_checkpoints(sheet, owner, monkeypatch):
    monkeypatch.setattr(selectors, "STRIDE", 7)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c3": i} for i in range(50)])
    window = selectors.rows_window(sheet, offset=17, limit=10)
    assert window["total"] == 50
    assert [r["values"]["c3"] for r in window["rows"]] == list(range(17, 27))
    assert [r["index"] for r in window["rows"]] == list(range(17, 27))
    # A structural change invalidates the cached checkpoints.
    first = ids(sheet)[0]
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[first])
    assert [r["values"]["c3"] for r in selectors.rows_window(sheet, offset=17, limit=3)["rows"]] == [18, 19, 20]
    assert selectors.rows_window(sheet, offset=49, limit=5) == {"rows": [], "total": 49}
    assert selectors.row_count(sheet) == 49


def test_window_uses_few_queries_when_cached(sheet, owner):
    services.rows_insert(sheet=sheet, actor=owner, count=10)
    selectors.rows_window(sheet, offset=0, limit=5)
    with CaptureQueriesContext(connection) as queries:
        selectors.rows_window(sheet, offset=3, limit=5)
    assert len(queries) == 3  # columns, layout version, the page


def test_filter_and_sort(sheet, owner):
    services.rows_insert(
        sheet=sheet,
        actor=owner,
        rows=[
            {"c1": "pear", "c2": 3, "c7": "new"},
            {"c1": "Apple", "c2": 10, "c7": "shipped"},
            {"c1": "fig", "c2": -1},
            {"c1": "banana", "c2": 2.5, "c7": "new"},
        ],
    )

    def names(**kw):
        return [r["values"]["c1"] for r in selectors.rows_window(sheet, **kw)["rows"]]

    assert names(sort="c2") == ["fig", "banana", "pear", "Apple"]
    assert names(sort="-c2") == ["Apple", "pear", "banana", "fig"]
    assert names(filters=[("c2", "gt", "2.5")]) == ["pear", "Apple"]
    assert names(filters=[("c7", "eq", "new")]) == ["pear", "banana"]
    assert names(filters=[("c7", "empty", "")]) == ["fig"]
    assert names(filters=[("c1", "contains", "AN")]) == ["banana"]
    assert names(filters=[("c7", "notempty", "")], sort="-c1") == ["pear", "banana", "Apple"]
    with pytest.raises(InvalidInput):
        selectors.rows_window(sheet, filters=[("c2", "gt", "abc")])
    with pytest.raises(InvalidInput):
        selectors.rows_window(sheet, sort="zz")


def test_sheet_rename_and_delete(sheet, owner):
    op = services.sheet_rename(sheet=sheet, actor=owner, name="  Sales ")
    assert op.payload == {"name": "Sales"} and op.previous == {"name": "Orders"}
    with pytest.raises(InvalidInput):
        services.sheet_rename(sheet=sheet, actor=owner, name=" ")
    services.sheet_delete(sheet=sheet, actor=owner)
    assert not Row.objects.filter(sheet_id=sheet.pk).exists()


def test_many_edits_in_one_transaction_each_get_a_version_and_fail_alone(sheet, owner, editor):
    a, b = [r["id"] for r in services.rows_insert(sheet=sheet, actor=owner, count=2).payload["rows"]]
    start = Operation.objects.filter(sheet=sheet).count()
    resent = uuid.uuid4()
    results = services.cells_update_many(
        sheet=sheet,
        edits=[
            services.Edit(owner, [{"row": a, "col": "c3", "value": 1}], resent),
            services.Edit(editor, [{"row": a, "col": "c3", "value": "bad"}], uuid.uuid4()),
            services.Edit(editor, [{"row": a, "col": "c3", "value": 2}, {"row": 424242, "col": "c3", "value": 3}]),
            services.Edit(editor, [{"row": a, "col": "c3", "value": 4}, {"row": b, "col": "c1", "value": "b"}]),
            services.Edit(owner, [{"row": a, "col": "c3", "value": 1}], resent),
            services.Edit(owner, [{"row": a, "col": "c1", "value": "x"}], "not-a-uuid"),
        ],
    )
    first, bad_value, missing_row, fourth, again, bad_op_id = results
    assert isinstance(bad_value, CellValueInvalid) and bad_value.detail == {"row": a, "col": "c3"}
    assert isinstance(missing_row, CellValueInvalid) and missing_row.detail["row"] == 424242
    assert isinstance(bad_op_id, InvalidInput)
    assert again is first
    assert (first.version, fourth.version) == (start + 1, start + 2)
    assert fourth.previous == {"cells": [{"row": a, "col": "c3", "value": 1}, {"row": b, "col": "c1", "value": None}]}
    assert Row.objects.get(pk=a).data == {"c3": 4} and Row.objects.get(pk=b).data == {"c1": "b"}
    sheet.refresh_from_db()
    assert sheet.version == start + 2 == Operation.objects.filter(sheet=sheet).count()
    # Resent in a later batch: still the original, nothing applied.
    (later,) = services.cells_update_many(
        sheet=sheet, edits=[services.Edit(owner, [{"row": a, "col": "c3", "value": 1}], resent)]
    )
    assert later.pk == first.pk and Row.objects.get(pk=a).data == {"c3": 4}
