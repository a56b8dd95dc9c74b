"""The history of one row or one cell, read from the operation log.

`changes` reads what an Operation did to each row and cell (from its payload and previous values,
by their shape, so that a kind added later that carries "cells", "rows" or "computed" is read too);
`operations_append` writes, in the same statement as the operations, one RowChange per row and
column each operation touched (col "" for a row created or deleted), which is how `row_history`
finds a row's operations without reading the whole log."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidInput, NotFound

from .models import Column, Operation, Row, RowChange, Sheet

ROW = ""  # the col of a row's creation or deletion
PAGE, MAX_PAGE = 50, 200


@dataclass
class Change:
    row: int
    col: str  # ROW for the row as a whole
    before: Any = None
    after: Any = None


def changes(kind: str, payload: dict, previous: dict | None) -> dict[tuple[int, str], Change]:
    """What an operation did, by (row id, col): each cell's value before and after it, each row
    created (before None, after its values) or deleted (before its values, after None)."""
    previous = previous or {}
    found: dict[tuple[int, str], Change] = {}

    def put(row, col):
        key = (int(row), col)
        if key not in found:
            found[key] = Change(int(row), col)
        return found[key]

    if kind == "rows.move" or not isinstance(payload, dict):
        return found  # a move changes no value
    for row in payload.get("rows") or []:
        put(row["id"], ROW).after = row.get("values") or {}
    if payload.get("ids"):
        for row in previous.get("rows") or []:
            put(row["id"], ROW).before = row.get("values") or {}
    for cell in reversed(previous.get("cells") or []):  # the first value of a cell is its value before
        put(cell["row"], cell["col"]).before = cell["value"]
    for cell in payload.get("cells") or []:
        put(cell["row"], cell["col"]).after = cell["value"]
    if isinstance(payload.get("key"), str):  # a column retyped: the values it changed
        for row, value in (previous.get("values") or {}).items():
            put(row, payload["key"]).before = value
        for row, value in (payload.get("values") or {}).items():
            put(row, payload["key"]).after = value
    for col, values in (payload.get("computed") or {}).items():  # formula cells computed again
        for row, value in values.items():
            put(row, col).after = value
    return found


def touched(kind: str, payload: dict, previous: dict | None) -> Iterable[tuple[int, str]]:
    """The (row id, col) an operation changed: what RowChange indexes."""
    return changes(kind, payload, previous).keys()


def row_changes_of(operations: list[Operation]) -> list[RowChange]:
    return [
        RowChange(sheet_id=op.sheet_id, row_id=row, col=col, version=op.version)
        for op in operations
        for row, col in touched(op.kind, op.payload, op.previous)
    ]


# --- the selector --------------------------------------------------------------------------------


@dataclass
class Entry:
    version: int
    at: datetime
    actor: dict | None
    kind: str
    event: str  # "created", "deleted" or "changed"
    col: dict | None  # {key, name} (the column's current name); None for a whole row
    before: Any
    after: Any
    undo_of: int | None = None
    redo_of: int | None = None


def check_row(sheet: Sheet, row: int) -> None:
    """The row is the sheet's, or was (deleted since): else NotFound."""
    if Row.objects.filter(pk=row, sheet_id=sheet.pk).exists():
        return
    if RowChange.objects.filter(sheet_id=sheet.pk, row_id=row).exists():
        return
    raise NotFound(f"row {row} not found in this sheet", row=row)


def check_col(sheet: Sheet, col: str | None) -> Column | None:
    if col is None:
        return None
    column = Column.objects.filter(sheet_id=sheet.pk, key=col).first()
    if column is None:
        raise InvalidInput(f"no column {col[:32]!r} in this sheet", col=col[:32])
    return column


def row_history(
    sheet: Sheet, row: int, col: str | None = None, *, before: int | None = None, limit: int = PAGE
) -> tuple[list[Entry], int | None]:
    """The changes of a row (every column) or of one cell, newest first, older than version
    `before`; and the cursor of the next page (None: no more). A page ends at an operation's end."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    check_row(sheet, row)
    column = check_col(sheet, col)
    found = RowChange.objects.filter(sheet_id=sheet.pk, row_id=row)
    if col is not None:
        found = found.filter(col__in=[col, ROW])
    if before is not None:
        found = found.filter(version__lt=before)
    keys = list(found.order_by("-version", "col").values_list("version", "col")[: limit + 1])
    following = None
    if len(keys) > limit:
        last = keys[limit - 1][0]
        keys = [k for k in keys if k[0] > last] + list(found.filter(version=last).values_list("version", "col"))
        following = last if found.filter(version__lt=last).exists() else None
    return _entries(sheet, row, column, keys), following


def _entries(sheet, row, column, keys):
    versions = sorted({version for version, _ in keys}, reverse=True)
    operations = Operation.objects.filter(sheet_id=sheet.pk, version__in=versions).select_related("actor")
    operations = {op.version: op for op in operations}
    names = dict(Column.objects.filter(sheet_id=sheet.pk).values_list("key", "name"))
    entries = []
    for version in versions:
        op = operations[version]
        done = changes(op.kind, op.payload, op.previous)
        for (row_id, col), change in sorted(done.items(), key=lambda item: item[0][1]):
            if row_id != row or (column is not None and col not in (column.key, ROW)):
                continue
            entries.append(_entry(op, change, column.key if column is not None else col, names))
    return entries


def _entry(op, change, col, names):
    before, after = change.before, change.after
    event = "changed"
    if change.col == ROW:
        event = "created" if after is not None else "deleted"
        if col != ROW:  # a cell's history: the cell's value in the row created or deleted
            before = None if before is None else before.get(col)
            after = None if after is None else after.get(col)
    actor = {"id": op.actor.pk, "name": op.actor.label} if op.actor is not None else None
    return Entry(
        version=op.version,
        at=op.created_at,
        actor=actor,
        kind=op.kind,
        event=event,
        col={"key": col, "name": names.get(col, col)} if col != ROW else None,
        before=before,
        after=after,
        undo_of=op.payload.get("undo_of"),
        redo_of=op.payload.get("redo_of"),
    )
