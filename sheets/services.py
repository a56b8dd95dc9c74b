"""Every write to a sheet, its columns and its rows.

Each service is one transaction: it validates, takes the next sheet version (which locks the
sheet row, so writes to one sheet are serialized), writes, appends one Operation and
schedules its broadcast for after the commit. A resent `op_id` returns the original
Operation without applying anything twice.
"""
import functools
import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Max, Min
from django.utils import timezone

from realtime.broadcast import broadcast_operation, broadcast_operations, broadcast_sheet_deleted

from . import column_types
from .values import check_text
from core.errors import CellValueInvalid, Conflict, GridcastError, InvalidInput, NotFound, TooLarge, check_quota
from .models import Column, Operation, Row, Sheet

log = logging.getLogger(__name__)

DEFAULT_COLUMNS = [{"name": "A"}, {"name": "B"}, {"name": "C"}]
# Below this gap between neighbours, positions are spread out again (doubles keep ~1e-9 at 1e7).
MIN_POSITION_GAP = 1e-6
RETYPE_VALUES_IN_PAYLOAD = 10_000


def _limit(name):
    return settings.GRIDCAST[name]


# --- the operation log -------------------------------------------------------------------------


def _existing_operation(actor, op_id, sheet_id, kind):
    if op_id is None or actor is None:
        return None
    operation = Operation.objects.filter(actor=actor, op_id=op_id).first()
    if operation is not None and (operation.sheet_id != sheet_id or operation.kind != kind):
        raise Conflict("op_id was already used for a different operation", op_id=str(op_id))
    return operation


def _parse_op_id(op_id):
    if op_id is None or isinstance(op_id, uuid.UUID):
        return op_id
    try:
        return uuid.UUID(str(op_id))
    except ValueError:
        raise InvalidInput("op_id must be a UUID", op_id=str(op_id)[:64]) from None


def operation(kind):
    """Make a service idempotent by op_id and atomic. The wrapped function validates what it can
    and returns `write(version)`, which runs under the sheet lock and returns
    (payload, previous[, layout_changed]). `origin` is the WebSocket connection that asked: it
    gets an ack instead of the broadcast."""

    def decorate(fn):
        @functools.wraps(fn)
        def service(*, sheet, actor, op_id=None, origin=None, **kwargs):
            op_id = _parse_op_id(op_id)
            done = _existing_operation(actor, op_id, sheet.pk, kind)
            if done is not None:
                return done
            try:
                with transaction.atomic():
                    return _apply(fn, kind, sheet, actor, op_id, origin, kwargs)
            except IntegrityError:
                done = _existing_operation(actor, op_id, sheet.pk, kind)
                if done is not None:  # the same op_id was applied concurrently
                    return done
                raise

        return service

    return decorate


def _apply(fn, kind, sheet, actor, op_id, origin, kwargs):
    prepared = fn(sheet=sheet, actor=actor, **kwargs)
    # `prepared` validated everything it could without the lock; `write` runs under it.
    version = _next_version(sheet.pk)
    result = prepared(version)
    payload, previous, *layout_changed = result
    if any(layout_changed):
        Sheet.objects.filter(pk=sheet.pk).update(layout_version=version)
        sheet.layout_version = version
    sheet.version = version
    op = Operation.objects.create(
        sheet_id=sheet.pk, version=version, kind=kind, payload=payload, previous=previous, actor=actor, op_id=op_id
    )
    broadcast_operation(op, origin)
    return op


