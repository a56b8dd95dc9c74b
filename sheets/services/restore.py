"""Restore: a cell, a row, a column or the whole sheet set back to how it was at a past version
(sheets.time_travel reads the past), as ONE `sheet.restore` operation, so it is broadcast, indexed
in history and undone like any other (its inverse is a sheet.restore too: sheets.undo).

Payload: {"version": the version restored, "scope", "rows": rows brought back [{id, position,
values}], "ids": rows deleted (inserted since), "cells": cells set [{row, col, value}],
"positions": {row id: position} of rows moved back, "columns": the active columns after (sheet
scope only)}; previous: the same parts as they were before ("columns": every column's state).

As undo does, values are set back as they were stored, without the columns' rules. Limits:
- cell, row, column: columns added since keep their values; a column deleted since is restored
  with the whole sheet (or by undoing its deletion), not alone; formula cells of the rows changed
  are computed again.
- sheet: columns come back with their name, type, options, position and width; rows deleted since
  come back at their former position, rows inserted since are deleted, rows moved since go back;
  every cell changed since takes its former value (formula cells included: their values then). At
  most MAX_REPLACE_CELLS cells and MAX_INSERT_ROWS rows in one restore (TooLarge beyond).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.models import User
from core.errors import InvalidInput, NotFound, TooLarge

from .. import time_travel
from ..history import COMPUTED, ROW
from ..models import Column, Row, RowChange, Sheet
from .cells import save_row_data
from .columns import active_columns
from .common import limit
from .formulas import SheetFormulas, columns_of
from .operations import operation

SCOPES = ("cell", "row", "column", "sheet")


@dataclass
class Plan:
    """What a restore writes (see the module's payload)."""

    insert: list[dict] = field(default_factory=list)
    delete: list[int] = field(default_factory=list)
    cells: dict[tuple[int, str], Any] = field(default_factory=dict)
    positions: dict[int, float] = field(default_factory=dict)
    columns: list[dict] | None = None  # every column's state ({..., deleted}), sheet scope only


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(scope: object, row: object, col: object) -> None:
    if scope not in SCOPES:
        raise InvalidInput(f"scope must be one of {', '.join(SCOPES)}")
    if scope in ("cell", "row") and (not _whole(row) or not 1 <= row < 2**63):
        raise InvalidInput(f"restoring a {scope} needs row: the row's id")
    if scope in ("cell", "column") and (not isinstance(col, str) or not col):
        raise InvalidInput(f"restoring a {scope} needs col: the column's key")
    if scope in ("sheet", "column") and row is not None:
        raise InvalidInput(f"row is not used when restoring a {scope}")
    if scope in ("sheet", "row") and col is not None:
        raise InvalidInput(f"col is not used when restoring a {scope}")


@operation("sheet.restore")
def sheet_restore(
    *, sheet: Sheet, actor: User | None, version: object, scope: object, row: object = None, col: object = None
) -> Callable:
    """Set the `scope` ("cell" row+col, "row", "column" col, or "sheet") back to how it was at
    `version`, as one operation; a clear InvalidInput (nothing applied) when it cannot be."""
    _check(scope, row, col)
    if not _whole(version):
        raise InvalidInput("version must be a whole number: the version to restore")
    version = time_travel.check_version(sheet, version, "version")

    def write(_):
        plan = _PLANS[scope](sheet, version, row, col)
        payload, previous, layout_changed = restore_apply(sheet, plan)
        return {"version": version, "scope": scope, **payload}, previous, layout_changed

    return write


def _column_now(sheet, col, then):
    if not Column.objects.filter(sheet_id=sheet.pk, key=col).exists():
        raise NotFound(f"column {col[:32]!r} not found in this sheet", col=col[:32])
    if col not in active_columns(sheet):
        raise InvalidInput(f"column {col!r} was deleted since: restore the sheet, or undo the deletion", col=col)
    if col not in {c["key"] for c in then.columns}:
        raise InvalidInput(f"column {col!r} did not exist at version {then.version}", col=col)


def _row_then(sheet, row, then):
    """The row's data now (None: deleted since); InvalidInput when it did not exist then."""
    data = Row.objects.filter(sheet_id=sheet.pk, pk=row).values_list("data", flat=True).first()
    if data is None and not RowChange.objects.filter(sheet_id=sheet.pk, row_id=row).exists():
        raise NotFound(f"row {row} not found in this sheet", row=row)
    if not then.exists(row, data is not None):
        raise InvalidInput(f"row {row} did not exist at version {then.version}", row=row)
    return data


def _cell_plan(sheet, version, row, col):
    then = time_travel.past(sheet, version)
    _column_now(sheet, col, then)
    data = _row_then(sheet, row, then)
    if data is None:
        raise InvalidInput(f"row {row} was deleted since: restore the row", row=row)
    value = time_travel.values_at(sheet, version, {row: data}, [col])[row][col]
    return _with_formulas(sheet, Plan(cells={(row, col): value}))


def _row_plan(sheet, version, row, col):
    then = time_travel.past(sheet, version)
    data = _row_then(sheet, row, then)
    keys = [c["key"] for c in then.columns]
    if data is None:
        values = time_travel.values_at(sheet, version, {row: None}, keys)[row]
        position = then.layout[row]
        return Plan(insert=[{"id": row, "position": position, "values": _stored(values)}])
    active = active_columns(sheet)
    values = time_travel.values_at(sheet, version, {row: data}, [k for k in keys if k in active])[row]
    return _with_formulas(sheet, Plan(cells={(row, key): value for key, value in values.items()}))


def _column_plan(sheet, version, row, col):
    then = time_travel.past(sheet, version)
    _column_now(sheet, col, then)
    changed = RowChange.objects.filter(sheet_id=sheet.pk, version__gt=version, col__in=[col, ROW, COMPUTED])
    ids = set(changed.values_list("row_id", flat=True).distinct())
    rows = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=ids).values_list("pk", "data"))
    rows = {pk: data for pk, data in rows.items() if then.exists(pk, True)}
    _cap(len(rows), 0)
    values = time_travel.values_at(sheet, version, rows, [col])
    return _with_formulas(sheet, Plan(cells={(pk, col): v[col] for pk, v in values.items()}))


