"""The sheet as it was at a past version, and what changed between two versions (issue 17).

Nothing is replayed from the start of the log: the past is the present with the operations after
the version taken back, so reading version v costs what happened after v, near the rows asked for.
- Columns: every column (deleted ones kept their state), with the structure operations after v
  reverted newest first: added columns vanish, deleted ones reappear, renames, retypes and moves go
  back (`columns_back`).
- Rows: which rows existed and where, from the layout operations after v (inserts, deletes, moves,
  imports, restores and their undos): a row inserted after v vanishes, a row deleted after v comes
  back at the position it had. Positions that a later insert spread apart (`repositioned`) are not
  kept by the log, but spreading keeps the rows' order, which is all a window needs.
- Values: a cell's value at v is the value the first operation after v that changed it replaced
  (RowChange finds it per row and column, or the row's deletion, which kept the whole row); a cell
  nothing changed since is as it is now. A formula cell recomputed in the background kept no former
  value: its value at v is then what the last change up to v wrote.
Structure operations are found through a partial index on the log that leaves out cell edits and
formula batches (migration 0013), so a million edits after v cost nothing here but their RowChanges.
"""

import json
from bisect import bisect_left
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import InvalidInput

from . import selectors
from .history import COMPUTED, ROW, UNKNOWN, changes, touched
from .models import Column, Operation, Row, RowChange, Sheet

# The kinds that change neither which rows exist, nor their order, nor the columns.
VALUE_KINDS = ("cells.update", "formulas.compute")
MAX_DIFF_CELLS = 1000  # cells, rows added and rows removed listed by a diff; beyond: truncated
SLIM_ROWS = 250  # operations are read in part for at most this many rows (a window), else whole