def _next_version(sheet_id):
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sheets_sheet SET version = version + 1, updated_at = %s WHERE id = %s RETURNING version",
            [timezone.now(), sheet_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Sheet not found")
    return row[0]


# --- sheets ------------------------------------------------------------------------------------


def _clean_name(name, what="name"):
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    name = name.strip()
    if len(name) > 200:
        raise InvalidInput(f"{what} is longer than 200 characters")
    try:
        return check_text(name, what)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


@transaction.atomic
def sheet_create(*, workspace, name, actor, columns=None):
    """A new sheet with the given columns (by default A, B and C, all text) and no rows, logged
    as one sheet.create operation (which undo never reverts)."""
    # The workspace's row is locked so that two creations at once cannot both pass the quota.
    type(workspace).objects.select_for_update().filter(pk=workspace.pk).first()
    check_quota("MAX_SHEETS_PER_WORKSPACE", Sheet.objects.filter(workspace=workspace).count(),
                "sheets per workspace")
    sheet = Sheet.objects.create(workspace=workspace, name=_clean_name(name), created_by=actor)
    specs = [_column_spec(**spec) for spec in (DEFAULT_COLUMNS if columns is None else columns)]
    created = [_column_create(sheet, **spec) for spec in specs]
    sheet.version = _next_version(sheet.pk)
    Operation.objects.create(
        sheet_id=sheet.pk, version=sheet.version, kind="sheet.create", actor=actor,
        payload={"name": sheet.name, "columns": [column.as_dict() for column in created]},
    )
    return sheet


@operation("sheet.rename")
def sheet_rename(*, sheet, actor, name):
    name = _clean_name(name)

    def write(version):
        previous = Sheet.objects.filter(pk=sheet.pk).values_list("name", flat=True).get()
        Sheet.objects.filter(pk=sheet.pk).update(name=name)
        sheet.name = name
        return {"name": name}, {"name": previous}

    return write


@transaction.atomic
def sheet_delete(*, sheet, actor):
    sheet_id = sheet.pk
    sheet.delete()
    broadcast_sheet_deleted(sheet_id)


def sheet_share(*, sheet, user, level):
    """Share one sheet with a user: level "view", "edit", or None to stop sharing."""
    from guardian.shortcuts import assign_perm, remove_perm

    if level not in ("view", "edit", None):
        raise InvalidInput('level must be "view", "edit" or null')
    with transaction.atomic():
        remove_perm("change_sheet", user, sheet)
        remove_perm("view_sheet", user, sheet)
        if level:
            assign_perm("view_sheet", user, sheet)
        if level == "edit":
            assign_perm("change_sheet", user, sheet)


# --- columns -----------------------------------------------------------------------------------


def _active_columns(sheet):
    return {c.key: c for c in Column.objects.filter(sheet_id=sheet.pk, deleted=False)}


def _column(sheet, key):
    column = Column.objects.filter(sheet_id=sheet.pk, key=key, deleted=False).first()
    if column is None:
        raise NotFound(f"column {key!r} not found", col=key)
    return column


def _check_type(column_type, options):
    if column_type not in column_types.REGISTRY:
        raise InvalidInput(f"unknown column type {column_type!r}; one of {', '.join(column_types.names())}")
    try:
        return column_types.validate_options(column_type, options)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def _check_unique_name(sheet, name, exclude_key=None):
    taken = Column.objects.filter(sheet_id=sheet.pk, deleted=False, name__iexact=name).exclude(key=exclude_key)
    if taken.exists():
        raise Conflict(f"a column named {name!r} already exists")


def _column_position(sheet, after=None, before=None, moving=None):
    columns = Column.objects.filter(sheet_id=sheet.pk, deleted=False).exclude(key=moving).order_by("position")
    positions = [(c.key, c.position) for c in columns]
    anchor = after if after is not None else before
    if anchor is None:
        return (positions[-1][1] + 1.0) if positions else 1.0
    keys = [key for key, _ in positions]
    if anchor not in keys:
        raise NotFound(f"column {anchor!r} not found", col=anchor)
    index = keys.index(anchor) + (1 if after is not None else 0)
    low = positions[index - 1][1] if index > 0 else positions[0][1] - 2.0
    high = positions[index][1] if index < len(positions) else low + 2.0
    return (low + high) / 2


def _column_spec(*, name, type=column_types.TEXT, options=None, width=None, after=None, before=None):
    """A column's definition, checked."""
    if width is not None and (not isinstance(width, int) or isinstance(width, bool) or not 30 <= width <= 2000):
        raise InvalidInput("width must be a whole number of pixels from 30 to 2000")
    return {
        "name": _clean_name(name, "column name"), "type": type, "options": _check_type(type, options),
        "width": width or 140, "after": after, "before": before,
    }


def _column_create(sheet, *, name, type, options, width, after, before):
    """Create a column under the sheet lock: its key is the sheet's next, never reused."""
    _check_unique_name(sheet, name)
    if Column.objects.filter(sheet_id=sheet.pk, deleted=False).count() >= _limit("MAX_COLUMNS"):
        raise TooLarge(f"a sheet has at most {_limit('MAX_COLUMNS')} columns")
    number = Sheet.objects.filter(pk=sheet.pk).values_list("next_column", flat=True).get()
    Sheet.objects.filter(pk=sheet.pk).update(next_column=number + 1)
    return Column.objects.create(
        sheet_id=sheet.pk, key=f"c{number}", name=name, type=type, options=options,
        position=_column_position(sheet, after, before), width=width,
    )


@operation("column.add")
def column_add(*, sheet, actor, **spec):
    """Add a column: name, type (text by default), options, width, after or before a column key."""
    spec = _column_spec(**spec)

    def write(version):
        return {"column": _column_create(sheet, **spec).as_dict()}, None

    return write


@operation("column.rename")
def column_rename(*, sheet, actor, key, name):
    name = _clean_name(name, "column name")

    def write(version):
        column = _column(sheet, key)
        _check_unique_name(sheet, name, exclude_key=key)
        previous = column.name
        column.name = name
        column.save(update_fields=["name"])
        return {"key": key, "name": name}, {"name": previous}

    return write


@operation("column.retype")
def column_retype(*, sheet, actor, key, type, options=None):
    """Change a column's type, converting its values; values that do not convert are cleared
    (and kept in the Operation's previous values, for undo)."""
    options = _check_type(type, options)

    def write(version):
        column = _column(sheet, key)
        previous = {"type": column.type, "options": column.options, "values": {}}
        new_values, changed, cleared = {}, [], 0
        for row in Row.objects.filter(sheet_id=sheet.pk, data__has_key=key).only("id", "data").iterator(2000):
            old = row.data.get(key)
            try:
                new = column_types.coerce(type, old, options)
            except ValueError:
                new = None
                cleared += 1
            if new != old or _kind(new) != _kind(old):
                previous["values"][str(row.pk)] = old
                new_values[str(row.pk)] = new
                row.data[key] = new
                changed.append(row)
            if len(changed) >= 2000:
                Row.objects.bulk_update(changed, ["data"])
                changed.clear()
        Row.objects.bulk_update(changed, ["data"])
        column.type, column.options = type, options
        column.save(update_fields=["type", "options"])
        payload = {"key": key, "type": type, "options": options, "cleared": cleared, "values": new_values}
        if len(new_values) > RETYPE_VALUES_IN_PAYLOAD:
            payload.update(values=None, reload=True)  # too many to send: subscribers reload the sheet
        return payload, previous

    return write


def _kind(value):
    return type(value).__name__


@operation("column.move")
def column_move(*, sheet, actor, key, after=None, before=None):
    if key in (after, before):
        raise InvalidInput("a column cannot move next to itself")

    def write(version):
        column = _column(sheet, key)
        previous = column.position
        column.position = _column_position(sheet, after, before, moving=key)
        column.save(update_fields=["position"])
        return {"key": key, "position": column.position, "after": after, "before": before}, {"position": previous}

    return write


@operation("column.delete")
def column_delete(*, sheet, actor, key):
    def write(version):
        column = _column(sheet, key)
        column.deleted = True
        column.save(update_fields=["deleted"])
        return {"key": key}, {"column": column.as_dict()}

    return write


# --- rows --------------------------------------------------------------------------------------


def _coerce_row_values(columns, values, row_label):
    if not isinstance(values, dict):
        raise InvalidInput("row values must be an object of column key to value", row=row_label)
    data = {}
    for key, raw in values.items():
        column = columns.get(key)
        if column is None:
            raise CellValueInvalid(f"no column {key!r} in this sheet", row=row_label, col=key)
        try:
            data[key] = column_types.coerce(column.type, raw, column.options)
        except ValueError as error:
            raise CellValueInvalid(f"{column.name}: {error}", row=row_label, col=key) from None
    return data


def _row_ids(row_ids, what="row_ids"):
    if not isinstance(row_ids, list) or not row_ids:
        raise InvalidInput(f"{what} must be a non-empty list of row ids")
    if len(row_ids) > _limit("MAX_INSERT_ROWS"):
        raise TooLarge(f"at most {_limit('MAX_INSERT_ROWS')} rows at once")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in row_ids):
        raise InvalidInput(f"{what} must be whole numbers")
    if len(set(row_ids)) != len(row_ids):
        raise InvalidInput(f"{what} has duplicates")
    return row_ids


