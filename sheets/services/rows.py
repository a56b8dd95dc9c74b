"""Rows: insert, delete, move (positions are floats between neighbours)."""

from collections.abc import Callable
from typing import Any

from django.db.models import Max, Min

from accounts.models import User
from core.errors import CellValueInvalid, InvalidInput, NotFound, TooLarge

from .. import column_types
from ..models import Row, Sheet
from .columns import active_columns
from .common import limit
from .formulas import SheetFormulas, columns_of
from .operations import operation

# Below this gap between neighbours, positions are spread out again (doubles keep ~1e-9 at 1e7).
MIN_POSITION_GAP = 1e-6


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
    if len(row_ids) > limit("MAX_INSERT_ROWS"):
        raise TooLarge(f"at most {limit('MAX_INSERT_ROWS')} rows at once")
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
def rows_insert(
    *,
    sheet: Sheet,
    actor: User | None,
    count: int | None = None,
    rows: list[dict[str, Any]] | None = None,
    after: int | None = None,
    before: int | None = None,
) -> Callable:
    """Insert empty rows (`count`) or rows with values (`rows`: list of {column key: value}) after
    or before a row, or at the end."""
    if rows is None:
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise InvalidInput("count must be a whole number of at least 1, or give rows")
        rows = [{}] * count
    elif not isinstance(rows, list) or not rows:
        raise InvalidInput("rows must be a non-empty list of objects")
    if len(rows) > limit("MAX_INSERT_ROWS"):
        raise TooLarge(f"at most {limit('MAX_INSERT_ROWS')} rows at once")
    columns = active_columns(sheet)
    datas = [_coerce_row_values(columns, values, index) for index, values in enumerate(rows)]
    formulas = SheetFormulas(columns_of(columns))
    if formulas:  # computed before they are written: the rows arrive with their formula cells
        for data in datas:
            formulas.compute(data)

    def write(version):
        low, high = _anchor(sheet, after, before)
        positions, repositioned = _positions(sheet, low, high, len(datas))
        created = Row.objects.bulk_create(
            [Row(sheet_id=sheet.pk, position=p, data=d) for p, d in zip(positions, datas)], batch_size=2000
        )
        payload = {
            "after": after,
            "before": before,
            "rows": [{"id": r.pk, "position": r.position, "values": r.data} for r in created],
            "repositioned": {str(k): v for k, v in repositioned.items()},
        }
        return payload, None, True

    return write


@operation("rows.delete")
def rows_delete(*, sheet: Sheet, actor: User | None, row_ids: list[int]) -> Callable:
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
def rows_move(
    *, sheet: Sheet, actor: User | None, row_ids: list[int], after: int | None = None, before: int | None = None
) -> Callable:
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
            "ids": row_ids,
            "after": after,
            "before": before,
            "positions": positions,
            "repositioned": {str(k): v for k, v in repositioned.items()},
        }
        return payload, {"positions": {str(i): found[i] for i in row_ids}}, True

    return write
