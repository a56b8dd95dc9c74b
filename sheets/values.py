"""Cell values by column type: what is accepted, and how it is stored (JSON).

Stored forms: text -> str, number -> int or float, integer -> int, boolean -> bool,
date -> "YYYY-MM-DD", datetime -> ISO 8601 in UTC ("...Z"), choice -> one of the choices.
An empty cell is None. `coerce` raises ValueError with a reason a person can read.

What every stored value keeps to, whatever its type: text PostgreSQL and UTF-8 can hold
(check_text), numbers a float can hold (finite), and moments within years 1 to 9999 once in UTC
(parse_moment); other parts of Gridcast that take text or moments from outside use these too.
"""
import datetime as dt
import math
import re
import sys

from django.conf import settings

from core.jsonio import has_surrogate
from .models import ColumnType

TRUE_WORDS = {"true", "yes", "y", "1", "on", "x", "✓"}
FALSE_WORDS = {"false", "no", "n", "0", "off"}
_NUMBER_RE = re.compile(r"^[+-]?(\d[\d,_]*)?(\.\d+)?([eE][+-]?\d+)?$")


def _max_chars():
    return settings.GRIDCAST["MAX_CELL_CHARS"]


def check_text(text, what="text"):
    """`text`, or ValueError when PostgreSQL or UTF-8 cannot hold it: a NUL character, or an
    unpaired surrogate (half of a UTF-16 pair, which is not a character)."""
    if "\x00" in text:
        raise ValueError(f"{what} contains a NUL character (\\u0000), which cannot be stored")
    if has_surrogate(text):
        raise ValueError(f"{what} is not valid Unicode (it contains an unpaired surrogate)")
    return text


def parse_moment(value, default_tz=dt.timezone.utc):
    """An ISO 8601 date and time (text, or a datetime) as an aware datetime in UTC (`default_tz`
    when it names no zone); ValueError when it is not one, or falls outside years 1 to 9999 once
    in UTC (year 1 with a positive offset, year 9999 with a negative one), which neither Python
    nor the databases hold."""
    moment = value
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a date and time (ISO 8601)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=default_tz)
    try:
        return moment.astimezone(dt.timezone.utc)
    except OverflowError:
        raise ValueError(f"{str(value)[:40]!r} is out of range (years 1 to 9999 in UTC)") from None


def _text(value, options):
    if isinstance(value, bool):
        value = "TRUE" if value else "FALSE"
    elif isinstance(value, (int, float)):
        value = _format_number(_parse_number(value))
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
    if isinstance(number, int) and abs(number) > sys.float_info.max:
        raise ValueError("the number is too large (beyond ±1.8e308)")
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
    if not isinstance(value, str):
        raise ValueError(f"{str(value)[:40]!r} is not a date and time (ISO 8601)")
    return parse_moment(value.strip()).isoformat().replace("+00:00", "Z")


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
    if isinstance(value, str):
        if len(value) > _max_chars():
            raise ValueError(f"value is longer than {_max_chars()} characters")
        check_text(value, "the value")
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
    for choice in choices:
        check_text(choice, "a choice")
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