def _anchor(sheet, after, before, exclude=()):
    """The open interval of positions (low, high) where new rows go; high None means the end."""
    rows = Row.objects.filter(sheet_id=sheet.pk).exclude(pk__in=exclude)
    if after is not None and before is not None:
        raise InvalidInput("give either after or before, not both")
    if after is None and before is None:
        low = rows.aggregate(m=Max("position"))["m"]
        return (0.0 if low is None else low), None
    anchor_id = after if after is not None else before
    if not isinstance(anchor_id, int) or isinstance(anchor_id, bool) or anchor_id in exclude:
        raise InvalidInput("after/before must be the id of another row")
    anchor = rows.filter(pk=anchor_id).values_list("position", flat=True).first()
    if anchor is None:
        raise NotFound(f"row {anchor_id} not found", row=anchor_id)
    if after is not None:
        high = rows.filter(position__gt=anchor).aggregate(m=Min("position"))["m"]
        return anchor, high
    low = rows.filter(position__lt=anchor).aggregate(m=Max("position"))["m"]
    return (anchor - 2.0 if low is None else low), anchor


def _positions(sheet, low, high, count, exclude=()):
    """`count` increasing positions in (low, high), spreading the rows after `low` further apart
    when the gap is too narrow. Returns (positions, {row id: new position} of rows moved)."""
    if high is None:
        return [low + i for i in range(1, count + 1)], {}
    if (high - low) / (count + 1) >= MIN_POSITION_GAP:
        step = (high - low) / (count + 1)
        return [low + step * i for i in range(1, count + 1)], {}
    window = 64
    following = Row.objects.filter(sheet_id=sheet.pk, position__gt=low).exclude(pk__in=exclude).order_by("position")
    while True:
        block = list(following.values_list("pk", "position")[: window + 1])
        ceiling = block[window][1] if len(block) > window else None
        moved = block[:window]
        slots = count + len(moved)
        if ceiling is None:
            new = [low + i for i in range(1, slots + 1)]
        elif (ceiling - low) / (slots + 1) >= MIN_POSITION_GAP:
            new = [low + (ceiling - low) / (slots + 1) * i for i in range(1, slots + 1)]
        else:
            window *= 4
            continue
        repositioned = {pk: pos for (pk, _), pos in zip(moved, new[count:])}
        Row.objects.bulk_update([Row(pk=pk, position=pos) for pk, pos in repositioned.items()], ["position"])
        return new[:count], repositioned


