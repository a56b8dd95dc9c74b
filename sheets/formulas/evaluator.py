"""An AST compiled once into nested closures over a row's values (column key -> stored value),
so evaluating a formula for a row is a few Python calls, not a walk of the tree. Errors are
values (values.CellError): raised inside, caught once per formula, stored as their code."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

from .functions import FUNCTIONS
from .parser import FormulaError
from .values import DIV0, ERRORS, NUM, REF, VALUE, CellError, number, result, text

Row = dict[str, Any]
Fn = Callable[[Row], Any]


def _arith(symbol: str) -> Callable[[float, float], float]:
    def divide(a, b):
        if b == 0:
            raise DIV0
        return a / b

    def power(a, b):
        try:
            value = math.pow(a, b)
        except (OverflowError, ValueError, ZeroDivisionError):
            raise NUM from None
        return value

    return {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": divide, "^": power}[symbol]


def _rank(value):
    """Excel's order across kinds: blank/numbers < text < booleans."""
    if isinstance(value, bool):
        return 2, value
    if value is None:
        return 0, 0.0
    if isinstance(value, (int, float)):
        return 0, float(value)
    return 1, str(value).lower()


def _compare(symbol: str, left: Any, right: Any) -> bool:
    if left is None and isinstance(right, str):
        left = ""
    if right is None and isinstance(left, str):
        right = ""
    if left is None and isinstance(right, bool):
        left = False
    if right is None and isinstance(left, bool):
        right = False
    a, b = _rank(left), _rank(right)
    return {
        "=": a == b,
        "<>": a != b,
        "<": a < b,
        ">": a > b,
        "<=": a <= b,
        ">=": a >= b,
    }[symbol]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise NUM
    return value


def build(node: tuple, active: set[str] | None = None) -> Fn:
    """The closure computing `node` for a row. A reference to a key not in `active` (a deleted
    column) is #REF!; unknown functions and wrong argument counts are FormulaErrors."""
    kind = node[0]
    if kind in ("num", "str", "bool"):
        constant = node[1]
        return lambda row: constant
    if kind == "ref":
        key = node[1]
        if active is not None and key not in active:

            def deleted(row):
                raise REF

            return deleted

        def reference(row):
            value = row.get(key)
            if isinstance(value, str) and value in ERRORS:
                raise ERRORS[value]
            return value

        return reference
    if kind == "neg":
        operand = build(node[1], active)
        return lambda row: -number(operand(row))
    if kind == "op":
        symbol, left, right = node[1], build(node[2], active), build(node[3], active)
        if symbol == "&":
            return lambda row: text(left(row)) + text(right(row))
        if symbol in "+-*/^":
            apply = _arith(symbol)
            return lambda row: _finite(apply(number(left(row)), number(right(row))))
        return lambda row: _compare(symbol, left(row), right(row))
    _, name, args, position = node
    if name not in FUNCTIONS:
        raise FormulaError(f"unknown function {name}", position)
    least, most, implementation, lazy = FUNCTIONS[name]
    if len(args) < least or (most is not None and len(args) > most):
        expected = str(least) if least == most else f"{least} to {most}" if most is not None else f"at least {least}"
        raise FormulaError(f"{name} takes {expected} argument(s), not {len(args)}", position)
    parts = [build(arg, active) for arg in args]
    if lazy:  # it calls the arguments' closures with the row, only those it needs
        return lambda row: implementation(row, *parts)
    if len(parts) == 1:  # (the common arities without a list per call)
        (first,) = parts
        return lambda row: implementation(first(row))
    if len(parts) == 2:
        first, second = parts
        return lambda row: implementation(first(row), second(row))
    return lambda row: implementation(*[part(row) for part in parts])


def run(fn: Fn, row: Row) -> Any:
    """The stored value of a compiled formula for `row`: its result, or its error's code."""
    try:
        return result(fn(row))
    except CellError as error:
        return error.code
    except (ArithmeticError, ValueError, TypeError, RecursionError, MemoryError):
        return VALUE.code
