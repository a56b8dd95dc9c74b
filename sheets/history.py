"""The history of one row or one cell, read from the operation log.

`changes` reads what an Operation did to each row and cell (from its payload and previous values,
by their shape, so that a kind added later that carries "cells", "rows" or "computed" is read too);
`operations_append` writes, in the same statement as the operations, one RowChange per row and
column each operation touched (col "" for a row created or deleted, "=" for the formula cells of a
row it computed again), which is how `row_history` finds a row's operations without reading the
whole log. Formula cells are indexed once per row: a recompute of three formula columns over a
million rows would otherwise write three million index entries, a third of its time."""

import json
from dataclasses import dataclass
from datetime import datetime
from itertools import repeat
from typing import Any

from django.db import connection

from accounts.models import User
from core.errors import InvalidInput, NotFound

from .column_types import FORMULA
from .models import Column, Operation, Row, RowChange, Sheet

ROW = ""  # the col of a row's creation or deletion
COMPUTED = "="  # the col of a row's formula cells computed again (which ones: the operation's "computed")
UNKNOWN = object()  # a value the operation did not keep: a formula cell's before a recompute
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
    key, old = payload.get("key"), previous.get("values") or {}
    if isinstance(key, str) and isinstance(payload.get("values"), dict):  # a column retyped: values it changed
        for row, value in payload["values"].items():
            change = put(row, key)
            change.before, change.after = old.get(row), value
    elif isinstance(key, str) and payload.get("reload"):  # too many to carry: the values after are not kept
        for row, value in old.items():
            put(row, key).before = value
    for col, values in (payload.get("computed") or {}).items():  # formula cells computed again
        for row, value in values.items():
            if (int(row), col) not in found:
                # What it replaced: kept when the column became a formula, else the cell's value
                # after the change before (sheets.history fills it in).
                put(row, col).before = old.get(row) if col == key and row in old else UNKNOWN
            put(row, col).after = value
    return found


def touched(kind: str, payload: dict, previous: dict | None) -> set[tuple[int, str]]:
    """The (row id, col) an operation changed: what RowChange indexes. The keys of `changes`, read
    without building a Change for each (a background recompute's batch names 15,000 cells, and
    building them was most of what indexing it cost), with (row id, COMPUTED) for the rows whose
    formula cells it computed again."""
    cells, computed = _touched(kind, payload, previous)
    return cells | set(zip(computed, repeat(COMPUTED)))


def _touched(kind: str, payload: dict, previous: dict | None) -> tuple[set[tuple[int, str]], list[int]]:
    """touched() in two parts: the (row id, col) of the cells and rows, and the ids of the rows
    whose formula cells were computed again (a list: no tuple made for each)."""
    if kind == "rows.move" or not isinstance(payload, dict):
        return set(), []
    previous = previous or {}
    found = {(int(row["id"]), ROW) for row in payload.get("rows") or []}
    if payload.get("ids"):
        found.update((int(row["id"]), ROW) for row in previous.get("rows") or [])
    found.update((int(cell["row"]), cell["col"]) for cell in previous.get("cells") or [])
    found.update((int(cell["row"]), cell["col"]) for cell in payload.get("cells") or [])
    key = payload.get("key")
    if isinstance(key, str) and isinstance(payload.get("values"), dict):
        found.update((int(row), key) for row in payload["values"])
    elif isinstance(key, str) and payload.get("reload"):
        found.update((int(row), key) for row in previous.get("values") or {})
    computed = payload.get("computed") or {}
    return found, list(map(int, set().union(*computed.values()))) if computed else []


@dataclass
class RowChanges:
    """The RowChanges of some operations, as columns (what `operations_append` inserts with unnest):
    plain lists, as building model instances was most of what indexing a 5,000-row insert cost."""

    sheets: list[int]
    rows: list[int]
    versions: list[int]
    cols: list[str]


def row_changes_of(operations: list[Operation]) -> RowChanges:
    changes = RowChanges([], [], [], [])
    for op in operations:
        cells, computed = _touched(op.kind, op.payload, op.previous)
        for row, col in cells:
            changes.rows.append(row)
            changes.cols.append(col)
        changes.rows += computed
        changes.cols += [COMPUTED] * len(computed)
        count = len(cells) + len(computed)
        changes.sheets += [op.sheet_id] * count
        changes.versions += [op.version] * count
    return changes


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
    entries, following = _page(sheet, row, column, before, limit)
    while following is not None and len(entries) < limit:  # index entries of other formula cells
        more, following = _page(sheet, row, column, following, limit - len(entries))
        entries += more
    for i, entry in enumerate(entries):
        if entry.before is UNKNOWN:
            entry.before = _value_before(sheet, row, entry.col["key"], entry.version, entries[i + 1 :])
    return entries, following


def _value_before(sheet, row, key, version, older):
    """The cell's value before `version`: after the change before it (in `older`, or read)."""
    found = next((e for e in older if e.col is None or e.col["key"] == key), None)
    if found is None:
        column, page, following = Column(key=key, type=FORMULA), [], version
        while not page and following is not None:
            page, following = _page(sheet, row, column, following, 1)
        found = page[0] if page else None
    if found is None:
        return None
    return found.after if found.col is not None else (found.after or {}).get(key)