@contextmanager
def one_snapshot() -> Iterator[None]:
    """The reads of one answer see one state of the sheet: an operation committing between two of
    them (a row deleted after the window was picked) is not half seen. On PostgreSQL, a read-only
    REPEATABLE READ transaction, unless already inside one (which then decides)."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


# --- which version ----------------------------------------------------------------------------


def _first_version(sheet: Sheet) -> int:
    first = Operation.objects.filter(sheet_id=sheet.pk).order_by("version").values_list("version", flat=True).first()
    return first or 1


def check_version(sheet: Sheet, raw: object, name: str = "as_of") -> int:
    """`raw` (a query parameter) as a version of the sheet, from its creation to its current one."""
    first, last = _first_version(sheet), sheet.version
    window = f"between {first} (the sheet's creation) and {last} (its current version)"
    try:
        version = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a version: a whole number {window}") from None
    if version < first:
        raise InvalidInput(f"{name} {version} is before the sheet was created: give a version {window}")
    if version > last:
        raise InvalidInput(f"{name} {version} is beyond the sheet's current version: give a version {window}")
    return version


def version_at(sheet: Sheet, raw: object, name: str = "as_of_time") -> int:
    """The last version committed at or before the time `raw` (ISO 8601; without a zone: UTC).
    Versions are committed in time order under the sheet's lock, so a binary search over them
    finds it with a few primary-key reads, whatever the length of the log."""
    try:
        when = parse_datetime(str(raw).strip())
    except ValueError:
        when = None
    if when is None:
        raise InvalidInput(f"{name} must be an ISO 8601 date and time, such as 2026-01-31T12:00:00Z")
    if timezone.is_naive(when):
        when = when.replace(tzinfo=UTC)
    if when > timezone.now():
        raise InvalidInput(f"{name} {when.isoformat()} is in the future")
    created = _created_at(sheet, _first_version(sheet)) or sheet.created_at
    if when < created:
        raise InvalidInput(f"{name} {when.isoformat()} is before the sheet was created ({created.isoformat()})")
    low, high = _first_version(sheet), sheet.version
    while low < high:  # the last version whose time is at or before `when`
        middle = (low + high + 1) // 2
        at = _created_at(sheet, middle)
        if at is not None and at > when:
            high = middle - 1
        else:
            low = middle
    return low


def _created_at(sheet: Sheet, version: int) -> datetime | None:
    return Operation.objects.filter(sheet_id=sheet.pk, version=version).values_list("created_at", flat=True).first()


# --- the past ----------------------------------------------------------------------------------


def _structure_after(sheet: Sheet, version: int) -> list[Operation]:
    """The operations after `version` that changed rows or columns, newest first (the partial
    index operation_sheet_structure, whose condition this filter repeats)."""
    found = Operation.objects.filter(sheet_id=sheet.pk, version__gt=version).exclude(kind__in=VALUE_KINDS)
    return list(found.order_by("-version").only("version", "kind", "payload", "previous"))


def _column_states(sheet: Sheet) -> dict[str, dict]:
    return {c.key: {**c.as_dict(), "deleted": c.deleted} for c in Column.objects.filter(sheet_id=sheet.pk)}


def columns_back(states: dict[str, dict], ops: list[Operation]) -> dict[str, dict]:
    """Column states ({key: as_dict + deleted}) with `ops` (newest first) reverted."""
    for op in ops:
        payload, previous = op.payload or {}, op.previous or {}
        if op.kind == "sheet.restore" and previous.get("columns") is not None:
            states = {c["key"]: dict(c) for c in previous["columns"]}
            continue
        key = payload.get("key") or (payload.get("column") or {}).get("key")
        state = states.get(key)
        if state is None:
            continue
        if op.kind == "column.add":
            state["deleted"] = True
        elif op.kind == "column.delete":
            state["deleted"] = False
        elif op.kind == "column.rename":
            state["name"] = previous.get("name", state["name"])
        elif op.kind == "column.retype":
            state["type"], state["options"] = previous.get("type", state["type"]), previous.get("options", {})
        elif op.kind == "column.move":
            state["position"] = previous.get("position", state["position"])
    return states


def layout_back(ops: list[Operation]) -> dict[int, float | None]:
    """{row id: its position before `ops` (newest first), None: it did not exist} for each row the
    operations inserted, deleted or moved."""
    at: dict[int, float | None] = {}
    for op in ops:
        payload, previous = op.payload or {}, op.previous or {}
        for row in payload.get("rows") or []:
            at[int(row["id"])] = None
        if payload.get("ids"):
            for row in previous.get("rows") or []:
                at[int(row["id"])] = row["position"]
        for row, position in (previous.get("positions") or {}).items():
            at[int(row)] = position
    return at


@dataclass
class Past:
    """The sheet at `version`: its columns then, and which rows moved or came and went since."""

    sheet: Sheet
    version: int
    columns: list[dict]  # the active columns then, in order
    states: dict[str, dict]  # every column's state then ({..., deleted}), for a restore
    layout: dict[int, float | None]  # rows whose existence or place changed since (layout_back)
    moved_now: dict[int, float] = field(default_factory=dict)  # of those, the ones there now: position

    def exists(self, row: int, now: bool) -> bool:
        return self.layout[row] is not None if row in self.layout else now


def past(sheet: Sheet, version: int) -> Past:
    ops = _structure_after(sheet, version)
    states = columns_back(_column_states(sheet), ops)
    active = sorted((s for s in states.values() if not s["deleted"]), key=lambda c: (c["position"], c["key"]))
    columns = [{k: v for k, v in c.items() if k != "deleted"} for c in active]
    layout = layout_back(ops)
    now = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(layout)).values_list("pk", "position"))
    return Past(sheet, version, columns, states, layout, now)


def values_at(sheet: Sheet, version: int, rows: dict[int, dict | None], keys: list[str]) -> dict[int, dict]:
    """{row id: {key: value at `version`}} of rows given with their data now (None: gone now)."""
    first: dict[tuple[int, str], int] = {}
    computed: dict[int, list[int]] = {}  # row -> versions after `version` that recomputed formula cells of it
    found = (
        RowChange.objects.filter(sheet_id=sheet.pk, row_id__in=list(rows), version__gt=version)
        .values_list("row_id", "col")
        .annotate(first=Min("version"))
    )
    for row, col, at in found:
        first[(row, col)] = at
    if any(col == COMPUTED for _, col in first):
        recomputes = RowChange.objects.filter(
            sheet_id=sheet.pk, row_id__in=[r for r, c in first if c == COMPUTED], col=COMPUTED, version__gt=version
        )
        for row, at in recomputes.order_by("version").values_list("row_id", "version"):
            computed.setdefault(row, []).append(at)
    done = _changes_of(sheet, {*first.values(), *(v for vs in computed.values() for v in vs)}, list(rows))
    answer = {}
    for row, data in rows.items():
        values = {}
        for key in keys:
            at = _first_change(first, computed, done, row, key)
            value = (data or {}).get(key) if at is None else _before(done[at], row, key)
            if value is UNKNOWN:
                value = _last_written(sheet, version, row, key)
            values[key] = value
        answer[row] = values
    return answer


def _first_change(first, computed, done, row, key):
    """The version of the first operation after the version asked for that changed the cell: one
    that named it, deleted its row, or computed it again (indexed under the row's COMPUTED)."""
    at = min((v for v in (first.get((row, key)), first.get((row, ROW))) if v is not None), default=None)
    for recompute in computed.get(row, ()):
        if at is not None and recompute >= at:
            break
        if (row, key) in done[recompute]:
            return recompute
    return at


# The parts of operations about some rows (%(rows)s), in the shapes history.changes reads: an import
# of 100,000 rows or a restore of the whole sheet after the version is not read whole (and parsed)
# for each window of 200 rows that it touches.
_SLIM_SQL = """
SELECT o.version, o.kind, jsonb_build_object(
  'cells', jsonb_path_query_array(o.payload, '$.cells[*] ? (@.row == $r)', v.vars),
  'rows', jsonb_path_query_array(o.payload, '$.rows[*] ? (@.id == $r)', v.vars),
  'ids', jsonb_path_query_array(o.payload, '$.ids[*] ? (@ == $r)', v.vars),
  'key', o.payload -> 'key',
  'reload', o.payload -> 'reload',
  'values', CASE WHEN jsonb_typeof(o.payload -> 'values') = 'object' THEN
            (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(o.payload -> 'values') e
              WHERE e.key = ANY(v.ids)) END,
  'computed', (SELECT jsonb_object_agg(c.key, (SELECT coalesce(jsonb_object_agg(x.key, x.value), '{}')
                                                FROM jsonb_each(c.value) x WHERE x.key = ANY(v.ids)))
                 FROM jsonb_each(CASE WHEN jsonb_typeof(o.payload -> 'computed') = 'object'
                                      THEN o.payload -> 'computed' ELSE '{}' END) c
                WHERE jsonb_typeof(c.value) = 'object'))::text,
  jsonb_build_object(
  'cells', jsonb_path_query_array(o.previous, '$.cells[*] ? (@.row == $r)', v.vars),
  'rows', jsonb_path_query_array(o.previous, '$.rows[*] ? (@.id == $r)', v.vars),
  'values', CASE WHEN jsonb_typeof(o.previous -> 'values') = 'object' THEN
            (SELECT jsonb_object_agg(e.key, e.value) FROM jsonb_each(o.previous -> 'values') e
              WHERE e.key = ANY(v.ids)) END
  )::text
  FROM sheets_operation o,
       (SELECT jsonb_build_object('r', %(rows)s::bigint[]) AS vars, %(rows)s::text[] AS ids) v
 WHERE o.sheet_id = %(sheet)s AND o.version = ANY(%(versions)s)
"""


def _changes_of(sheet: Sheet, versions: set[int], rows: list[int]) -> dict[int, dict]:
    """{version: history.changes of that operation}, of these rows only (whole operations for many
    rows: matching each against a long list of rows cost more than parsing it)."""
    if connection.vendor != "postgresql" or len(rows) > SLIM_ROWS:
        ops = Operation.objects.filter(sheet_id=sheet.pk, version__in=versions)
        ops = ops.only("version", "kind", "payload", "previous")
        return {op.version: changes(op.kind, op.payload, op.previous) for op in ops}
    with connection.cursor() as cursor:
        cursor.execute(_SLIM_SQL, {"rows": rows, "sheet": sheet.pk, "versions": list(versions)})
        found = cursor.fetchall()
    return {
        version: changes(kind, json.loads(payload), json.loads(previous)) for version, kind, payload, previous in found
    }


def _before(done: dict, row: int, key: str) -> Any:
    change = done.get((row, key))
    if change is not None:
        return change.before
    whole = done.get((row, ROW))
    return None if whole is None or whole.before is None else whole.before.get(key)


def _last_written(sheet: Sheet, version: int, row: int, key: str) -> Any:
    """What the last change up to `version` wrote in the cell (for a value no later change kept)."""
    lasts = (
        RowChange.objects.filter(sheet_id=sheet.pk, row_id=row, col__in=[key, ROW, COMPUTED], version__lte=version)
        .order_by("-version")
        .values_list("version", flat=True)
    )
    change = None
    for last in lasts[:50]:  # a COMPUTED entry may be of the row's other formula cells
        done = _changes_of(sheet, {last}, [row])[last]
        change = done.get((row, key)) or done.get((row, ROW))
        if change is not None:
            break
    if change is None or change.after is None or change.after is UNKNOWN:
        return None
    return change.after if change.col != ROW else change.after.get(key)


# --- a window of rows, as they were -------------------------------------------------------------


def rows_window_at(sheet: Sheet, version: int, *, offset: int = 0, limit: int = 200) -> dict[str, Any]:
    """`limit` rows from `offset` in the order of `version`, with the columns and values they had:
    {"columns", "rows": [{id, index, values}], "total"}. The rows that existed then and exist now
    are read in today's order from the nearest checkpoint (selectors.row_index); the rows that came
    back (deleted or moved since) are merged in at their former positions, and the rows inserted or
    moved since are skipped."""
    max_rows = settings.GRIDCAST["MAX_WINDOW_ROWS"]
    if offset < 0 or not 1 <= limit <= max_rows:
        raise InvalidInput(f"offset must be at least 0 and limit between 1 and {max_rows}")
    with one_snapshot():
        return _window_at(sheet, version, offset, limit)


def _window_at(sheet, version, offset, limit):
    then = past(sheet, version)
    checkpoints, total_now = selectors.row_checkpoints(sheet)
    hidden = sorted(then.moved_now.values())  # rows now whose place (or existence) differs then
    extras = sorted((p, r) for r, p in then.layout.items() if p is not None)
    extra_positions = [p for p, _ in extras]
    total = total_now - len(hidden) + len(extras)
    picked = _pick(sheet, checkpoints, hidden, extras, extra_positions, set(then.moved_now), offset, limit)
    # The data now of the rows picked (none for a row deleted since), read once the window is known.
    data_now = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=picked).values_list("pk", "data"))
    keys = [c["key"] for c in then.columns]
    values = values_at(sheet, version, {r: data_now.get(r) for r in picked}, keys)
    rows = [{"id": r, "index": offset + i, "values": values[r]} for i, r in enumerate(picked)]
    return {"columns": then.columns, "rows": rows, "total": total}


