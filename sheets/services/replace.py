"""Replace-all: every match of a find (sheets.find) in the sheet's text columns, as ONE
cells.update operation, so the existing undo reverts it and clients apply it like any edit."""

import json
import re
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from accounts.models import User
from core.errors import InvalidInput, TooLarge

from .. import column_types, rules
from ..find import WHOLE_SHEET, FindQuery, Scope, count_matches, matching_rows, searched_columns
from ..models import Operation, Row, Sheet
from .cells import save_row_data
from .operations import operation


@dataclass
class Replaced:
    operation: Operation | None  # None when nothing matched (nothing is logged)
    replaced: int
    skipped: list  # [{row, col, error}]: a replacement its column refused


def _replace_text(value: str, query: FindQuery, replacement: str) -> str:
    if query.whole_cell:
        return replacement
    if query.match_case:
        return value.replace(query.text, replacement)
    return re.sub(re.escape(query.text), lambda _: replacement, value, flags=re.IGNORECASE)


def _check_replacement(replacement: object) -> str:
    if replacement is None:
        return ""
    if not isinstance(replacement, str):
        raise InvalidInput("replacement must be a string")
    if len(replacement) > settings.GRIDCAST["MAX_CELL_CHARS"]:
        raise InvalidInput(f"replacement is longer than {settings.GRIDCAST['MAX_CELL_CHARS']} characters")
    return replacement


def replace_all(
    *,
    sheet: Sheet,
    actor: User | None,
    query: FindQuery,
    replacement: object,
    op_id: object = None,
    origin: str | None = None,
    scope: Scope = WHOLE_SHEET,
) -> Replaced:
    """Replace every match of `query` in the sheet's text-valued columns with `replacement`, in
    the rows of `scope` only (a view's: the rows it shows). A value its column refuses (not a
    choice, for instance) is left as it was and reported."""
    replacement = _check_replacement(replacement)
    outcome = Replaced(None, 0, [])
    columns = searched_columns(sheet, query, text_only=True)
    if not columns or not count_matches(sheet, columns, query, scope):
        return outcome
    outcome.operation = _replace(
        sheet=sheet,
        actor=actor,
        op_id=op_id,
        origin=origin,
        query=query,
        replacement=replacement,
        outcome=outcome,
        scope=scope,
    )
    outcome.replaced = len(outcome.operation.payload["cells"])
    return outcome


# The changed cells only, merged into each row's data: a fraction of the bytes of whole rows.
_PATCH_SQL = """
UPDATE sheets_row AS r SET data = r.data || v.patch
  FROM jsonb_to_recordset(%s::jsonb) AS v(id bigint, patch jsonb) WHERE r.id = v.id
"""


def _save(changed: list[Row], cells: list[dict]) -> None:
    if connection.vendor != "postgresql" or any(cell["value"] is None for cell in cells):
        save_row_data(changed)  # an emptied cell loses its key, which a merge cannot do
        return
    patches: dict[int, dict] = {}
    for cell in cells:
        patches.setdefault(cell["row"], {})[cell["col"]] = cell["value"]
    with connection.cursor() as cursor:
        cursor.execute(_PATCH_SQL, [json.dumps([{"id": pk, "patch": patch} for pk, patch in patches.items()])])


@operation("cells.update")
def _replace(*, sheet, actor, query, replacement, outcome, scope):
    def write(version):
        # Under the sheet lock: the columns and rows as they are now.
        columns = searched_columns(sheet, query, text_only=True)
        keys = [c.key for c in columns]
        rows = list(
            matching_rows(sheet, columns, query, scope)
            .order_by("position", "pk")
            .values_list("pk", "data", *[f"hit_{k}" for k in keys])
        )
        cells, previous, changed = [], [], []
        for pk, data, *hits in rows:
            touched = False
            for column, hit in zip(columns, hits, strict=True):
                old = data.get(column.key)
                if not hit or not isinstance(old, str):
                    continue
                new = _replace_text(old, query, replacement)
                if new == old:
                    continue
                try:
                    if (column.options.get("rules") or {}).get("unique"):
                        raise ValueError("values are unique here: replace them one by one")
                    value = column_types.coerce(column.type, new, column.options)
                    rules.check_value(column.options, value)
                except ValueError as error:
                    outcome.skipped.append({"row": pk, "col": column.key, "error": f"{column.name}: {error}"})
                    continue
                cells.append({"row": pk, "col": column.key, "value": value})
                previous.append({"row": pk, "col": column.key, "value": old})
                if value is None:
                    data.pop(column.key, None)
                else:
                    data[column.key] = value
                touched = True
            if touched:
                changed.append(Row(pk=pk, data=data))
        if len(cells) > settings.GRIDCAST["MAX_REPLACE_CELLS"]:
            raise TooLarge(
                f"{len(cells)} cells would change; at most {settings.GRIDCAST['MAX_REPLACE_CELLS']} in one replace"
            )
        if changed:
            _save(changed, cells)
        return {"cells": cells}, {"cells": previous}

    return write