@operation("rows.insert")
def rows_insert(*, sheet, actor, count=None, rows=None, after=None, before=None):
    """Insert empty rows (`count`) or rows with values (`rows`: list of {column key: value}) after
    or before a row, or at the end."""
    if rows is None:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidInput("count must be a whole number of at least 1, or give rows")
        rows = [{}] * count
    elif not isinstance(rows, list) or not rows:
        raise InvalidInput("rows must be a non-empty list of objects")
    if len(rows) > _limit("MAX_INSERT_ROWS"):
        raise TooLarge(f"at most {_limit('MAX_INSERT_ROWS')} rows at once")
    columns = _active_columns(sheet)
    datas = [_coerce_row_values(columns, values, index) for index, values in enumerate(rows)]

    def write(version):
        low, high = _anchor(sheet, after, before)
        positions, repositioned = _positions(sheet, low, high, len(datas))
        created = Row.objects.bulk_create(
            [Row(sheet_id=sheet.pk, position=p, data=d) for p, d in zip(positions, datas)], batch_size=2000
        )
        payload = {
            "after": after, "before": before,
            "rows": [{"id": r.pk, "position": r.position, "values": r.data} for r in created],
            "repositioned": {str(k): v for k, v in repositioned.items()},
        }
        return payload, None, True

    return write


@operation("rows.delete")
def rows_delete(*, sheet, actor, row_ids):
    row_ids = _row_ids(row_ids)

    def write(version):
        found = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in=row_ids)}
        missing = [i for i in row_ids if i not in found]
        if missing:
            raise NotFound(f"rows not found: {missing[:10]}", rows=missing[:100])
        Row.objects.filter(sheet_id=sheet.pk, pk__in=row_ids).delete()
        previous = {"rows": [{"id": i, "position": found[i].position, "values": found[i].data} for i in row_ids]}
        return {"ids": row_ids}, previous, True

    return write


