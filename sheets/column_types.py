"""The one registry of column types: each type says how a value is coerced and validated, its
options, whether (and before which others) it is inferred from imported text, how it sorts, its
DuckDB type, its XLSX form, whether it is numeric or a time, and how the grid shows and edits it.
Adding a type is one `register(ColumnTypeSpec(...))` here plus its editor in the front end, which
gets this table from the server (`client_table`, rendered on every page).

Stored forms: text -> str, number -> int or float, integer -> int, boolean -> bool,
date -> "YYYY-MM-DD", datetime -> ISO 8601 in UTC ("...Z"), choice -> one of the choices.
An empty cell is None. `coerce` raises ValueError with a reason a person can read.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from .values import check_text, format_number, parse_moment, parse_number

TRUE_WORDS = {"true", "yes", "y", "1", "on", "x", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}

Coerce = Callable[[Any, dict], Any]


def _no_options(options: dict) -> dict:
    return {}


def _xlsx_as_text(value: Any) -> tuple[Any, str | None]:
    return ("" if value is None else str(value)), None


def _xlsx_as_is(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, (bool, int, float)):
        return value, None
    return _xlsx_as_text(value)


@dataclass(frozen=True)
class ColumnTypeSpec:
    name: str
    label: str  # what people call it
    icon: str  # the column header's badge
    coerce: Coerce  # any input -> the stored form, or ValueError
    duckdb: str  # the column's type in the lake's per-sheet views
    editor: str = "text"  # the grid's cell editor (frontend/src/lib/columnTypes.js)
    numeric: bool = False  # sums and averages take it
    time: bool = False  # a time axis and min/max as moments take it
    sort_as_text: bool = True  # sorted by its text (False: by its JSON value, numbers and booleans)
    options: Callable[[dict], dict] = _no_options  # validates the column's options
    option_names: tuple[str, ...] = ()
    # Import inference: a strict check of one non-empty text (stricter than coerce, because a
    # wrong guess silently rewrites what people imported), tried in ascending `infer_rank`.
    infer: Callable[[str], bool] | None = None
    infer_rank: int = 0
    xlsx: Callable[[Any], tuple[Any, str | None]] = _xlsx_as_text  # (cell value, number format)
    # Find and replace (sheets.find): find looks in `findable` columns (by their stored value's
    # text), replace writes only in columns whose values are text (`text_values`).
    findable: bool = True
    text_values: bool = False


REGISTRY: dict[str, ColumnTypeSpec] = {}


def register(spec: ColumnTypeSpec) -> ColumnTypeSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"column type {spec.name!r} is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> ColumnTypeSpec:
    return REGISTRY[name]


def names() -> list[str]:
    return list(REGISTRY)


def choices() -> list[tuple[str, str]]:
    """The model field's choices (a callable there, so a new type needs no migration)."""
    return [(spec.name, spec.label) for spec in REGISTRY.values()]


def numeric_types() -> tuple[str, ...]:
    return tuple(name for name, spec in REGISTRY.items() if spec.numeric)


def time_types() -> tuple[str, ...]:
    return tuple(name for name, spec in REGISTRY.items() if spec.time)


def duckdb_type(name: str) -> str:
    """The lake's type of a column of this type (text for a type no longer registered)."""
    spec = REGISTRY.get(name)
    return spec.duckdb if spec else "VARCHAR"


def value_type(name: str, options: dict | None = None) -> str:
    """The type of the values a column of this type holds: a formula column's are its declared
    result type, else the one inferred from its formula (text when neither is known), so that the
    lake types them and a sum takes a numeric formula; any other column's are its own type."""
    if name != FORMULA:
        return name
    options = options or {}
    found = options.get("result_type") or options.get("inferred")
    return found if found in REGISTRY and found != FORMULA else TEXT


def client_table() -> dict[str, dict]:
    """What the front end knows of each type, in registry order (templates: gc-column-types)."""
    return {
        spec.name: {
            "label": spec.label,
            "icon": spec.icon,
            "editor": spec.editor,
            "numeric": spec.numeric,
            "time": spec.time,
            "align": "right" if spec.numeric else "left",
            "options": list(spec.option_names),
            "text": spec.text_values,  # its values are text: a pattern rule (sheets.rules) applies
        }
        for spec in REGISTRY.values()
    }


