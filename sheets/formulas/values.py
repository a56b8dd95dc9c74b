"""The values formulas compute with: a cell's stored form (None, bool, int or float, text,
dates as "YYYY-MM-DD" and moments as ISO 8601 "...Z" text) and the errors that stay in a cell."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ..values import format_number, parse_number

MAX_TEXT = 100_000


class CellError(Exception):
    """An error as a value (#DIV/0!...): it propagates through what uses it and is stored as its
    code. It is an Exception so a deep evaluation can raise it; it is never raised to callers."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code

    def __repr__(self) -> str:
        return self.code


DIV0, VALUE, REF, NAME, CYCLE, NUM = (
    CellError(code) for code in ("#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#CYCLE!", "#NUM!")
)
ERRORS = {error.code: error for error in (DIV0, VALUE, REF, NAME, CYCLE, NUM)}


def number(value: Any) -> float:
    """A value as a number: blank is 0, TRUE 1, text that reads as a number; else #VALUE!."""
    kind = type(value)
    if kind is float or kind is int:  # most of them, first
        return float(value)
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(parse_number(value))
        except (ValueError, OverflowError):
            raise VALUE from None
    raise VALUE


def text(value: Any) -> str:
    """A value as text: blank is "", TRUE "TRUE", 2.0 "2"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_number(value)
    return str(value)


def boolean(value: Any) -> bool:
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    word = str(value).strip().upper()
    if word in ("TRUE", "FALSE"):
        return word == "TRUE"
    raise VALUE


def result(value: Any) -> Any:
    """A computed value in its stored form: whole floats as int, no inf/nan, text within bounds."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NUM
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    if isinstance(value, str) and len(value) > MAX_TEXT:
        raise VALUE
    return value


def moment(value: Any) -> dt.datetime:
    """A date or a date and time (stored text) as a naive UTC datetime; #VALUE! otherwise."""
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise VALUE from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        return parsed
    raise VALUE


def is_date_only(value: Any) -> bool:
    return isinstance(value, str) and len(value.strip()) == 10


def stored_moment(value: dt.datetime, date_only: bool) -> str:
    if date_only:
        return value.date().isoformat()
    return value.replace(microsecond=0).isoformat() + "Z"
