"""Per-user undo and redo of sheet operations, built from the `previous` values each Operation keeps.

An undo or a redo is an ordinary operation of the inverse kind (undoing a rows.insert is a
rows.delete, undoing a column.delete is a column.add, ...), applied through
`services.operation`, so it gets the next version, an Operation row, idempotency by op_id and
the broadcast, and clients apply it like any other. Its payload names the operation whose
`previous` it applied: {"undo_of": version} or {"redo_of": version} (a redo names the undo it
reverts). It keeps its own `previous`, which is what a redo applies.

The stacks are derived from the actor's most recent HISTORY operations on the sheet, under the
sheet lock: a new operation pushes onto the undo stack and clears the redo stack, an undo moves
its operation to the redo stack, a redo moves it back. A bulk insert (CSV import) clears the
redo stack but is never undone (an import into an existing sheet, rows.import, is undone
whole); operations older than the window can no longer be undone.

Last write wins, as in Google Sheets: undoing a cell edit sets the old value back even if
someone else edited that cell since. What no longer exists is skipped: cells of rows deleted
since or of deleted columns, rows deleted since when undoing an insert or a move. Values are
stored forms and are set back as they are, except in a column whose type changed since, where
they are converted and cleared when they do not convert. A restored column or column name
that is taken by now gets a number: "Name (2)". An undo that finds nothing left to change is
still logged, with an empty change, so that the next undo moves on to an older operation.
"""

from django.db import transaction

from accounts.models import User
from core.errors import Conflict, NotFound

from . import column_types
from .models import Column, Operation, Row, Sheet
from .services.cells import save_row_data
from .services.columns import RETYPE_VALUES_IN_PAYLOAD
from .services.formulas import formulas_reading
from .services.operations import operation, parse_op_id
from .services.recompute import recompute
from .services.restore import restore_back

HISTORY = 500


def operation_undo(
    *, sheet: Sheet, actor: User | None, op_id: object = None, origin: str | None = None
) -> Operation | None:
    """Revert the actor's most recent operation on the sheet that is not undone yet, as a new
    Operation; None when there is nothing to undo."""
    return _step("undo_of", sheet=sheet, actor=actor, op_id=op_id, origin=origin)


def operation_redo(
    *, sheet: Sheet, actor: User | None, op_id: object = None, origin: str | None = None
) -> Operation | None:
    """Re-apply what the actor's most recent undo on the sheet reverted, as a new Operation;
    None when there is nothing to redo (nothing undone, or a new operation since)."""
    return _step("redo_of", sheet=sheet, actor=actor, op_id=op_id, origin=origin)


def _step(mark, *, sheet, actor, op_id, origin):
    op_id = parse_op_id(op_id)
    if actor is None:
        return None
    with transaction.atomic():
        # Lock the sheet before reading the stacks, so that two undos sent at once revert two
        # operations rather than one twice (the service's own lock comes too late: it already
        # needs the kind, which depends on the operation reverted).
        if not list(Sheet.objects.select_for_update(of=("self",)).filter(pk=sheet.pk).values_list("pk", flat=True)):
            raise NotFound("Sheet not found")
        done = _resent(actor, op_id, sheet, mark)
        if done is not None:
            return done
        version = _stacks(sheet, actor)[mark]
        if version is None:
            return None
        target = Operation.objects.get(sheet_id=sheet.pk, version=version)
        kind, _ = INVERSES[target.kind]
        return _SERVICES[kind](sheet=sheet, actor=actor, op_id=op_id, origin=origin, target=target, mark=mark)


def _resent(actor, op_id, sheet, mark):
    if op_id is None:
        return None
    done = Operation.objects.filter(actor=actor, op_id=op_id).first()
    if done is not None and (done.sheet_id != sheet.pk or mark not in done.payload):
        raise Conflict("op_id was already used for a different operation", op_id=str(op_id))
    return done


def _stacks(sheet, actor):
    """The versions the next undo and the next redo revert, by mark (None: nothing)."""
    log = (
        Operation.objects.filter(sheet_id=sheet.pk, actor=actor)
        .order_by("-version")
        .values_list("version", "kind", "payload__undo_of", "payload__redo_of", "payload__bulk")[:HISTORY]
    )
    undo, redo = [], []
    for version, kind, undo_of, redo_of, bulk in reversed(list(log)):
        if undo_of is not None:
            _remove(undo, undo_of)
            redo.append(version)
        elif redo_of is not None:
            _remove(redo, redo_of)
            undo.append(version)
        else:
            redo.clear()
            if kind in INVERSES and not bulk:
                undo.append(version)
    return {"undo_of": undo[-1] if undo else None, "redo_of": redo[-1] if redo else None}


