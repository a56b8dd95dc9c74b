"""What every stored value keeps to, whatever its type: text PostgreSQL and UTF-8 can hold
(check_text), numbers a float can hold (finite), and moments within years 1 to 9999 once in UTC
(parse_moment); other parts of Gridcast that take text or moments from outside use these too.
"""

import datetime as dt
import math
import re
import sys

from core.jsonio import has_surrogate

# Thousands separators only between groups of three digits: "1,5" (a decimal comma) is no number
# rather than fifteen.
_NUMBER_RE = re.compile(r"^[+-]?(\d{1,3}(,\d{3})+|\d[\d_]*)?(\.\d+)?([eE][+-]?\d+)?$")


def check_text(text: str, what: str = "text") -> str:
    """`text`, or ValueError when PostgreSQL or UTF-8 cannot hold it: a NUL character, or an
    unpaired surrogate (half of a UTF-16 pair, which is not a character)."""
    if "\x00" in text:
        raise ValueError(f"{what} contains a NUL character (\\u0000), which cannot be stored")
    if has_surrogate(text):
        raise ValueError(f"{what} is not valid Unicode (it contains an unpaired surrogate)")
    return text


def parse_moment(value: "str | dt.datetime", default_tz: dt.tzinfo = dt.UTC) -> dt.datetime:
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
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError(f"{str(value)[:40]!r} is out of range (years 1 to 9999 in UTC)") from None


def format_number(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return str(value)


def parse_number(value: object) -> int | float:
    """A finite number from a number or its text (thousands separators between groups of three
    digits allowed); ValueError if none."""
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