def _sheet_plan(sheet, version, row, col):
    then = time_travel.past(sheet, version)
    keys = [c["key"] for c in then.columns]
    plan = Plan(columns=list(then.states.values()))
    gone = []
    for pk, position in then.layout.items():
        now = then.moved_now.get(pk)
        if position is None and now is not None:
            plan.delete.append(pk)
        elif position is not None and now is None:
            gone.append(pk)
        elif position is not None and position != now:
            plan.positions[pk] = position
    changed: dict[int, set[str]] = {}
    for pk, key in RowChange.objects.filter(sheet_id=sheet.pk, version__gt=version).values_list("row_id", "col"):
        changed.setdefault(pk, set()).add(key)
    _cap(sum(len(c) for c in changed.values()), len(gone))
    if gone:
        values = time_travel.values_at(sheet, version, dict.fromkeys(gone), keys)
        plan.insert = [{"id": pk, "position": then.layout[pk], "values": _stored(values[pk])} for pk in sorted(gone)]
    rows = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(changed)).values_list("pk", "data"))
    rows = {pk: data for pk, data in rows.items() if pk not in plan.delete}
    values = time_travel.values_at(sheet, version, rows, keys)
    for pk, cols in changed.items():
        if pk in rows:
            for key in keys if ROW in cols or COMPUTED in cols else cols & set(keys):
                plan.cells[(pk, key)] = values[pk][key]
    return plan


def _cap(cells, rows):
    if cells > limit("MAX_REPLACE_CELLS") or rows > limit("MAX_INSERT_ROWS"):
        raise TooLarge(
            f"too much changed since that version to restore at once (at most {limit('MAX_REPLACE_CELLS')} "
            f"cells and {limit('MAX_INSERT_ROWS')} rows): restore single rows or columns"
        )


def _stored(values):
    return {key: value for key, value in values.items() if value is not None}


def _with_formulas(sheet, plan):
    """The formula cells of the rows a restore changes, computed again from the restored values."""
    formulas = SheetFormulas(columns_of(active_columns(sheet)))
    if not formulas:
        return plan
    by_row: dict[int, dict[str, Any]] = {}
    for (row, key), value in plan.cells.items():
        by_row.setdefault(row, {})[key] = value
    for pk, data in Row.objects.filter(sheet_id=sheet.pk, pk__in=list(by_row)).values_list("pk", "data"):
        data.update(by_row[pk])
        for key, value in formulas.compute(data).items():
            plan.cells[(pk, key)] = value
    return plan