def _remove(stack, version):
    # Under the lock it is always the top; it is missing when it is older than the window.
    if version in stack:
        stack.remove(version)


def _revert(*, sheet, actor, target, mark):
    _, invert = INVERSES[target.kind]

    def write(version):
        payload, previous, *layout_changed = invert(sheet, target)
        return {**payload, mark: target.version}, previous, *layout_changed

    return write


# --- the inverses: each runs under the sheet lock and returns (payload, previous[, layout changed]) ---


def _columns(sheet):
    return {c.key: c for c in Column.objects.filter(sheet_id=sheet.pk)}


def _retyped_since(sheet, version):
    retypes = Operation.objects.filter(sheet_id=sheet.pk, kind="column.retype", version__gt=version)
    return set(retypes.values_list("payload__key", flat=True))


def _fit(column, value):
    try:
        return column_types.coerce(column.type, value, column.options)
    except ValueError:
        return None


def _put(data, key, value):
    # An empty cell that was never set has no key: undoing its first edit leaves the row as it was.
    if value is None:
        data.pop(key, None)
    else:
        data[key] = value


def _set_cells_back(sheet, target):
    cells = target.previous["cells"]
    columns, retyped = _columns(sheet), _retyped_since(sheet, target.version)
    rows = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in={c["row"] for c in cells}).only("id", "data")}
    changes, previous = [], []
    for cell in cells:
        row, column = rows.get(cell["row"]), columns.get(cell["col"])
        if row is None or column is None or column.deleted:
            continue
        value = _fit(column, cell["value"]) if column.key in retyped else cell["value"]
        previous.append({"row": row.pk, "col": column.key, "value": row.data.get(column.key)})
        changes.append({"row": row.pk, "col": column.key, "value": value})
        _put(row.data, column.key, value)
    save_row_data(list(rows.values()))  # one statement: a replace-all's undo sets back 100,000 cells
    return {"cells": changes}, {"cells": previous}


def _delete_rows(sheet, target):
    ids = [r["id"] for r in target.payload["rows"]]
    found = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in=ids)}
    ids = [i for i in ids if i in found]
    Row.objects.filter(sheet_id=sheet.pk, pk__in=ids).delete()
    previous = {"rows": [{"id": i, "position": found[i].position, "values": found[i].data} for i in ids]}
    return {"ids": ids}, previous, True


def _restore_rows(sheet, target):
    rows = target.previous["rows"]
    existing = set(Row.objects.filter(pk__in=[r["id"] for r in rows]).values_list("pk", flat=True))
    columns, retyped = _columns(sheet), _retyped_since(sheet, target.version)
    restored = []
    for row in rows:
        if row["id"] in existing:
            continue
        data = {k: _fit(columns[k], v) if k in retyped and k in columns else v for k, v in row["values"].items()}
        restored.append(Row(pk=row["id"], sheet_id=sheet.pk, position=row["position"], data=data))
    Row.objects.bulk_create(restored, batch_size=2000)
    payload = {
        "after": None,
        "before": None,
        "repositioned": {},
        "rows": [{"id": r.pk, "position": r.position, "values": r.data} for r in restored],
    }
    return payload, None, True


def _move_rows_back(sheet, target):
    back = {int(i): position for i, position in target.previous["positions"].items()}
    now = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(back)).values_list("pk", "position"))
    ids = [i for i in target.payload["ids"] if i in now]
    Row.objects.bulk_update([Row(pk=i, position=back[i]) for i in ids], ["position"])
    payload = {"ids": ids, "after": None, "before": None, "positions": [back[i] for i in ids], "repositioned": {}}
    return payload, {"positions": {str(i): now[i] for i in ids}}, True


def _column(sheet, key):
    # Deleted columns too: a deleted column keeps its state, so that undoing the delete brings it back.
    return Column.objects.get(sheet_id=sheet.pk, key=key)


def _free_name(sheet, name, key):
    taken = Column.objects.filter(sheet_id=sheet.pk, deleted=False).exclude(key=key).values_list("name", flat=True)
    taken = {n.lower() for n in taken}
    free, number = name, 1
    while free.lower() in taken:
        number += 1
        free = f"{name[:190]} ({number})"
    return free


def _delete_column(sheet, target):
    column = _column(sheet, target.payload["column"]["key"])
    column.deleted = True
    column.save(update_fields=["deleted"])
    return {"key": column.key, **recompute(sheet, formulas_reading(sheet, column.key))}, {"column": column.as_dict()}


