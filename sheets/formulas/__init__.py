"""Formula columns: a formula like `[Price] * [Qty]` is parsed by a grammar (parser), compiled
into closures (evaluator) calling the registered functions (functions), and computed for a row
from its other cells' stored values. Formulas are stored with column keys (`{c1} * {c2}`), so a
renamed column keeps its formulas, and shown with names (`display`). A deleted referenced column
makes the result #REF!; errors stay in their cell as their code (#DIV/0!, #VALUE!...).

This module is the facade the rest of Gridcast uses (sheets.services.formulas applies it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .evaluator import Fn, build, run
from .functions import RESULT_TYPES
from .parser import FormulaError, name_reference, parse, references, rewrite_references, tokenize
from .values import CYCLE, ERRORS

RESULT_TYPES_DECLARED = ("number", "text", "date", "datetime", "boolean")

__all__ = [
    "CYCLE",
    "ERRORS",
    "RESULT_TYPES_DECLARED",
    "Formula",
    "FormulaError",
    "compile_names",
    "dependency_order",
    "display",
    "infer_type",
    "is_volatile",
]

# Functions whose result changes with the day, not with the row (recomputed when it changes).
VOLATILE = frozenset({"TODAY", "NOW"})


@dataclass(frozen=True)
class Formula:
    """A stored formula ready to compute: its key form, the keys it reads and its closure."""

    source: str
    refs: frozenset[str]
    fn: Fn

    @classmethod
    def load(cls, source: str, active: Iterable[str]) -> Formula:
        """The formula of stored `source`; references to keys not in `active` compute #REF!."""
        tree = parse(source)
        return cls(source, frozenset(references(tree)), build(tree, set(active)))

    def compute(self, row: dict[str, Any]) -> Any:
        return run(self.fn, row)


def is_volatile(source: str) -> bool:
    """Whether a formula (either form) calls TODAY() or NOW()."""
    return any(token.kind == "name" and token.text in VOLATILE for token in tokenize(source))


def compile_names(text: str, names: dict[str, str]) -> tuple[str, frozenset[str]]:
    """`text` as people write it ([Name] references) -> (its stored key form, the keys it reads).
    `names`: column name -> key of the sheet's columns (matched ignoring case). FormulaError with
    the position for a syntax error, an unknown column or function, or a wrong argument count."""
    by_name = {name.lower(): key for name, key in names.items()}
    tokens = tokenize(text)
    replace = {}
    for token in tokens:
        if token.kind == "key":
            raise FormulaError("reference columns by name in brackets, like [Price]", token.start)
        if token.kind == "ref":
            key = by_name.get(token.text.lower())
            if key is None:
                raise FormulaError(f"no column named {token.text!r} in this sheet", token.start)
            replace[token.text] = "{" + key + "}"
    source = rewrite_references(text.strip(), replace, names=True)
    tree = parse(source)
    build(tree)  # unknown functions and argument counts
    return source, frozenset(references(tree))


def display(source: str, names: dict[str, str]) -> str:
    """The stored key form shown with column names (`names`: key -> name); a key no longer
    named (a deleted column) is shown as [#REF!]."""
    try:
        keys = references(parse(source))
    except FormulaError:
        return source
    return rewrite_references(source, {k: name_reference(names.get(k, "#REF!")) for k in keys}, names=False)


def dependency_order(formulas: dict[str, frozenset[str]], names: dict[str, str] | None = None) -> list[str]:
    """The formula columns (key -> keys each reads) in an order where each comes after the
    formulas it reads; FormulaError naming the columns of a circular reference."""
    order, state = [], {}
    for start in formulas:
        if state.get(start) == 2:
            continue
        stack, path = [(start, iter(sorted(formulas[start] & formulas.keys())))], [start]
        state[start] = 1
        while stack:
            key, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[key] = 2
                order.append(key)
            elif state.get(child) == 1:
                cycle = path[path.index(child) :] + [child]
                shown = " -> ".join((names or {}).get(k, k) for k in cycle)
                raise FormulaError(f"circular reference: {shown}")
            elif state.get(child) is None:
                state[child] = 1
                path.append(child)
                stack.append((child, iter(sorted(formulas[child] & formulas.keys()))))
    return order


def infer_type(source: str, column_types: dict[str, str]) -> str:
    """The type a formula's results usually have (`column_types`: key -> type of the columns):
    number, text, boolean, date, datetime; text when it cannot tell."""
    return _type_of(parse(source), column_types)


def _type_of(node: tuple, column_types: dict[str, str]) -> str:
    kind = node[0]
    if kind == "num":
        return "number"
    if kind == "str":
        return "text"
    if kind == "bool":
        return "boolean"
    if kind == "ref":
        found = column_types.get(node[1], "text")
        return "number" if found == "integer" else found if found in RESULT_TYPES_DECLARED else "text"
    if kind == "neg":
        return "number"
    if kind == "op":
        return "text" if node[1] == "&" else "number" if node[1] in "+-*/^" else "boolean"
    name, args = node[1], node[2]
    if name in ("IF", "IFERROR"):
        branches = {_type_of(arg, column_types) for arg in args[1 if name == "IF" else 0 :]}
        return branches.pop() if len(branches) == 1 else "text"
    if name == "DATEADD":
        return _type_of(args[0], column_types) if _type_of(args[0], column_types) == "datetime" else "date"
    return RESULT_TYPES.get(name, "text")