# --- writing (the restore, and its undo) ---------------------------------------------------------


def restore_apply(sheet: Sheet, plan: Plan) -> tuple[dict, dict, bool]:
    """Write a plan under the sheet lock: (payload, previous, whether rows came, went or moved).
    What no longer applies is skipped (a row to delete already gone, a row to bring back there)."""
    payload, previous = {}, {}
    if plan.columns is not None:
        previous["columns"], payload["columns"] = _columns_set(sheet, plan.columns)
    found = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in=plan.delete)}
    deleted = [pk for pk in plan.delete if pk in found]
    Row.objects.filter(sheet_id=sheet.pk, pk__in=deleted).delete()
    payload["ids"] = deleted
    previous["rows"] = [{"id": pk, "position": found[pk].position, "values": found[pk].data} for pk in deleted]
    existing = set(Row.objects.filter(pk__in=[r["id"] for r in plan.insert]).values_list("pk", flat=True))
    inserted = [
        Row(pk=r["id"], sheet_id=sheet.pk, position=r["position"], data=r["values"])
        for r in plan.insert
        if r["id"] not in existing
    ]
    Row.objects.bulk_create(inserted, batch_size=2000)
    payload["rows"] = [{"id": r.pk, "position": r.position, "values": r.data} for r in inserted]
    payload["positions"], previous["positions"] = _positions_set(sheet, plan.positions)
    payload["cells"], previous["cells"] = _cells_set(sheet, plan.cells)
    return payload, previous, bool(deleted or inserted or payload["positions"])


def _columns_set(sheet, states):
    by_key = {state["key"]: state for state in states}
    columns = list(Column.objects.filter(sheet_id=sheet.pk))
    before = [{**c.as_dict(), "deleted": c.deleted} for c in columns]
    for column in columns:
        state = by_key.get(column.key)
        if state is None:  # added after the version: deleted (its values stay, as a deletion keeps them)
            column.deleted = True
            continue
        for name in ("name", "type", "options", "position", "width", "deleted"):
            setattr(column, name, state[name])
    Column.objects.bulk_update(columns, ["name", "type", "options", "position", "width", "deleted"])
    after = sorted((c for c in columns if not c.deleted), key=lambda c: (c.position, c.pk))
    return before, [c.as_dict() for c in after]


def _positions_set(sheet, positions):
    now = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(positions)).values_list("pk", "position"))
    moved = [pk for pk in positions if pk in now]
    Row.objects.bulk_update([Row(pk=pk, position=positions[pk]) for pk in moved], ["position"])
    return {str(pk): positions[pk] for pk in moved}, {str(pk): now[pk] for pk in moved}


def _cells_set(sheet, cells):
    rows = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in={pk for pk, _ in cells}).only("id", "data")}
    done, previous = [], []
    for (pk, key), value in cells.items():
        row = rows.get(pk)
        old = None if row is None else row.data.get(key)
        if row is None or (old == value and type(old) is type(value)):
            continue
        previous.append({"row": pk, "col": key, "value": old})
        done.append({"row": pk, "col": key, "value": value})
        if value is None:
            row.data.pop(key, None)
        else:
            row.data[key] = value
    save_row_data([rows[pk] for pk in {c["row"] for c in done}])
    return done, previous


def restore_back(sheet: Sheet, payload: dict, previous: dict) -> tuple[dict, dict, bool]:
    """The plan that reverts a sheet.restore (or its undo) from its payload and previous values."""
    plan = Plan(
        insert=previous.get("rows") or [],
        delete=[r["id"] for r in payload.get("rows") or []],
        cells={(c["row"], c["col"]): c["value"] for c in reversed(previous.get("cells") or [])},
        positions={int(pk): position for pk, position in (previous.get("positions") or {}).items()},
        columns=previous.get("columns"),
    )
    return restore_apply(sheet, plan)


_PLANS = {"cell": _cell_plan, "row": _row_plan, "column": _column_plan, "sheet": _sheet_plan}