def _undelete_column(sheet, target):
    column = _column(sheet, target.payload["key"])
    column.deleted = False
    column.name = _free_name(sheet, column.name, column.key)
    column.save(update_fields=["deleted", "name"])
    return {"column": column.as_dict(), **recompute(sheet, formulas_reading(sheet, column.key))}, None


def _rename_column_back(sheet, target):
    column = _column(sheet, target.payload["key"])
    previous = column.name
    column.name = _free_name(sheet, target.previous["name"], column.key)
    column.save(update_fields=["name"])
    return {"key": column.key, "name": column.name}, {"name": previous}


def _move_column_back(sheet, target):
    column = _column(sheet, target.payload["key"])
    previous = column.position
    column.position = target.previous["position"]
    column.save(update_fields=["position"])
    return {"key": column.key, "position": column.position, "after": None, "before": None}, {"position": previous}


def _retype_column_back(sheet, target):
    """The previous type and options; the values the retype changed are set back as they were,
    the others (edited since) converted, cleared when they do not convert."""
    column = _column(sheet, target.payload["key"])
    restore = target.previous["values"]
    previous = {"type": column.type, "options": column.options, "values": {}}
    column.type, column.options = target.previous["type"], target.previous["options"]
    new_values, changed, cleared = {}, [], 0
    for row in Row.objects.filter(sheet_id=sheet.pk, data__has_key=column.key).only("id", "data").iterator(2000):
        row_id, old = str(row.pk), row.data[column.key]
        if row_id in restore:
            new = restore[row_id]
        else:
            new = _fit(column, old)
            cleared += old is not None and new is None
        if new != old or type(new) is not type(old):
            previous["values"][row_id] = old
            new_values[row_id] = new
            row.data[column.key] = new
            changed.append(row)
    Row.objects.bulk_update(changed, ["data"], batch_size=2000)
    column.save(update_fields=["type", "options"])
    payload = {
        "key": column.key,
        "type": column.type,
        "options": column.options,
        "cleared": cleared,
        "values": new_values,
    }
    if len(new_values) > RETYPE_VALUES_IN_PAYLOAD:
        payload.update(values=None, reload=True)
    # A formula column back to a formula computes its cells again (not converted: cleared above),
    # and the formulas reading this column follow its values.
    formulas = formulas_reading(sheet, column.key) | ({column.key} if column.type == column_types.FORMULA else set())
    if formulas:
        payload.update(recompute(sheet, formulas), cleared=0 if column.type == column_types.FORMULA else cleared)
    return payload, previous


def _import_back(sheet, target):
    """A rows.import reverted (an import, or the undo of one): the rows it inserted deleted, the
    rows it deleted restored, its cells set back; itself a rows.import that the next step reverts."""
    deleted, deleted_rows, _ = _delete_rows(sheet, target)
    restored, _, _ = _restore_rows(sheet, target)
    cells, previous_cells = _set_cells_back(sheet, target)
    payload = {"rows": restored["rows"], "cells": cells["cells"], "ids": deleted["ids"]}
    return payload, {"rows": deleted_rows["rows"], "cells": previous_cells["cells"]}, True


def _rename_sheet_back(sheet, target):
    previous = Sheet.objects.filter(pk=sheet.pk).values_list("name", flat=True).get()
    sheet.name = target.previous["name"]
    Sheet.objects.filter(pk=sheet.pk).update(name=sheet.name)
    return {"name": sheet.name}, {"name": previous}


def _restore_undone(sheet, target):
    """A sheet.restore reverted: the rows it brought back deleted, the rows it deleted back, its
    moves, cells and columns set back; itself a sheet.restore that the next step reverts."""
    payload, previous, layout_changed = restore_back(sheet, target.payload, target.previous or {})
    kept = {"version": target.payload.get("version"), "scope": target.payload.get("scope")}
    return {**kept, **payload}, previous, layout_changed


# The kind of operation reverted: the kind of its inverse, and how to apply it.
INVERSES = {
    "cells.update": ("cells.update", _set_cells_back),
    "rows.insert": ("rows.delete", _delete_rows),
    "rows.delete": ("rows.insert", _restore_rows),
    "rows.move": ("rows.move", _move_rows_back),
    "column.add": ("column.delete", _delete_column),
    "column.delete": ("column.add", _undelete_column),
    "column.rename": ("column.rename", _rename_column_back),
    "column.retype": ("column.retype", _retype_column_back),
    "column.move": ("column.move", _move_column_back),
    "sheet.rename": ("sheet.rename", _rename_sheet_back),
    "rows.import": ("rows.import", _import_back),
    "sheet.restore": ("sheet.restore", _restore_undone),
}
_SERVICES = {kind: operation(kind)(_revert) for kind, _ in INVERSES.values()}
