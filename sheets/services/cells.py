"""Cell edits, one or many people's batches at once."""

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import CellValueInvalid, Conflict, GridcastError, InvalidInput, NotFound, TooLarge

from .. import column_types, rules
from ..models import Operation, Row, Sheet
from .columns import active_columns
from .common import limit
from .formulas import SheetFormulas
from .operations import operations_append, parse_op_id

log = logging.getLogger(__name__)


def _parse_cells(cells):
    if not isinstance(cells, list) or not cells:
        raise InvalidInput("cells must be a non-empty list of {row, col, value}")
    if len(cells) > limit("MAX_BATCH_CELLS"):
        raise TooLarge(f"at most {limit('MAX_BATCH_CELLS')} cells in one batch")
    parsed = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict) or set(cell) - {"row", "col", "value"} or not {"row", "col"} <= set(cell):
            raise InvalidInput("each cell is an object {row, col, value}", index=index)
        row, col = cell["row"], cell["col"]
        if not isinstance(row, int) or isinstance(row, bool) or not isinstance(col, str):
            raise InvalidInput("row is a row id (a whole number) and col a column key", index=index)
        parsed.append((row, col, cell.get("value")))
    return parsed


@dataclass
class Edit:
    """One person's batch of cell values, as a client sent it."""

    actor: object
    cells: list
    op_id: object = None
    origin: str | None = None


def cells_update(
    *, sheet: Sheet, actor: User | None, cells: list, op_id: object = None, origin: str | None = None
) -> Operation:
    """Set cell values. One bad value rejects the whole batch; nothing is half applied."""
    result = cells_update_many(sheet=sheet, edits=[Edit(actor, cells, op_id, origin)])[0]
    if isinstance(result, GridcastError):
        raise result
    return result


def cells_update_many(*, sheet: Sheet, edits: list["Edit"]) -> list[Operation | GridcastError]:
    """Apply independent cell edits (often from different people) in one transaction, in order,
    each as its own operation with its own version. Returns, for each edit, its Operation (the
    original one for a resent op_id) or the error that rejected it; one edit's error never
    touches another. Batching is what lets one sheet take thousands of edits a second."""
    results = [None] * len(edits)
    parsed = []
    for index, edit in enumerate(edits):
        try:
            parsed.append((index, edit, parse_op_id(edit.op_id), _parse_cells(edit.cells)))
        except GridcastError as error:
            results[index] = error
    if parsed:
        _apply_batch(sheet, parsed, results)
    return results


def _apply_batch(sheet, parsed, results):
    apply = _apply_edits_postgresql if connection.vendor == "postgresql" else _apply_edits
    try:
        try:
            with transaction.atomic():
                apply(sheet, parsed, results)
        except IntegrityError:  # an op_id committed concurrently by another process: look again
            with transaction.atomic():
                apply(sheet, parsed, results)
    except DataError as error:
        # A value the database refused (which coerce should have): only its own edit fails. The
        # batch is written again one edit at a time, so the others' edits are still applied.
        if len(parsed) > 1:
            for item in parsed:
                _apply_batch(sheet, [item], results)
            return
        log.error("sheet %s: the database refused an edit: %s", sheet.pk, error)
        results[parsed[0][0]] = InvalidInput("a value of this edit cannot be stored")


def _coerce_cells(columns, parsed):
    """`columns`: column key -> (name, type, options)."""
    coerced = []
    for row, col, raw in parsed:
        column = columns.get(col)
        if column is None:
            raise CellValueInvalid(f"no column {col!r} in this sheet", row=row, col=col)
        name, column_type, options = column
        try:
            value = column_types.coerce(column_type, raw, options)
            rules.check_value(options, value)
            coerced.append((row, col, value))
        except ValueError as error:
            raise CellValueInvalid(f"{name}: {error}", row=row, col=col) from None
    return coerced


