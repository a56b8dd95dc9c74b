"""Columns: add, rename, retype, move, delete."""

from collections.abc import Callable

from accounts.models import User
from core.errors import Conflict, InvalidInput, NotFound, TooLarge

from .. import column_types, rules
from ..formulas import display
from ..models import Column, Row, Sheet
from .common import clean_name, limit
from .formulas import compiled_options, formulas_reading
from .operations import operation
from .recompute import recompute

RETYPE_VALUES_IN_PAYLOAD = 10_000


def active_columns(sheet: Sheet) -> dict[str, Column]:
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
        checked = column_types.validate_options(column_type, options)
        # The data validation rules (sheets.rules) any type may have, beside its own options.
        column_rules = rules.validate_rules(column_type, (options or {}).get("rules"))
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    return {**checked, "rules": column_rules} if column_rules else checked


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


def column_spec(
    *,
    name: str,
    type: str = column_types.TEXT,
    options: dict | None = None,
    width: int | None = None,
    after: str | None = None,
    before: str | None = None,
) -> dict:
    """A column's definition, checked."""
    if width is not None and (not isinstance(width, int) or isinstance(width, bool) or not 30 <= width <= 2000):
        raise InvalidInput("width must be a whole number of pixels from 30 to 2000")
    return {
        "name": clean_name(name, "column name"),
        "type": type,
        "options": _check_type(type, options),
        "width": width or 140,
        "after": after,
        "before": before,
    }


def column_create(
    sheet: Sheet,
    *,
    name: str,
    type: str,
    options: dict | None,
    width: int | None,
    after: str | None,
    before: str | None,
) -> Column:
    """Create a column under the sheet lock: its key is the sheet's next, never reused."""
    _check_unique_name(sheet, name)
    if Column.objects.filter(sheet_id=sheet.pk, deleted=False).count() >= limit("MAX_COLUMNS"):
        raise TooLarge(f"a sheet has at most {limit('MAX_COLUMNS')} columns")
    number = Sheet.objects.filter(pk=sheet.pk).values_list("next_column", flat=True).get()
    Sheet.objects.filter(pk=sheet.pk).update(next_column=number + 1)
    return Column.objects.create(
        sheet_id=sheet.pk,
        key=f"c{number}",
        name=name,
        type=type,
        options=options,
        position=_column_position(sheet, after, before),
        width=width,
    )


@operation("column.add")
def column_add(*, sheet: Sheet, actor: User | None, **spec: object) -> Callable:
    """Add a column: name, type (text by default), options, width, after or before a column key."""
    spec = column_spec(**spec)

    def write(version):
        column = column_create(sheet, **spec)
        if column.type != column_types.FORMULA:
            return {"column": column.as_dict()}, None
        column.options = compiled_options(sheet, column.key, column.options)
        column.save(update_fields=["options"])
        return {"column": column.as_dict(), **recompute(sheet, {column.key})}, None

    return write


@operation("column.rename")
def column_rename(*, sheet: Sheet, actor: User | None, key: str, name: str) -> Callable:
    name = clean_name(name, "column name")

    def write(version):
        column = _column(sheet, key)
        _check_unique_name(sheet, name, exclude_key=key)
        previous = column.name
        column.name = name
        column.save(update_fields=["name"])
        return {"key": key, "name": name, **_formulas_shown_again(sheet)}, {"name": previous}

    return write


@operation("column.retype")
def column_retype(*, sheet: Sheet, actor: User | None, key: str, type: str, options: dict | None = None) -> Callable:
    """Change a column's type, converting its values; values that do not convert are cleared
    (and kept in the Operation's previous values, for undo)."""
    options = _check_type(type, options)

    def write(version):
        column = _column(sheet, key)
        if type == column_types.FORMULA:
            return _make_formula(sheet, column, options)
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
        if previous["type"] == column_types.FORMULA:  # formulas reading it now read plain values
            payload.update(recompute(sheet, {key}))
        return payload, previous

    return write


def _kind(value):
    return type(value).__name__


def _make_formula(sheet, column, options):
    """A column becoming a formula column, or a formula column's formula changing: compiled
    (nothing is changed if it does not), then every row recomputed. Its former values are kept in
    the Operation's previous values for undo."""
    options = compiled_options(sheet, column.key, options)
    previous = {"type": column.type, "options": column.options, "values": {}}
    if column.type != column_types.FORMULA:
        rows = Row.objects.filter(sheet_id=sheet.pk, data__has_key=column.key).values_list("pk", "data")
        previous["values"] = {str(pk): data.get(column.key) for pk, data in rows.iterator(2000)}
    column.type, column.options = column_types.FORMULA, options
    column.save(update_fields=["type", "options"])
    payload = {"key": column.key, "type": column.type, "options": options, "cleared": 0, "values": {}}
    return {**payload, **recompute(sheet, {column.key})}, previous


def _formulas_shown_again(sheet):
    """After a rename: the formulas shown with the new names ({"formulas": {key: options}})."""
    columns = active_columns(sheet)
    names = {key: c.name for key, c in columns.items()}
    changed = {}
    for key, column in columns.items():
        source = (column.options or {}).get("source") if column.type == column_types.FORMULA else None
        if source and display(source, names) != column.options["formula"]:
            column.options = {**column.options, "formula": display(source, names)}
            column.save(update_fields=["options"])
            changed[key] = column.options
    return {"formulas": changed} if changed else {}


@operation("column.move")
def column_move(
    *, sheet: Sheet, actor: User | None, key: str, after: str | None = None, before: str | None = None
) -> Callable:
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
def column_delete(*, sheet: Sheet, actor: User | None, key: str) -> Callable:
    def write(version):
        column = _column(sheet, key)
        column.deleted = True
        column.save(update_fields=["deleted"])
        return {"key": key, **recompute(sheet, formulas_reading(sheet, key))}, {"column": column.as_dict()}

    return write
