"""Import into an existing sheet: rows appended, or updated where their key column matches and
appended where not ("upsert"), as ONE `rows.import` operation (undoable; its inverse is a
`rows.import` too: sheets.undo). Every value is checked first; any bad row and nothing is applied.

Payload: {"rows": rows inserted [{id, position, values}], "cells": cells set [{row, col, value}],
"ids": rows deleted (an undo's)}; previous: {"rows": rows deleted, "cells": the cells' values
before}. An empty cell of the file leaves the sheet's value as it is."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max

from accounts.models import User
from core.errors import InvalidInput, TooLarge

from .. import column_types
from ..models import Column, Row, Sheet
from .columns import active_columns
from .common import limit
from .formulas import SheetFormulas, columns_of
from .operations import operation

APPEND, UPSERT = "append", "upsert"
BAD_ROWS_LISTED = 100


@dataclass
class ImportPlan:
    """What importing these rows would do: rows to insert ({key: value}), updates (row id ->
    {key: value} of the cells that change), rows matched with nothing to change, bad rows."""

    inserts: list = field(default_factory=list)
    updates: dict = field(default_factory=dict)
    unchanged: int = 0
    bad: list = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "new": len(self.inserts),
            "updated": len(self.updates),
            "unchanged": self.unchanged,
            "bad": self.bad[:BAD_ROWS_LISTED],
            "bad_count": len(self.bad),
        }


def _coerced(columns: dict[str, Column], rows: list[dict[str, str]], bad: list) -> list[tuple[int, dict]]:
    """(data row number, {key: stored value}) of each row whose values all fit their columns."""
    good = []
    for number, values in enumerate(rows, start=1):
        data, reasons = {}, []
        for key, text in values.items():
            column = columns[key]
            try:
                value = column_types.coerce(column.type, text, column.options)
            except ValueError as error:
                reasons.append(f"{column.name}: {error}")
                continue
            if value is not None:
                data[key] = value
        if reasons:
            bad.append({"row": number, "reason": "; ".join(reasons)})
        else:
            good.append((number, data))
    return good


def _check(sheet: Sheet, rows: object, mode: object, key: object) -> dict[str, Column]:
    if mode not in (APPEND, UPSERT):
        raise InvalidInput("mode must be append or upsert")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InvalidInput("rows must be a list of objects of column key to value")
    if len(rows) > limit("MAX_INSERT_ROWS"):
        raise TooLarge(f"at most {limit('MAX_INSERT_ROWS')} rows can be imported into a sheet at once")
    columns = active_columns(sheet)
    unknown = {k for r in rows for k in r} - set(columns)
    if unknown:
        raise InvalidInput(f"no column {sorted(unknown)[0]!r} in this sheet")
    if mode == UPSERT and key not in columns:
        raise InvalidInput("key must be the key of one of the sheet's columns (the column rows are matched on)")
    return columns


def import_plan(*, sheet: Sheet, rows: list[dict[str, str]], mode: str, key: str | None = None) -> ImportPlan:
    """What importing `rows` ({column key: text}) would do now, without doing it."""
    columns = _check(sheet, rows, mode, key)
    plan = ImportPlan()
    good = _coerced(columns, rows, plan.bad)
    if mode == APPEND:
        plan.inserts = [data for _, data in good]
        return plan
    existing: dict[Any, list[int]] = {}
    stored = Row.objects.filter(sheet_id=sheet.pk).values_list("pk", "data")
    current = {}
    for pk, data in stored.iterator(chunk_size=2000):
        value = data.get(key)
        if value is not None:
            existing.setdefault(_match(value), []).append(pk)
            current[pk] = data
    seen: dict[Any, int] = {}
    for number, data in good:
        value = data.get(key)
        if value is None:
            plan.bad.append({"row": number, "reason": f"{columns[key].name}: the key is empty"})
            continue
        match = _match(value)
        if match in seen:
            plan.bad.append({"row": number, "reason": f"{columns[key].name}: same key as row {seen[match]}"})
            continue
        seen[match] = number
        found = existing.get(match, [])
        if len(found) > 1:
            plan.bad.append(
                {"row": number, "reason": f"{columns[key].name}: the key matches {len(found)} rows of the sheet"}
            )
        elif found:
            before = current[found[0]]
            changes = {
                k: v for k, v in data.items() if k != key and (before.get(k) != v or type(before.get(k)) is not type(v))
            }
            if changes:
                plan.updates[found[0]] = changes
            else:
                plan.unchanged += 1
        else:
            plan.inserts.append(data)
    plan.bad.sort(key=lambda b: b["row"])
    return plan


def _match(value: Any) -> Any:
    """A key value as matched: text without case or surrounding spaces, numbers by value."""
    if isinstance(value, str):
        return value.strip().lower()
    if isinstance(value, bool):
        return ("bool", value)
    return value


@operation("rows.import")
def rows_import(
    *, sheet: Sheet, actor: User | None, rows: list[dict[str, str]], mode: str, key: str | None = None
) -> Callable:
    """Import `rows` ({column key: text}) into the sheet as one operation; InvalidInput listing
    the bad rows (and nothing applied) when any is bad."""
    _check(sheet, rows, mode, key)

    def write(version):
        plan = import_plan(sheet=sheet, rows=rows, mode=mode, key=key)  # under the lock: matched now
        if plan.bad:
            raise InvalidInput(
                f"{len(plan.bad)} rows cannot be imported; nothing was imported",
                rows=plan.bad[:BAD_ROWS_LISTED],
            )
        formulas = SheetFormulas(columns_of(active_columns(sheet)))
        for data in plan.inserts:  # the new rows arrive with their formula cells
            formulas.compute(data)
        low = Row.objects.filter(sheet_id=sheet.pk).aggregate(m=Max("position"))["m"] or 0.0
        created = Row.objects.bulk_create(
            [Row(sheet_id=sheet.pk, position=low + i, data=d) for i, d in enumerate(plan.inserts, start=1)],
            batch_size=2000,
        )
        cells, previous = _update(sheet, plan.updates, formulas)
        payload = {
            "rows": [{"id": r.pk, "position": r.position, "values": r.data} for r in created],
            "cells": cells,
            "ids": [],
        }
        return payload, {"rows": [], "cells": previous}, bool(created)

    return write


def _update(sheet: Sheet, updates: dict[int, dict], formulas: SheetFormulas) -> tuple[list, list]:
    """The updated rows' cells written, with the formula cells they change (same operation)."""
    rows = list(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(updates)).only("id", "data"))
    cells, previous = [], []
    for row in rows:
        before = dict(row.data)
        row.data.update(updates[row.pk])
        changed = {**updates[row.pk], **formulas.compute(row.data)}
        for col, value in changed.items():
            previous.append({"row": row.pk, "col": col, "value": before.get(col)})
            cells.append({"row": row.pk, "col": col, "value": value})
    Row.objects.bulk_update(rows, ["data"], batch_size=2000)
    return cells, previous
