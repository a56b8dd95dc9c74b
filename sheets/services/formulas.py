"""Formula columns in the services (sheets.formulas computes; this applies it to a sheet).

A formula column's options: {"formula": shown with names, "source": stored with keys,
"result_type": declared or None, "inferred": the type its results usually have}. Its cells are
stored in the row data like any other cell, so rows, exports, the lake and dashboards read them
unchanged. They are computed:
- on an edit or a row insert, for the touched rows, in the same transaction and operation as the
  edit (cells.py, rows.py): acks and ops frames carry the recomputed cells;
- for every row when a formula column is added or its formula changed, or a column it reads is
  deleted, and when the day changes under TODAY()/NOW(): recompute.py (in that operation on a
  small sheet, else in the background with progress).
"""

from functools import lru_cache
from typing import Any

from django.db import connection

from core import jsonio
from core.sql import array_literal, bound_cursor

from .. import column_types
from ..formulas import CYCLE, Formula, FormulaError, compile_names, dependency_order, infer_type, is_volatile
from ..models import Column, Row, Sheet

# column key -> (name, type, options), as cells.py reads them
Columns = dict[str, tuple[str, str, dict]]


@lru_cache(maxsize=2048)
def _loaded(source: str, active: frozenset[str]) -> Formula:
    return Formula.load(source, active)


class SheetFormulas:
    """The formula columns of a sheet, in dependency order, ready to compute rows."""

    def __init__(self, columns: Columns) -> None:
        active = frozenset(columns)
        formulas = {
            key: _loaded(options["source"], active)
            for key, (_, column_type, options) in columns.items()
            if column_type == column_types.FORMULA and (options or {}).get("source")
        }
        try:
            order = dependency_order({key: formula.refs for key, formula in formulas.items()})
        except FormulaError:  # never saved so; but a cycle must not fail the edits
            order, self.cyclic = [], set(formulas)
        else:
            self.cyclic = set()
        self.steps = [(key, formulas[key], columns[key][2].get("result_type")) for key in order]
        self._chosen: dict[frozenset, list] = {}

    def __bool__(self) -> bool:
        return bool(self.steps or self.cyclic)

    def affected(self, only: set[str]) -> set[str]:
        """The formula columns `only` and those that read them, directly or not."""
        affected = set(only)
        for key, formula, _ in self.steps:  # in dependency order: what a step reads comes first
            if formula.refs & affected:
                affected.add(key)
        return affected

    def reads(self, only: set[str] | None) -> set[str]:
        """The keys of a row's data that compute(data, only) reads or compares."""
        keys = set(self.cyclic)
        for key, formula, _ in self.steps_for(only):
            keys |= formula.refs | {key}
        return keys

    def steps_for(self, only: set[str] | None) -> list:
        """The steps that compute(data, only) takes (see `computed`)."""
        if only is None:
            return self.steps
        chosen = frozenset(only)
        if chosen not in self._chosen:
            affected = self.affected(chosen)
            self._chosen[chosen] = [step for step in self.steps if step[0] in affected]
        return self._chosen[chosen]

    def compute(self, data: dict[str, Any], only: set[str] | None = None) -> dict[str, Any]:
        """Recompute the formula cells of one row's `data` in place; returns those that changed.
        `only`: just these formula columns and the ones that read them (see `affected`)."""
        return self.computed(data, self.steps_for(only))

    def computed(self, data: dict[str, Any], steps: list) -> dict[str, Any]:
        """compute() with its steps chosen once for many rows."""
        changed = {}
        for key in self.cyclic:
            if data.get(key) != CYCLE.code:
                data[key] = changed[key] = CYCLE.code
        for key, formula, result_type in steps:
            value = _fit(result_type, formula.compute(data))
            old = data.get(key)
            if old != value or type(old) is not type(value):
                data[key] = changed[key] = value
        return changed


def _fit(result_type, value):
    if result_type is None or value is None or (isinstance(value, str) and value.startswith("#")):
        return value
    try:
        return column_types.coerce(result_type, value)
    except ValueError:
        return "#VALUE!"


def columns_of(columns: dict[str, Column]) -> Columns:
    return {key: (c.name, c.type, c.options) for key, c in columns.items()}


def compiled_options(sheet: Sheet, key: str, options: dict) -> dict:
    """The options of formula column `key` (checked by column_types) compiled against the sheet's
    active columns (`key` itself included): FormulaError for an unknown column, a syntax error or a
    circular reference, which rolls back the operation."""
    columns = {c.key: c for c in Column.objects.filter(sheet_id=sheet.pk, deleted=False)}
    source, refs = compile_names(options["formula"], {c.name: k for k, c in columns.items()})
    graph = {key: refs}  # first: a cycle is named from the column being changed
    graph |= {
        k: _loaded(c.options["source"], frozenset(columns)).refs
        for k, c in columns.items()
        if c.type == column_types.FORMULA and k != key and (c.options or {}).get("source")
    }
    dependency_order(graph, {k: c.name for k, c in columns.items()})
    types = {k: c.type for k, c in columns.items() if k != key}
    inferred = options.get("result_type") or infer_type(source, types)
    compiled = {**options, "source": source, "inferred": inferred}
    return {**compiled, "volatile": True} if is_volatile(source) else compiled


def compute_rows(formulas: SheetFormulas, rows: list, only: set[str] | None) -> tuple[list, dict]:
    """Compute the formula cells of these (row id, data): ((row id, {key: value}) for
    write_patches, the values that changed as {column key: {row id: value}})."""
    patches, computed, steps = [], {}, formulas.steps_for(only)
    for pk, data in rows:
        if changed := formulas.computed(data, steps):
            patches.append((pk, changed))
            row = str(pk)
            for key, value in changed.items():
                if key not in computed:
                    computed[key] = {}
                computed[key][row] = value
    return patches, computed


def write_patches(patches: list[tuple[int, dict]]) -> None:
    """Merge each (row id, {key: value}) into the row's data, in one statement on PostgreSQL."""
    if not patches:
        return
    if connection.vendor != "postgresql":
        rows = Row.objects.in_bulk([pk for pk, _ in patches])
        for pk, patch in patches:
            rows[pk].data.update(patch)
        Row.objects.bulk_update(list(rows.values()), ["data"])
        return
    ids, values = zip(*patches)
    with bound_cursor() as cursor:
        cursor.execute(
            f"UPDATE {Row._meta.db_table} AS r SET data = r.data || v.patch"
            " FROM (SELECT unnest(%s::bigint[]) AS id, jsonb_array_elements(%s::jsonb) AS patch) AS v"
            " WHERE r.id = v.id",
            [array_literal(list(ids)), jsonio.dumps_db(values)],
        )


def formulas_reading(sheet: Sheet, key: str) -> set[str]:
    """The formula columns whose formula reads column `key` (to recompute when it goes or comes back)."""
    return {
        c.key
        for c in Column.objects.filter(sheet_id=sheet.pk, deleted=False, type=column_types.FORMULA)
        if (c.options or {}).get("source") and key in Formula.load(c.options["source"], ()).refs
    }