@operation("rows.move")
def rows_move(*, sheet, actor, row_ids, after=None, before=None):
    row_ids = _row_ids(row_ids)

    def write(version):
        found = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=row_ids).values_list("pk", "position"))
        missing = [i for i in row_ids if i not in found]
        if missing:
            raise NotFound(f"rows not found: {missing[:10]}", rows=missing[:100])
        low, high = _anchor(sheet, after, before, exclude=row_ids)
        positions, repositioned = _positions(sheet, low, high, len(row_ids), exclude=row_ids)
        Row.objects.bulk_update([Row(pk=i, position=p) for i, p in zip(row_ids, positions)], ["position"])
        payload = {
            "ids": row_ids, "after": after, "before": before, "positions": positions,
            "repositioned": {str(k): v for k, v in repositioned.items()},
        }
        return payload, {"positions": {str(i): found[i] for i in row_ids}}, True

    return write


# --- cells -------------------------------------------------------------------------------------


def _parse_cells(cells):
    if not isinstance(cells, list) or not cells:
        raise InvalidInput("cells must be a non-empty list of {row, col, value}")
    if len(cells) > _limit("MAX_BATCH_CELLS"):
        raise TooLarge(f"at most {_limit('MAX_BATCH_CELLS')} cells in one batch")
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


def cells_update(*, sheet, actor, cells, op_id=None, origin=None):
    """Set cell values. One bad value rejects the whole batch; nothing is half applied."""
    result = cells_update_many(sheet=sheet, edits=[Edit(actor, cells, op_id, origin)])[0]
    if isinstance(result, GridcastError):
        raise result
    return result


def cells_update_many(*, sheet, edits):
    """Apply independent cell edits (often from different people) in one transaction, in order,
    each as its own operation with its own version. Returns, for each edit, its Operation (the
    original one for a resent op_id) or the error that rejected it; one edit's error never
    touches another. Batching is what lets one sheet take thousands of edits a second."""
    results = [None] * len(edits)
    parsed = []
    for index, edit in enumerate(edits):
        try:
            parsed.append((index, edit, _parse_op_id(edit.op_id), _parse_cells(edit.cells)))
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
            coerced.append((row, col, column_types.coerce(column_type, raw, options)))
        except ValueError as error:
            raise CellValueInvalid(f"{name}: {error}", row=row, col=col) from None
    return coerced