def _check_unique(sheet, columns, coerced, rows):
    """The unique rule of the columns these cells are in, against the rows as they would be."""
    unique = [(r, c, v) for r, c, v in coerced if (columns[c][2].get("rules") or {}).get("unique")]
    if not unique:
        return
    planned = {pk: dict(data) for pk, data in rows.items()}
    for row, col, value in unique:
        planned[row][col] = value
    for row, col, value in unique:
        try:
            rules.check_unique(sheet.pk, col, value, row, planned)
        except ValueError as error:
            raise CellValueInvalid(f"{columns[col][0]}: {error}", row=row, col=col) from None


def _plan_edits(sheet, parsed, results, version, columns, rows, earlier):
    """Decide, under the sheet lock, what each edit does: its Operation (new, or the earlier one
    for a resent op_id) or its error. `rows` (row id -> data) is updated in place. Returns the
    new operations with their origins, the last version and the cells changed by row id."""
    created, touched = [], {}
    formulas = SheetFormulas(columns)
    for index, edit, op_id, cells in parsed:
        key = (getattr(edit.actor, "pk", None), op_id)
        if op_id is not None and key in earlier:
            done = earlier[key]
            same = done.sheet_id == sheet.pk and done.kind == "cells.update"
            results[index] = (
                done if same else Conflict("op_id was already used for a different operation", op_id=str(op_id))
            )
            continue
        try:
            coerced = _coerce_cells(columns, cells)
        except GridcastError as error:
            results[index] = error
            continue
        missing = next(((r, c) for r, c, _ in coerced if r not in rows), None)
        if missing:
            results[index] = CellValueInvalid(
                f"row {missing[0]} not found in this sheet", row=missing[0], col=missing[1]
            )
            continue
        try:
            _check_unique(sheet, columns, coerced, rows)
        except GridcastError as error:
            results[index] = error
            continue
        previous, seen = [], set()
        for row, col, value in coerced:
            data = rows[row]
            if (row, col) not in seen:
                seen.add((row, col))
                previous.append({"row": row, "col": col, "value": data.get(col)})
            data[col] = value
            touched.setdefault(row, {})[col] = value
        changes = [{"row": r, "col": c, "value": v} for r, c, v in coerced]
        if formulas:  # the formula cells of the edited rows, in the same operation
            for row in dict.fromkeys(r for r, _, _ in coerced):
                data = rows[row]
                before = dict(data)
                for col, value in formulas.compute(data).items():
                    previous.append({"row": row, "col": col, "value": before.get(col)})
                    changes.append({"row": row, "col": col, "value": value})
                    touched[row][col] = value
        version += 1
        op = Operation(
            sheet_id=sheet.pk,
            version=version,
            kind="cells.update",
            actor=edit.actor,
            op_id=op_id,
            payload={"cells": changes},
            previous={"cells": previous},
        )
        created.append((op, edit.origin))
        results[index] = op
        if op_id is not None:
            earlier[key] = op  # the same op_id twice in one batch applies once
    return created, version, touched


def _apply_edits(sheet, parsed, results):
    """Any database (SQLite in embedded mode): through the ORM."""
    version = Sheet.objects.select_for_update().filter(pk=sheet.pk).values_list("version", flat=True).order_by().first()
    if version is None:
        for index, *_ in parsed:
            results[index] = NotFound("Sheet not found")
        return
    columns = {c.key: (c.name, c.type, c.options) for c in active_columns(sheet).values()}
    op_ids = [op_id for _, _, op_id, _ in parsed if op_id is not None]
    earlier = {(o.actor_id, o.op_id): o for o in Operation.objects.filter(op_id__in=op_ids)} if op_ids else {}
    wanted = {row for *_, cells in parsed for row, _, _ in cells}
    rows = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in=wanted).only("id", "data")}
    created, version, touched = _plan_edits(
        sheet, parsed, results, version, columns, {pk: r.data for pk, r in rows.items()}, earlier
    )
    if not created:
        return
    Sheet.objects.filter(pk=sheet.pk).update(version=version, updated_at=timezone.now())
    sheet.version = version
    save_row_data([rows[pk] for pk in touched])
    operations_append(created)