def _pick(sheet, checkpoints, hidden, extras, extra_positions, hidden_ids, offset, limit):
    """The row ids of the window: today's rows without `hidden_ids`, merged with `extras`
    [(position then, row id)], from index `offset` of the merge. Only positions are read here."""
    stride = selectors.STRIDE

    # Rows before checkpoint k in the merge: k strides of today's rows, less the hidden among
    # them, plus the extras before it. The last checkpoint at or before `offset` starts the walk.
    def before(k):
        return k * stride - bisect_left(hidden, checkpoints[k]) + bisect_left(extra_positions, checkpoints[k])

    low, high = 0, len(checkpoints) - 1
    start = -1
    while low <= high:
        middle = (low + high) // 2
        if before(middle) <= offset:
            start, low = middle, middle + 1
        else:
            high = middle - 1
    index = before(start) if start >= 0 else 0
    position = checkpoints[start] if start >= 0 else None
    pending = bisect_left(extra_positions, position) if position is not None else 0
    picked: list[int] = []

    def take(row):
        nonlocal index
        if index >= offset:
            picked.append(row)
        index += 1
        return len(picked) >= limit

    chunk, inclusive = stride + limit, True
    while True:
        rows = Row.objects.filter(sheet_id=sheet.pk)
        if position is not None:
            rows = rows.filter(position__gte=position) if inclusive else rows.filter(position__gt=position)
        page = list(rows.order_by("position").values_list("pk", "position")[:chunk])
        for pk, at in page:
            while pending < len(extras) and extras[pending][0] < at:
                if take(extras[pending][1]):
                    return picked
                pending += 1
            if pk not in hidden_ids and take(pk):
                return picked
        if len(page) < chunk:
            for _, row in extras[pending:]:
                if take(row):
                    return picked
            return picked
        position, inclusive = page[-1][1], False


