import threading
import uuid

import pytest
from django.db import connection

from core.errors import Conflict
from realtime import broadcast
from sheets import selectors, services
from sheets import undo as undo_module
from sheets.models import Column, Operation, Row
from sheets.undo import operation_redo, operation_undo

pytestmark = pytest.mark.django_db


def state(sheet):
    """Everything an operation can change that people see: the sheet's name, the columns and
    every row, in order, with its id, position and all its data."""
    sheet.refresh_from_db()
    columns = Column.objects.filter(sheet=sheet, deleted=False).order_by("key")
    rows = Row.objects.filter(sheet=sheet).order_by("position", "pk")
    return {
        "name": sheet.name,
        "columns": list(columns.values("key", "name", "type", "options", "position", "width")),
        "rows": list(rows.values_list("pk", "position", "data")),
    }


def ids(sheet):
    return list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))


def data(row_id):
    return Row.objects.get(pk=row_id).data


def undo(sheet, actor, **kwargs):
    return operation_undo(sheet=sheet, actor=actor, **kwargs)


def redo(sheet, actor, **kwargs):
    return operation_redo(sheet=sheet, actor=actor, **kwargs)


def set_cell(sheet, actor, row, col, value):
    return services.cells_update(sheet=sheet, actor=actor, cells=[{"row": row, "col": col, "value": value}])


@services.operation("rows.insert")
def bulk_insert(*, sheet, actor, count):
    """What a CSV import logs: many rows, and a payload that only says how many."""

    def write(version):
        rows = [Row(sheet_id=sheet.pk, position=1000.0 + i, data={"c1": "bulk"}) for i in range(count)]
        Row.objects.bulk_create(rows)
        return {"bulk": True, "count": count}, None, True

    return write


@pytest.fixture
def rows(sheet, owner):
    """Three rows a, b, c with values (inserted by the owner)."""
    services.rows_insert(
        sheet=sheet,
        actor=owner,
        rows=[
            {"c1": "12", "c2": 1.5, "c7": "new"},
            {"c1": "abc", "c3": 4},
            {"c1": "3.5", "c4": True},
        ],
    )
    return ids(sheet)


EDITS = {
    "cells.update": (
        lambda s, u, r: services.cells_update(
            sheet=s,
            actor=u,
            cells=[
                {"row": r[0], "col": "c1", "value": "changed"},
                {"row": r[1], "col": "c2", "value": 7},
                {"row": r[2], "col": "c5", "value": "2026-01-02"},
                {"row": r[0], "col": "c1", "value": "twice"},
            ],
        ),
        "cells.update",
    ),
    "rows.insert": (
        lambda s, u, r: services.rows_insert(sheet=s, actor=u, after=r[0], rows=[{"c1": "new one"}, {"c3": 9}]),
        "rows.delete",
    ),
    "rows.delete": (lambda s, u, r: services.rows_delete(sheet=s, actor=u, row_ids=[r[2], r[0]]), "rows.insert"),
    "rows.move": (lambda s, u, r: services.rows_move(sheet=s, actor=u, row_ids=[r[2], r[0]], before=r[1]), "rows.move"),
    "column.add": (lambda s, u, r: services.column_add(sheet=s, actor=u, name="Note", after="c1"), "column.delete"),
    "column.delete": (lambda s, u, r: services.column_delete(sheet=s, actor=u, key="c2"), "column.add"),
    "column.rename": (
        lambda s, u, r: services.column_rename(sheet=s, actor=u, key="c1", name="Customer"),
        "column.rename",
    ),
    "column.retype": (
        lambda s, u, r: services.column_retype(sheet=s, actor=u, key="c1", type="number"),
        "column.retype",
    ),
    "column.retype.choice": (
        lambda s, u, r: services.column_retype(sheet=s, actor=u, key="c7", type="text"),
        "column.retype",
    ),
    "column.move": (lambda s, u, r: services.column_move(sheet=s, actor=u, key="c7", before="c1"), "column.move"),
    "sheet.rename": (lambda s, u, r: services.sheet_rename(sheet=s, actor=u, name="Sales"), "sheet.rename"),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_undo_and_redo_restore_exactly_the_state_before_and_after(sheet, owner, rows, edit):
    apply, inverse_kind = EDITS[edit]
    before = state(sheet)
    op = apply(sheet, owner, rows)
    after = state(sheet)
    assert after != before

    undone = undo(sheet, owner)
    assert state(sheet) == before
    assert undone.kind == inverse_kind and undone.payload["undo_of"] == op.version
    assert undone.actor == owner and undone.version == op.version + 1

    redone = redo(sheet, owner)
    assert state(sheet) == after
    assert redone.kind == op.kind and redone.payload["redo_of"] == undone.version

    # The redo is undoable again, and the sheet goes back and forth without drifting.
    assert undo(sheet, owner).payload["undo_of"] == redone.version
    assert state(sheet) == before
    redo(sheet, owner)
    assert state(sheet) == after


def test_undo_of_retype_sets_values_back_and_converts_later_ones(sheet, owner, editor, rows):
    a, b, c = rows
    services.column_retype(sheet=sheet, actor=owner, key="c1", type="number")
    set_cell(sheet, editor, b, "c1", 55)
    d = services.rows_insert(sheet=sheet, actor=editor, rows=[{"c1": 99}]).payload["rows"][0]["id"]
    undone = undo(sheet, owner)
    assert Column.objects.get(sheet=sheet, key="c1").type == "text"
    # What the retype changed comes back as it was (last write wins over the editor's 55);
    # a value written since is converted to the old type.
    assert [data(i)["c1"] for i in (a, b, c, d)] == ["12", "abc", "3.5", "99"]
    assert undone.payload["values"] == {str(a): "12", str(b): "abc", str(c): "3.5", str(d): "99"}
    assert undone.previous["values"] == {str(a): 12, str(b): 55, str(c): 3.5, str(d): 99}


def test_several_undos_then_redos(sheet, owner, rows):
    a = rows[0]
    states = [state(sheet)]
    set_cell(sheet, owner, a, "c1", "one")
    states.append(state(sheet))
    services.column_rename(sheet=sheet, actor=owner, key="c1", name="Customer")
    states.append(state(sheet))
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[a])
    states.append(state(sheet))

    for expected in reversed(states[:-1]):
        undo(sheet, owner)
        assert state(sheet) == expected
    for expected in states[1:]:
        redo(sheet, owner)
        assert state(sheet) == expected
    assert redo(sheet, owner) is None
    assert state(sheet) == states[-1]


