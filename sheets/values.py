"""Cell values by column type: what is accepted, and how it is stored (JSON).

Stored forms: text -> str, number -> int or float, integer -> int, boolean -> bool,
date -> "YYYY-MM-DD", datetime -> ISO 8601 in UTC ("...Z"), choice -> one of the choices.
An empty cell is None. `coerce` raises ValueError with a reason a person can read.
"""
import datetime as dt
import math
import re

from django.conf import settings

from .models import ColumnType

TRUE_WORDS = {"true", "yes", "y", "1", "on", "x", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}
_NUMBER_RE = re.compile(r"^[+-]?(\d[\d,_]*)?(\.\d+)?([eE][+-]?\d+)?$")


def _max_chars():
    return settings.GRIDCAST["MAX_CELL_CHARS"]


def _text(value, options):
    if isinstance(value, bool):
        value = "TRUE" if value else "FALSE"
    elif isinstance(value, (int, float)):
        value = _format_number(value)
    elif not isinstance(value, str):
        raise ValueError("expected text")
    return value


def _format_number(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def _parse_number(value):
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if not _NUMBER_RE.match(text) or not any(ch.isdigit() for ch in text):
            raise ValueError(f"{value[:40]!r} is not a number")
        number = float(text.replace(",", "").replace("_", ""))
    else:
        raise ValueError("expected a number")
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError("numbers must be finite")
    return number


def _number(value, options):
    number = _parse_number(value)
    if isinstance(number, float) and number.is_integer() and abs(number) < 2**53:
        return int(number)
    return number


def _integer(value, options):
    number = _parse_number(value)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        number = int(number)
    if abs(number) >= 2**63:
        raise ValueError("integer out of range")
    return number


def _boolean(value, options):
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


def _date(value, options):
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text[:10] if len(text) > 10 and text[10] in "T " else text).isoformat()
        except ValueError:
            pass
    raise ValueError(f"{str(value)[:40]!r} is not a date (YYYY-MM-DD)")


def _datetime(value, options):
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            moment = None
        if moment is not None:
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.timezone.utc)
            return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
    raise ValueError(f"{str(value)[:40]!r} is not a date and time (ISO 8601)")


def _choice(value, options):
    choices = options.get("choices") or []
    if not isinstance(value, str):
        value = _text(value, options)
    if value not in choices:
        raise ValueError(f"{value[:40]!r} is not one of the choices")
    return value


COERCERS = {
    ColumnType.TEXT: _text,
    ColumnType.NUMBER: _number,
    ColumnType.INTEGER: _integer,
    ColumnType.BOOLEAN: _boolean,
    ColumnType.DATE: _date,
    ColumnType.DATETIME: _datetime,
    ColumnType.CHOICE: _choice,
}


def coerce(column_type, value, options=None):
    """The stored form of `value` in a column of `column_type`; ValueError with the reason if it has none."""
    if value is None or (isinstance(value, str) and value == ""):
        return None
    if isinstance(value, str) and len(value) > _max_chars():
        raise ValueError(f"value is longer than {_max_chars()} characters")
    if isinstance(value, (list, dict)):
        raise ValueError("a cell holds one value, not a list or an object")
    return COERCERS[column_type](value, options or {})


def validate_options(column_type, options):
    """Column options, checked: only choice columns have any."""
    options = options or {}
    if not isinstance(options, dict):
        raise ValueError("options must be an object")
    if column_type != ColumnType.CHOICE:
        return {}
    choices = options.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c and len(c) <= 200 for c in choices):
        raise ValueError("choices must be a list of non-empty strings of at most 200 characters")
    if len(set(choices)) != len(choices):
        raise ValueError("choices must be distinct")
    if len(choices) > 1000:
        raise ValueError("at most 1000 choices")
    return {"choices": choices}


def infer_type(samples):
    """The narrowest column type that accepts every non-empty sample (used by CSV import)."""
    samples = [s for s in samples if s not in (None, "")]
    if not samples:
        return ColumnType.TEXT
    checks = (
        (ColumnType.INTEGER, _integer),
        (ColumnType.NUMBER, _number),
        (ColumnType.BOOLEAN, _boolean),
        (ColumnType.DATE, _strict_date),
        (ColumnType.DATETIME, _datetime),
    )
    for column_type, check in checks:
        try:
            for sample in samples:
                check(sample, {})
        except ValueError:
            continue
        return column_type
    return ColumnType.TEXT


def _strict_date(value, options):
    if not isinstance(value, str) or len(value.strip()) != 10:
        raise ValueError("not a plain date")
    return _date(value, options)