# --- Coercion ------------------------------------------------------------------------------------


def coerce(column_type: str, value: Any, options: dict | None = None) -> Any:
    """The stored form of `value` in a column of `column_type`; ValueError with the reason if it has none."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, str):
        limit = settings.GRIDCAST["MAX_CELL_CHARS"]
        if len(value) > limit:
            raise ValueError(f"value is longer than {limit} characters")
        check_text(value, "the value")
    if isinstance(value, (list, dict)):
        raise ValueError("a cell holds one value, not a list or an object")
    return REGISTRY[column_type].coerce(value, options or {})


def validate_options(column_type: str, options: Any) -> dict:
    """The column's options, checked by its type (only the types that have options keep any)."""
    options = options or {}
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    return REGISTRY[column_type].options(options)


def _text(value: Any, options: dict) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_number(parse_number(value))
    if not isinstance(value, str):
        raise ValueError("expected text")
    return value


def _number(value: Any, options: dict) -> int | float:
    number = parse_number(value)
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _integer(value: Any, options: dict) -> int:
    number = parse_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        number = int(number)
    if abs(number) >= 2**63:
        raise ValueError("integer out of range")
    return number


def _boolean(value: Any, options: dict) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(f"{str(value)[:40]!r} is not true or false")


def _date(value: Any, options: dict) -> str:
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{str(value)[:40]!r} is not a date (YYYY-MM-DD)")


def _datetime(value: Any, options: dict) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:40]!r} is not a date and time (ISO 8601)")
    return parse_moment(value.strip()).isoformat().replace("+00:00", "Z")


def _choice(value: Any, options: dict) -> str:
    choices = options.get("choices") or []
    if not isinstance(value, str):
        value = _text(value, options)
    if value not in choices:
        raise ValueError(f"{value[:40]!r} is not one of the choices")
    return value


def _choice_options(options: dict) -> dict:
    choices = options.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c and len(c) <= 200 for c in choices):
        raise ValueError("choices must be a list of non-empty strings of at most 200 characters")
    for choice in choices:
        check_text(choice, "a choice")
    if len(set(choices)) != len(choices):
        raise ValueError("choices must be distinct")
    if len(choices) > 1000:
        raise ValueError("at most 1000 choices")
    return {"choices": choices}


def _computed(value: Any, options: dict) -> Any:
    raise ValueError("the cells of a formula column are computed from its formula and cannot be edited")


def _formula_options(options: dict) -> dict:
    """The shape of a formula column's options; sheets.services.formulas compiles the formula
    against the sheet's columns (which adds its stored key form, `source`, and its `inferred` type)."""
    formula, result_type = options.get("formula"), options.get("result_type")
    if not isinstance(formula, str) or not formula.strip():
        raise ValueError('a formula column needs options {"formula": "..."}, e.g. "[Price] * [Qty]"')
    if result_type not in (None, NUMBER, TEXT, DATE, DATETIME, BOOLEAN):
        raise ValueError("result_type is one of number, text, date, datetime, boolean (or left out to infer it)")
    return {"formula": formula.strip(), "result_type": result_type}


# --- Inference (imports) -------------------------------------------------------------------------

# Digits with a leading zero (postcodes, ids) and commas that are not thousands separators (1,5 in
# a semicolon file is one and a half) keep a column text.
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_GROUPED_NUMBER = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?([eE][+-]?\d+)?")


def _accepts(coerce_one: Coerce) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            coerce_one(text, {})
        except ValueError:
            return False
        return True

    return check


def _numeric_text(coerce_one: Coerce) -> Callable[[str], bool]:
    accepts = _accepts(coerce_one)

    def check(text: str) -> bool:
        stripped = text.strip()
        if _LEADING_ZERO.match(stripped) or ("," in stripped and not _GROUPED_NUMBER.fullmatch(stripped)):
            return False
        return accepts(text)

    return check


def _plain_date(text: str) -> bool:
    return len(text.strip()) == 10 and _accepts(_date)(text)