def test_undo_reaches_back_to_the_rows_insert_but_not_the_sheet_creation(sheet, owner, rows):
    undo(sheet, owner)  # the rows fixture's insert
    assert ids(sheet) == []
    assert undo(sheet, owner) is None  # creating the sheet and its columns is not undone
    assert len(selectors.sheet_columns(sheet)) == 7


def test_nothing_to_undo_or_redo_returns_none_and_logs_nothing(sheet, owner, editor):
    version = sheet.version
    assert undo(sheet, editor) is None
    assert redo(sheet, editor) is None
    assert redo(sheet, owner) is None
    assert undo(sheet, None) is None
    sheet.refresh_from_db()
    assert sheet.version == version == Operation.objects.filter(sheet=sheet).count()


def test_a_new_edit_clears_the_redo_stack(sheet, owner, rows):
    a, b, _ = rows
    first = set_cell(sheet, owner, a, "c1", "first")
    set_cell(sheet, owner, a, "c1", "second")
    undo(sheet, owner)
    third = set_cell(sheet, owner, b, "c1", "third")
    assert redo(sheet, owner) is None
    assert undo(sheet, owner).payload["undo_of"] == third.version
    # Back to before "first": "second" was undone, and is not on the undo stack any more.
    assert undo(sheet, owner).payload["undo_of"] == first.version
    assert data(a)["c1"] == "12" and data(b)["c1"] == "abc"
    # Undone twice, redone twice: the redo stack holds both, newest undo first.
    redo(sheet, owner)
    redo(sheet, owner)
    assert data(a)["c1"] == "first" and data(b)["c1"] == "third"
    assert redo(sheet, owner) is None


def test_undo_is_per_user(sheet, owner, editor, rows):
    a, b, _ = rows
    mine = set_cell(sheet, owner, a, "c1", "owner's")
    set_cell(sheet, editor, b, "c1", "editor's")
    undone = undo(sheet, owner)
    assert undone.payload["undo_of"] == mine.version
    assert data(a)["c1"] == "12" and data(b)["c1"] == "editor's"
    # The editor's undo reverts the editor's edit, and the owner can still redo.
    undo(sheet, editor)
    assert data(b)["c1"] == "abc"
    redo(sheet, owner)
    assert data(a)["c1"] == "owner's" and data(b)["c1"] == "abc"
    # The editor's own history is untouched by the owner's: redo brings back the editor's edit.
    redo(sheet, editor)
    assert data(b)["c1"] == "editor's"