# --- what changed between two versions ----------------------------------------------------------


def diff(sheet: Sheet, start: int, end: int) -> dict[str, Any]:
    """What changed from version `start` to version `end` (start <= end): columns added, removed,
    renamed or retyped; rows added and removed (with their values); cells changed (row, col, before,
    after) in rows that exist at both. At most MAX_DIFF_CELLS of each, "truncated" when more."""
    if start > end:
        raise InvalidInput("from must be a version at or before to")
    with one_snapshot():
        return _diff(sheet, start, end)


def _diff(sheet, start, end):
    first, last = past(sheet, start), past(sheet, end)
    columns_then = {c["key"]: c for c in first.columns}
    columns_now = {c["key"]: c for c in last.columns}
    changed, truncated = _touched_between(sheet, start, end)
    current = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=list(changed)).values_list("pk", "data"))
    keys_then, keys_now = list(columns_then), list(columns_now)
    values_then = values_at(sheet, start, {r: current.get(r) for r in changed}, keys_then)
    values_now = values_at(sheet, end, {r: current.get(r) for r in changed}, keys_now)
    added, removed, cells = [], [], []
    common = set(columns_then) & set(columns_now)
    for row in sorted(changed):
        then, now = first.exists(row, row in current), last.exists(row, row in current)
        if now and not then:
            added.append({"id": row, "values": values_now[row]})
        elif then and not now:
            removed.append({"id": row, "values": values_then[row]})
        elif then and now:
            # A row deleted and brought back since, or its formula cells computed again: any may differ.
            whole = ROW in changed[row] or COMPUTED in changed[row]
            for key in sorted(common if whole else changed[row] & common):
                before, after = values_then[row][key], values_now[row][key]
                if before != after or type(before) is not type(after):
                    cells.append({"row": row, "col": key, "before": before, "after": after})
    truncated = truncated or len(cells) > MAX_DIFF_CELLS
    return {
        "from": start,
        "to": end,
        "columns": {
            "added": [c for k, c in columns_now.items() if k not in columns_then],
            "removed": [c for k, c in columns_then.items() if k not in columns_now],
            "renamed": [
                {"key": k, "before": columns_then[k]["name"], "after": c["name"]}
                for k, c in columns_now.items()
                if k in columns_then and columns_then[k]["name"] != c["name"]
            ],
            "retyped": [
                {"key": k, "before": columns_then[k]["type"], "after": c["type"]}
                for k, c in columns_now.items()
                if k in columns_then and columns_then[k]["type"] != c["type"]
            ],
        },
        "rows": {"added": added, "removed": removed},
        "cells": cells[:MAX_DIFF_CELLS],
        "truncated": truncated,
    }


def _touched_between(sheet: Sheet, start: int, end: int) -> tuple[dict[int, set[str]], bool]:
    """{row id: cols} the operations in (start, end] changed, read from the log in version order up
    to MAX_DIFF_CELLS cells; and whether it stopped there."""
    found: dict[int, set[str]] = {}
    count = 0
    ops = (
        Operation.objects.filter(sheet_id=sheet.pk, version__gt=start, version__lte=end)
        .order_by("version")
        .values_list("kind", "payload", "previous")
    )
    for kind, payload, previous in ops.iterator(chunk_size=200):
        for row, col in touched(kind, payload, previous):
            cols = found.setdefault(row, set())
            if col not in cols:
                cols.add(col)
                count += 1
        if count > MAX_DIFF_CELLS:
            return found, True
    return found, False