class TypeGuess:
    """The narrowest inferable type that takes every non-empty text seen, kept up to date one
    value at a time (an import reads a column once); text when none does, or nothing was seen."""

    def __init__(self) -> None:
        inferable = [spec for spec in REGISTRY.values() if spec.infer is not None]
        self.candidates = sorted(inferable, key=lambda spec: spec.infer_rank)
        self.seen = False

    def add(self, text: str, *, as_text: bool = False) -> None:
        """Take one more value of the column; `as_text`: it must stay text, whatever it reads as."""
        if text == "" or text.isspace():
            return
        self.seen = True
        if as_text:
            self.candidates = []
        elif self.candidates:
            self.candidates = [spec for spec in self.candidates if spec.infer(text)]

    @property
    def type(self) -> str:
        return self.candidates[0].name if self.seen and self.candidates else TEXT


def infer(texts: Iterable[str]) -> str:
    """The type of a whole column of imported text (TypeGuess over all of it)."""
    guess = TypeGuess()
    for text in texts:
        guess.add(text)
    return guess.type


# --- XLSX forms ----------------------------------------------------------------------------------


def _xlsx_date(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value), "yyyy-mm-dd"
        except ValueError:
            pass
    return _xlsx_as_is(value)


def _xlsx_datetime(value: Any) -> tuple[Any, str | None]:
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            return _xlsx_as_is(value)
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
        return moment, "yyyy-mm-dd hh:mm:ss"
    return _xlsx_as_is(value)


def _xlsx_text_of(value: Any) -> tuple[Any, str | None]:
    return _xlsx_as_text(value) if not isinstance(value, bool) else (value, None)


# --- The built-in types, in the order people are offered them ------------------------------------

TEXT, NUMBER, INTEGER, BOOLEAN, DATE, DATETIME, CHOICE, FORMULA = (
    "text",
    "number",
    "integer",
    "boolean",
    "date",
    "datetime",
    "choice",
    "formula",
)

register(ColumnTypeSpec(TEXT, "Text", "Aa", _text, "VARCHAR", xlsx=_xlsx_text_of, text_values=True))
register(
    ColumnTypeSpec(
        NUMBER,
        "Number",
        "1.5",
        _number,
        "DOUBLE",
        editor="number",
        numeric=True,
        sort_as_text=False,
        infer=_numeric_text(_number),
        infer_rank=2,
        xlsx=_xlsx_as_is,
    )
)
register(
    ColumnTypeSpec(
        INTEGER,
        "Integer",
        "123",
        _integer,
        "BIGINT",
        editor="number",
        numeric=True,
        sort_as_text=False,
        infer=_numeric_text(_integer),
        infer_rank=1,
        xlsx=_xlsx_as_is,
    )
)
register(
    ColumnTypeSpec(
        BOOLEAN,
        "Yes/no",
        "✓",
        _boolean,
        "BOOLEAN",
        editor="checkbox",
        sort_as_text=False,
        infer=_accepts(_boolean),
        infer_rank=3,
        xlsx=_xlsx_as_is,
        findable=False,  # stored as true/false, which PostgreSQL and SQLite spell differently
    )
)
register(
    ColumnTypeSpec(
        DATE, "Date", "▦", _date, "DATE", editor="date", time=True, infer=_plain_date, infer_rank=4, xlsx=_xlsx_date
    )
)
register(
    ColumnTypeSpec(
        DATETIME,
        "Date and time",
        "◷",
        _datetime,
        "TIMESTAMPTZ",
        editor="datetime",
        time=True,
        infer=_accepts(_datetime),
        infer_rank=5,
        xlsx=_xlsx_datetime,
    )
)
register(
    ColumnTypeSpec(
        CHOICE,
        "Single choice",
        "☰",
        _choice,
        "VARCHAR",
        editor="choice",
        options=_choice_options,
        option_names=("choices",),
        xlsx=_xlsx_as_is,
        text_values=True,
    )
)
register(
    ColumnTypeSpec(
        FORMULA,
        "Formula",
        "ƒx",
        _computed,
        "VARCHAR",  # results of any type, and errors (#DIV/0!...): the lake keeps them as text
        editor="readonly",
        sort_as_text=False,
        options=_formula_options,
        option_names=("formula", "result_type"),
        xlsx=_xlsx_as_is,
    )
)