def test_undo_of_a_cell_edit_overwrites_a_later_edit_by_someone_else(sheet, owner, editor, rows):
    a = rows[0]
    set_cell(sheet, owner, a, "c1", "owner's")
    set_cell(sheet, editor, a, "c1", "editor's")
    undo(sheet, owner)
    assert data(a)["c1"] == "12"


def test_undo_of_cells_skips_rows_deleted_and_columns_deleted_since(sheet, owner, editor, rows):
    a, b, c = rows
    set_cell(sheet, owner, c, "c3", 1)
    edit = services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": a, "col": "c1", "value": "x"},
            {"row": b, "col": "c1", "value": "y"},
            {"row": a, "col": "c2", "value": 2},
        ],
    )
    services.rows_delete(sheet=sheet, actor=editor, row_ids=[b])
    services.column_delete(sheet=sheet, actor=editor, key="c2")
    undone = undo(sheet, owner)
    assert undone.payload == {"cells": [{"row": a, "col": "c1", "value": "12"}], "undo_of": edit.version}
    assert undone.previous == {"cells": [{"row": a, "col": "c1", "value": "x"}]}
    assert data(a) == {"c1": "12", "c2": 2, "c7": "new"}  # the deleted column keeps its value
    assert ids(sheet) == [a, c]
    # When nothing is left to set back, the undo is an empty operation and the stack moves on.
    services.rows_delete(sheet=sheet, actor=editor, row_ids=[c])
    assert undo(sheet, owner).payload["cells"] == []
    redo(sheet, owner)
    assert undo(sheet, owner).payload["cells"] == []
    assert undo(sheet, owner).kind == "rows.delete"  # the rows fixture's insert, what is left of it
    assert ids(sheet) == []


def test_undo_of_cells_converts_values_of_a_column_retyped_since(sheet, owner, editor, rows):
    a, b, _ = rows
    services.cells_update(
        sheet=sheet,
        actor=owner,
        cells=[
            {"row": a, "col": "c1", "value": "first"},
            {"row": b, "col": "c1", "value": "second"},
        ],
    )
    services.column_retype(sheet=sheet, actor=editor, key="c1", type="number")
    undone = undo(sheet, owner)
    # "12" becomes 12; "abc" does not convert to a number and is cleared.
    assert data(a)["c1"] == 12 and "c1" not in data(b)
    assert undone.payload["cells"] == [{"row": a, "col": "c1", "value": 12}, {"row": b, "col": "c1", "value": None}]


def test_undo_sets_stored_values_back_without_validating_them_again(sheet, owner, rows, settings):
    a = rows[0]
    long_text = "x" * 50
    set_cell(sheet, owner, a, "c1", long_text)
    set_cell(sheet, owner, a, "c1", "short")
    settings.GRIDCAST = {**settings.GRIDCAST, "MAX_CELL_CHARS": 20}
    undo(sheet, owner)
    assert data(a)["c1"] == long_text


def test_undo_of_rows_delete_restores_values_of_a_column_retyped_since(sheet, owner, editor, rows):
    a, b, c = rows
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[a, b])
    services.column_retype(sheet=sheet, actor=editor, key="c1", type="number")
    undone = undo(sheet, owner)
    assert ids(sheet) == [a, b, c]
    assert data(a) == {"c1": 12, "c2": 1.5, "c7": "new"}
    assert data(b) == {"c1": None, "c3": 4}
    assert {r["id"] for r in undone.payload["rows"]} == {a, b}


def test_undo_of_insert_skips_rows_deleted_since(sheet, owner, editor, rows):
    a, b, c = rows
    services.rows_delete(sheet=sheet, actor=editor, row_ids=[b])
    undone = undo(sheet, owner)
    assert undone.kind == "rows.delete" and undone.payload["ids"] == [a, c]
    assert ids(sheet) == []
    redo(sheet, owner)
    assert ids(sheet) == [a, c]


def test_restored_names_that_are_taken_get_a_number(sheet, owner, editor):
    services.column_delete(sheet=sheet, actor=owner, key="c1")
    services.column_add(sheet=sheet, actor=editor, name="Name")
    undone = undo(sheet, owner)
    assert undone.kind == "column.add" and undone.payload["column"]["name"] == "Name (2)"
    services.column_rename(sheet=sheet, actor=owner, key="c2", name="Total")
    services.column_rename(sheet=sheet, actor=editor, key="c3", name="amount")
    undo(sheet, owner)
    assert Column.objects.get(sheet=sheet, key="c2").name == "Amount (2)"