# Under the sheet lock, in one statement (a fresh snapshot, after the lock): the active columns,
# the data of the rows the edits name, and the operations already logged with their op_ids.
_EDIT_READS_SQL = """
SELECT json_build_array(
  (SELECT coalesce(json_agg(json_build_array(c.key, c.name, c.type, c.options)), '[]')
     FROM sheets_column c WHERE c.sheet_id = %(sheet)s AND NOT c.deleted),
  (SELECT coalesce(json_agg(json_build_array(r.id, r.data)), '[]')
     FROM sheets_row r WHERE r.sheet_id = %(sheet)s AND r.id = ANY(%(rows)s::bigint[])),
  (SELECT coalesce(json_agg(json_build_array(o.id, o.sheet_id, o.version, o.kind, o.payload, o.actor_id, o.op_id,
                                             o.created_at)), '[]')
     FROM sheets_operation o WHERE o.op_id = ANY(%(op_ids)s::uuid[]))
)::text
"""

# The rows of a batch in one statement with the sheet's version: the changed cells of each row,
# merged into its data (the operations follow, written by operations_append).
_EDIT_WRITES_SQL = """
WITH sheet AS (
  UPDATE sheets_sheet SET version = %(version)s, updated_at = %(now)s WHERE id = %(sheet)s
)
UPDATE sheets_row AS r SET data = r.data || v.patch
  FROM jsonb_to_recordset(%(patches)s::jsonb) AS v(id bigint, patch jsonb) WHERE r.id = v.id
"""


def _apply_edits_postgresql(sheet, parsed, results):
    """PostgreSQL: five statements for the whole batch, whatever its size (lock, reads, rows,
    operations, commit); the ORM's per-query and per-object costs were most of an edit's time."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM sheets_sheet WHERE id = %s FOR UPDATE", [sheet.pk])
        locked = cursor.fetchone()
        if locked is None:
            for index, *_ in parsed:
                results[index] = NotFound("Sheet not found")
            return
        op_ids = list({op_id for _, _, op_id, _ in parsed if op_id is not None})
        row_ids = list({row for *_, cells in parsed for row, _, _ in cells})
        cursor.execute(_EDIT_READS_SQL, {"sheet": sheet.pk, "rows": row_ids, "op_ids": op_ids})
        column_list, row_list, earlier_list = json.loads(cursor.fetchone()[0])
        columns = {key: (name, column_type, options) for key, name, column_type, options in column_list}
        rows = {pk: data for pk, data in row_list}
        earlier = {}
        for pk, sheet_id, version, kind, payload, actor_id, op_id, created_at in earlier_list:
            op = Operation(
                pk=pk,
                sheet_id=sheet_id,
                version=version,
                kind=kind,
                payload=payload,
                actor_id=actor_id,
                op_id=uuid.UUID(op_id),
                created_at=datetime.fromisoformat(created_at),
            )
            earlier[(actor_id, op.op_id)] = op
        created, version, touched = _plan_edits(sheet, parsed, results, locked[0], columns, rows, earlier)
        if not created:
            return
        cursor.execute(
            _EDIT_WRITES_SQL,
            {
                "sheet": sheet.pk,
                "version": version,
                "now": timezone.now(),
                "patches": json.dumps([{"id": pk, "patch": patch} for pk, patch in touched.items()]),
            },
        )
    operations_append(created)
    sheet.version = version


def save_row_data(rows: list[Row]) -> None:
    """Write back the `data` of these rows. On PostgreSQL in one UPDATE from one JSON parameter:
    for a hundred rows, bulk_update's CASE WHEN takes tens of milliseconds to build."""
    if connection.vendor != "postgresql":
        Row.objects.bulk_update(rows, ["data"])
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Row._meta.db_table} AS r SET data = v.data"
            " FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, data jsonb) WHERE r.id = v.id",
            [json.dumps([{"id": row.pk, "data": row.data} for row in rows])],
        )
