"""Paste: a block of text put into cells. Each value goes through its column's type (the same
coerce as typing it into the cell) and rules; the cells that convert are written as ONE
cells.update operation (undone at once), the others are left as they were and reported with the
reason. An edit is all or nothing (one bad value is one wrong keystroke to fix); a paste of a
thousand cells is not refused for one of them, as in spreadsheet programs.
"""

from dataclasses import dataclass, field

from django.db import transaction

from accounts.models import User
from core.errors import CellValueInvalid, NotFound

from .. import column_types, rules
from ..models import Operation, Row, Sheet
from .cells import _parse_cells, cells_update
from .columns import active_columns

MAX_REPORTED = 200  # skipped cells named one by one; `skipped_count` says how many in all
MAX_VALUE_CHARS = 200  # of each skipped cell's text, sent back


@dataclass
class Pasted:
    operation: Operation | None  # None when no cell converted (nothing is logged)
    skipped: list = field(default_factory=list)  # [{row, col, value, message}], in the order given

    def report(self) -> dict:
        """What the answer says of the cells skipped (nothing when none was)."""
        if not self.skipped:
            return {}
        return {"skipped": self.skipped[:MAX_REPORTED], "skipped_count": len(self.skipped)}


def _skip(skipped, row, col, raw, message):
    text = raw if isinstance(raw, str) else str(raw)
    skipped.append({"row": row, "col": col, "value": text[:MAX_VALUE_CHARS], "message": message})


def _converted(sheet, parsed):
    """(cells to write, cells skipped) under the sheet lock: each value coerced and checked
    against its column's rules, unique ones against the rows as the paste leaves them."""
    columns = active_columns(sheet)
    wanted = Row.objects.filter(sheet_id=sheet.pk, pk__in={r for r, _, _ in parsed})
    rows = {pk: dict(data) for pk, data in wanted.values_list("pk", "data")}
    good, skipped = {}, []
    for row, col, raw in parsed:
        column = columns.get(col)
        if column is None:
            _skip(skipped, row, col, raw, f"no column {col!r} in this sheet")
            continue
        if row not in rows:
            _skip(skipped, row, col, raw, "the row was deleted")
            continue
        try:
            value = column_types.coerce(column.type, raw, column.options)
            rules.check_value(column.options, value)
        except ValueError as error:
            _skip(skipped, row, col, raw, str(error))
            continue
        good[(row, col)] = (value, raw)
    return _unique_checked(sheet, columns, rows, good, skipped), skipped


def _unique_checked(sheet, columns, rows, good, skipped):
    """The good cells without those a unique rule refuses (the first of two equal values stays)."""
    planned = {pk: dict(data) for pk, data in rows.items()}
    unique = {key for key, c in columns.items() if (c.options.get("rules") or {}).get("unique")}
    for (row, col), (value, _) in good.items():
        if col in unique:
            planned[row].pop(col, None)  # judged below, one by one
        else:
            planned[row][col] = value
    cells = []
    for (row, col), (value, raw) in good.items():
        if col in unique:
            try:
                rules.check_unique(sheet.pk, col, value, row, planned)
            except ValueError as error:
                _skip(skipped, row, col, raw, str(error))
                if col in rows[row]:  # the cell keeps its value, which later cells must not repeat
                    planned[row][col] = rows[row][col]
                continue
            planned[row][col] = value
        cells.append({"row": row, "col": col, "value": value})
    return cells


class NothingPasted(CellValueInvalid):
    """No cell of the paste converted: the first reason, and every cell with its own."""

    def __init__(self, skipped: list) -> None:
        first = skipped[0]
        super().__init__(f"nothing pasted: {first['message']}", row=first["row"], col=first["col"])
        self.detail.update(skipped=skipped[:MAX_REPORTED], skipped_count=len(skipped))


def cells_paste(
    *, sheet: Sheet, actor: User | None, cells: list, op_id: object = None, origin: str | None = None
) -> Pasted:
    """Set the cells that convert, as one operation; report the others ({row, col, value, message})."""
    parsed = _parse_cells(cells)
    with transaction.atomic():
        if not Sheet.objects.select_for_update().filter(pk=sheet.pk).exists():
            raise NotFound("Sheet not found")
        good, skipped = _converted(sheet, parsed)
        if not good:
            raise NothingPasted(skipped)
        operation = cells_update(sheet=sheet, actor=actor, cells=good, op_id=op_id, origin=origin)
    return Pasted(operation, skipped)