def test_bulk_insert_is_skipped_by_undo_and_clears_redo(sheet, owner, rows):
    a = rows[0]
    edit = set_cell(sheet, owner, a, "c1", "edited")
    bulk_insert(sheet=sheet, actor=owner, count=3)
    assert undo(sheet, owner).payload["undo_of"] == edit.version
    assert Row.objects.filter(sheet=sheet, data__c1="bulk").count() == 3
    bulk_insert(sheet=sheet, actor=owner, count=1)
    assert redo(sheet, owner) is None
    assert undo(sheet, owner).kind == "rows.delete"  # the rows fixture's insert
    assert Row.objects.filter(sheet=sheet).count() == 4


def test_resent_op_id_applies_once(sheet, owner, rows):
    a = rows[0]
    set_cell(sheet, owner, a, "c1", "one")
    edit_id = uuid.uuid4()
    services.cells_update(sheet=sheet, actor=owner, op_id=edit_id, cells=[{"row": a, "col": "c1", "value": "two"}])
    op_id = uuid.uuid4()
    first = undo(sheet, owner, op_id=op_id)
    again = undo(sheet, owner, op_id=str(op_id))
    assert again.pk == first.pk and again.op_id == op_id
    assert data(a)["c1"] == "one"
    sheet.refresh_from_db()
    assert sheet.version == first.version
    with pytest.raises(Conflict):
        redo(sheet, owner, op_id=op_id)
    with pytest.raises(Conflict):
        undo(sheet, owner, op_id=edit_id)
    assert data(a)["c1"] == "one"
    redo_id = uuid.uuid4()
    redone = redo(sheet, owner, op_id=redo_id)
    assert redo(sheet, owner, op_id=redo_id).pk == redone.pk
    assert data(a)["c1"] == "two"
    assert redo(sheet, owner) is None


@pytest.mark.django_db(transaction=True)
def test_two_undos_at_once_revert_two_operations(sheet, owner, rows, monkeypatch):
    a, b, _ = rows
    set_cell(sheet, owner, a, "c1", "first")
    set_cell(sheet, owner, b, "c1", "second")
    # Both requests read the stacks at the same moment, unless the first holds the sheet lock
    # (then the second waits for it, and the first gives up waiting for the second).
    meet = threading.Barrier(2, timeout=1)
    read_stacks = undo_module._stacks

    def slow_stacks(*args):
        try:
            meet.wait()
        except threading.BrokenBarrierError:
            pass
        return read_stacks(*args)

    monkeypatch.setattr(undo_module, "_stacks", slow_stacks)
    done = []

    def request():
        try:
            done.append(undo(sheet, owner).payload["undo_of"])
        finally:
            connection.close()

    threads = [threading.Thread(target=request) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(done)) == 2
    assert data(a)["c1"] == "12" and data(b)["c1"] == "abc"


def test_versions_stay_dense(sheet, owner, editor, rows):
    a, b, _ = rows
    set_cell(sheet, owner, a, "c1", "x")
    services.rows_move(sheet=sheet, actor=editor, row_ids=[a], after=b)
    undo(sheet, owner)
    undo(sheet, editor)
    assert undo(sheet, editor) is None
    redo(sheet, owner)
    redo(sheet, editor)
    sheet.refresh_from_db()
    versions = list(Operation.objects.filter(sheet=sheet).values_list("version", flat=True))
    assert versions == list(range(1, sheet.version + 1))
    assert sheet.version == 1 + 1 + 2 + 4


def test_undo_is_broadcast_after_commit_like_any_operation(
    sheet, owner, rows, monkeypatch, django_capture_on_commit_callbacks
):
    edit = set_cell(sheet, owner, rows[0], "c1", "x")
    published, publish = [], broadcast.publish

    def spy(sheet_id, frame, origin=None):
        published.append((sheet_id, frame, origin))
        publish(sheet_id, frame, origin)

    monkeypatch.setattr(broadcast, "publish", spy)
    op_id = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        undone = undo(sheet, owner, op_id=op_id, origin="conn-1")
        assert published == []  # nothing leaves before the commit
    assert published == [
        (
            sheet.pk,
            {
                "type": "ops",
                "version": undone.version,
                "kind": "cells.update",
                "actor": owner.pk,
                "op_id": str(op_id),
                "changes": {"cells": [{"row": rows[0], "col": "c1", "value": "12"}], "undo_of": edit.version},
            },
            "conn-1",
        )
    ]