def _page(sheet, row, column, before, limit):
    found = RowChange.objects.filter(sheet_id=sheet.pk, row_id=row)
    if column is not None:
        # A formula cell is found under its row's COMPUTED entries, which name the other formula
        # cells computed with it too (_entries keeps this column's).
        found = found.filter(col__in=[column.key, ROW, COMPUTED] if column.type == FORMULA else [column.key, ROW])
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
    operations = _operations(sheet, versions, row)
    actors = {u.pk: u for u in User.objects.filter(pk__in={op.actor_id for op in operations.values()} - {None})}
    names = dict(Column.objects.filter(sheet_id=sheet.pk).values_list("key", "name"))
    entries = []
    for version in versions:
        op = operations[version]
        done = changes(op.kind, op.payload, op.previous)
        for (row_id, col), change in sorted(done.items(), key=lambda item: item[0][1]):
            if row_id != row or (column is not None and col not in (column.key, ROW)):
                continue
            shown = column.key if column is not None else col
            entries.append(_entry(op, actors.get(op.actor_id), change, shown, names))
    return entries


# The parts of an operation's payload and previous values about one row (%(row)s), in the shapes
# `changes` reads: a replace-all of 100,000 cells or an import of 100,000 rows is not sent whole
# (and parsed) for each history that shows it.
_SLIM_PAYLOAD = """jsonb_build_object(
  'cells', jsonb_path_query_array(o.payload, '$.cells[*] ? (@.row == $r)', v.vars),
  'rows', jsonb_path_query_array(o.payload, '$.rows[*] ? (@.id == $r)', v.vars),
  'ids', jsonb_path_query_array(o.payload, '$.ids[*] ? (@ == $r)', v.vars),
  'key', o.payload -> 'key',
  'values', CASE WHEN jsonb_typeof(o.payload -> 'values') = 'object' AND o.payload -> 'values' ? v.id
            THEN jsonb_build_object(v.id, o.payload -> 'values' -> v.id) END,
  'computed', (SELECT jsonb_object_agg(c.key, jsonb_build_object(v.id, c.value -> v.id))
                 FROM jsonb_each(CASE WHEN jsonb_typeof(o.payload -> 'computed') = 'object'
                                      THEN o.payload -> 'computed' ELSE '{}' END) c
                WHERE jsonb_typeof(c.value) = 'object' AND c.value ? v.id),
  'undo_of', o.payload -> 'undo_of',
  'redo_of', o.payload -> 'redo_of')"""
_SLIM_PREVIOUS = """jsonb_build_object(
  'cells', jsonb_path_query_array(o.previous, '$.cells[*] ? (@.row == $r)', v.vars),
  'rows', jsonb_path_query_array(o.previous, '$.rows[*] ? (@.id == $r)', v.vars),
  'values', CASE WHEN jsonb_typeof(o.previous -> 'values') = 'object' AND o.previous -> 'values' ? v.id
            THEN jsonb_build_object(v.id, o.previous -> 'values' -> v.id) END)"""
_OPERATIONS_SQL = f"""
SELECT o.version, o.kind, o.actor_id, o.created_at, ({_SLIM_PAYLOAD})::text, ({_SLIM_PREVIOUS})::text
  FROM sheets_operation o,
       (SELECT jsonb_build_object('r', %(row)s::bigint) AS vars, %(row)s::text AS id) v
 WHERE o.sheet_id = %(sheet)s AND o.version = ANY(%(versions)s)
"""


def _operations(sheet, versions, row):
    """{version: Operation}, with only what concerns the row on PostgreSQL; whole elsewhere."""
    if connection.vendor != "postgresql":
        return {op.version: op for op in Operation.objects.filter(sheet_id=sheet.pk, version__in=versions)}
    with connection.cursor() as cursor:
        cursor.execute(_OPERATIONS_SQL, {"row": row, "sheet": sheet.pk, "versions": versions})
        found = cursor.fetchall()
    return {
        version: Operation(
            sheet_id=sheet.pk,
            version=version,
            kind=kind,
            actor_id=actor_id,
            created_at=created_at,
            payload=json.loads(payload),
            previous=json.loads(previous),
        )
        for version, kind, actor_id, created_at, payload, previous in found
    }


def _entry(op, actor, change, col, names):
    before, after = change.before, change.after
    event = "changed"
    if change.col == ROW:
        event = "created" if after is not None else "deleted"
        if col != ROW:  # a cell's history: the cell's value in the row created or deleted
            before = None if before is None else before.get(col)
            after = None if after is None else after.get(col)
    return Entry(
        version=op.version,
        at=op.created_at,
        actor={"id": actor.pk, "name": actor.label} if actor is not None else None,
        kind=op.kind,
        event=event,
        col={"key": col, "name": names.get(col, col)} if col != ROW else None,
        before=before,
        after=after,
        undo_of=op.payload.get("undo_of"),
        redo_of=op.payload.get("redo_of"),
    )