def _plan_edits(sheet, parsed, results, version, columns, rows, earlier):
    """Decide, under the sheet lock, what each edit does: its Operation (new, or the earlier one
    for a resent op_id) or its error. `rows` (row id -> data) is updated in place. Returns the
    new operations with their origins, the last version and the cells changed by row id."""
    created, touched = [], {}
    for index, edit, op_id, cells in parsed:
        key = (getattr(edit.actor, "pk", None), op_id)
        if op_id is not None and key in earlier:
            done = earlier[key]
            same = done.sheet_id == sheet.pk and done.kind == "cells.update"
            results[index] = done if same else Conflict("op_id was already used for a different operation", op_id=str(op_id))
            continue
        try:
            coerced = _coerce_cells(columns, cells)
        except GridcastError as error:
            results[index] = error
            continue
        missing = next(((r, c) for r, c, _ in coerced if r not in rows), None)
        if missing:
            results[index] = CellValueInvalid(f"row {missing[0]} not found in this sheet", row=missing[0], col=missing[1])
            continue
        previous, seen = [], set()
        for row, col, value in coerced:
            data = rows[row]
            if (row, col) not in seen:
                seen.add((row, col))
                previous.append({"row": row, "col": col, "value": data.get(col)})
            data[col] = value
            touched.setdefault(row, {})[col] = value
        version += 1
        op = Operation(
            sheet_id=sheet.pk, version=version, kind="cells.update", actor=edit.actor, op_id=op_id,
            payload={"cells": [{"row": r, "col": c, "value": v} for r, c, v in coerced]}, previous={"cells": previous},
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
    columns = {c.key: (c.name, c.type, c.options) for c in _active_columns(sheet).values()}
    op_ids = [op_id for _, _, op_id, _ in parsed if op_id is not None]
    earlier = {(o.actor_id, o.op_id): o for o in Operation.objects.filter(op_id__in=op_ids)} if op_ids else {}
    wanted = {row for *_, cells in parsed for row, _, _ in cells}
    rows = {r.pk: r for r in Row.objects.filter(sheet_id=sheet.pk, pk__in=wanted).only("id", "data")}
    created, version, touched = _plan_edits(sheet, parsed, results, version, columns, {pk: r.data for pk, r in rows.items()}, earlier)
    if not created:
        return
    Sheet.objects.filter(pk=sheet.pk).update(version=version, updated_at=timezone.now())
    sheet.version = version
    _save_row_data([rows[pk] for pk in touched])
    Operation.objects.bulk_create([op for op, _ in created])
    broadcast_operations(created)


# Under the sheet lock, in one statement (a fresh snapshot, after the lock): the active columns,
# the data of the rows the edits name, and the operations already logged with their op_ids.
_EDIT_READS_SQL = """
SELECT json_build_array(
  (SELECT coalesce(json_agg(json_build_array(c.key, c.name, c.type, c.options)), '[]')
     FROM sheets_column c WHERE c.sheet_id = %(sheet)s AND NOT c.deleted),
  (SELECT coalesce(json_agg(json_build_array(r.id, r.data)), '[]')
     FROM sheets_row r WHERE r.sheet_id = %(sheet)s AND r.id = ANY(%(rows)s::bigint[])),
  (SELECT coalesce(json_agg(json_build_array(o.id, o.sheet_id, o.version, o.kind, o.payload, o.actor_id, o.op_id, o.created_at)), '[]')
     FROM sheets_operation o WHERE o.op_id = ANY(%(op_ids)s::uuid[]))
)::text
"""

# Every write of a batch in one statement: the sheet's version, the changed cells of each row
# (merged into its data), one Operation per edit.
_EDIT_WRITES_SQL = """
WITH sheet AS (
  UPDATE sheets_sheet SET version = %(version)s, updated_at = %(now)s WHERE id = %(sheet)s
), cells AS (
  UPDATE sheets_row AS r SET data = r.data || v.patch
    FROM jsonb_to_recordset(%(patches)s::jsonb) AS v(id bigint, patch jsonb) WHERE r.id = v.id
)
INSERT INTO sheets_operation (sheet_id, version, kind, payload, previous, actor_id, op_id, created_at)
SELECT %(sheet)s, o.version, 'cells.update', o.payload, o.previous, o.actor_id, o.op_id, %(now)s
  FROM jsonb_to_recordset(%(operations)s::jsonb) AS o(version bigint, payload jsonb, previous jsonb, actor_id bigint, op_id uuid)
  ORDER BY o.version
RETURNING id, version
"""


def _apply_edits_postgresql(sheet, parsed, results):
    """PostgreSQL: four statements for the whole batch, whatever its size (lock, reads, writes,
    commit); the ORM's per-query and per-object costs were most of an edit's time."""
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
            op = Operation(pk=pk, sheet_id=sheet_id, version=version, kind=kind, payload=payload, actor_id=actor_id,
                           op_id=uuid.UUID(op_id), created_at=datetime.fromisoformat(created_at))
            earlier[(actor_id, op.op_id)] = op
        created, version, touched = _plan_edits(sheet, parsed, results, locked[0], columns, rows, earlier)
        if not created:
            return
        now = timezone.now()
        cursor.execute(_EDIT_WRITES_SQL, {
            "sheet": sheet.pk, "version": version, "now": now,
            "patches": json.dumps([{"id": pk, "patch": patch} for pk, patch in touched.items()]),
            "operations": json.dumps([
                {"version": op.version, "payload": op.payload, "previous": op.previous, "actor_id": op.actor_id,
                 "op_id": str(op.op_id) if op.op_id else None}
                for op, _ in created
            ]),
        })
        ids = dict((v, pk) for pk, v in cursor.fetchall())
    for op, _ in created:
        op.pk, op.created_at = ids[op.version], now
    sheet.version = version
    broadcast_operations(created)


def _save_row_data(rows):
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
