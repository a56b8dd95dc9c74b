"""The functions formulas may call: one registry, NAME -> (fewest arguments, most arguments or
None for any number, implementation, lazy). An implementation takes its arguments' values (or,
when lazy, the row and its arguments' closures, which it calls with the row only when needed:
IF, IFERROR, ISBLANK) and returns a value or raises a CellError, which becomes the cell's value."""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Callable
from typing import Any

from django.utils import timezone

from .values import NUM, VALUE, CellError, boolean, is_date_only, moment, number, stored_moment, text


def _if(row, condition, then=None, otherwise=None):
    if boolean(condition(row)):
        return then(row) if then is not None else True
    return otherwise(row) if otherwise is not None else False


def _iferror(row, value, fallback):
    try:
        return value(row)
    except CellError:
        return fallback(row)


def _isblank(row, value):
    try:
        return value(row) in (None, "")
    except CellError:
        return False


def _round(value, digits=0):
    places = int(number(digits))
    if abs(places) > 15:
        raise NUM
    scaled = abs(number(value)) * 10.0**places
    rounded = float(int(scaled + 0.5 + 1e-9)) if scaled < 2**53 else scaled
    return (rounded / 10.0**places) * (-1 if number(value) < 0 else 1)


def _min(*values):
    return min((number(v) for v in values), default=0.0)


def _max(*values):
    return max((number(v) for v in values), default=0.0)


def _position(value, least=0):
    count = number(value)
    if count < least or count > 10**9:
        raise VALUE
    return int(count)


def _left(value, count=1):
    return text(value)[: _position(count)]


def _right(value, count=1):
    count = _position(count)
    return text(value)[-count:] if count else ""


def _mid(value, start, count):
    start = _position(start, 1)
    return text(value)[start - 1 : start - 1 + _position(count)]


def _trim(value):
    return " ".join(text(value).split())


def _today():
    return timezone.now().date().isoformat()


def _now():
    return stored_moment(timezone.now().astimezone(dt.UTC).replace(tzinfo=None), False)


_UNITS = {
    "D": "days",
    "DAY": "days",
    "DAYS": "days",
    "M": "months",
    "MONTH": "months",
    "MONTHS": "months",
    "Y": "years",
    "YEAR": "years",
    "YEARS": "years",
    "H": "hours",
    "HOUR": "hours",
    "HOURS": "hours",
}


def _unit(value):
    unit = _UNITS.get(text(value).strip().upper())
    if unit is None:
        raise VALUE
    return unit


def _months_between(start, end):
    months = (end.year - start.year) * 12 + end.month - start.month
    if months > 0 and (end.day, end.time()) < (start.day, start.time()):
        months -= 1
    elif months < 0 and (end.day, end.time()) > (start.day, start.time()):
        months += 1
    return months


def _datediff(start, end, unit="days"):
    """DATEDIFF(start, end, unit): whole days (default), months, years or hours from start to end."""
    first, last, unit = moment(start), moment(end), _unit(unit)
    if unit == "days":
        return (last.date() - first.date()).days
    if unit == "hours":
        return int((last - first).total_seconds() // 3600)
    months = _months_between(first, last)
    return months if unit == "months" else int(months / 12)


def _dateadd(start, count, unit="days"):
    """DATEADD(date, n, unit): the date n days (default), months, years or hours later."""
    first, amount, unit = moment(start), int(number(count)), _unit(unit)
    try:
        if unit in ("days", "hours"):
            later = first + dt.timedelta(**{unit: amount})
        else:
            months = first.month - 1 + amount * (12 if unit == "years" else 1)
            year, month = first.year + months // 12, months % 12 + 1
            later = first.replace(year=year, month=month, day=min(first.day, calendar.monthrange(year, month)[1]))
    except (OverflowError, ValueError):
        raise NUM from None
    return stored_moment(later, is_date_only(start) and unit != "hours")


def _part(name):
    def part(value):
        return getattr(moment(value), name)

    return part


def _concat(*values):
    return "".join(text(v) for v in values)


FUNCTIONS: dict[str, tuple[int, int | None, Callable[..., Any], bool]] = {
    "IF": (2, 3, _if, True),
    "IFERROR": (2, 2, _iferror, True),
    "ISBLANK": (1, 1, _isblank, True),
    "AND": (1, None, lambda *v: all([boolean(x) for x in v]), False),
    "OR": (1, None, lambda *v: any([boolean(x) for x in v]), False),
    "NOT": (1, 1, lambda v: not boolean(v), False),
    "ROUND": (1, 2, _round, False),
    "ABS": (1, 1, lambda v: abs(number(v)), False),
    "MIN": (1, None, _min, False),
    "MAX": (1, None, _max, False),
    "LEN": (1, 1, lambda v: len(text(v)), False),
    "LEFT": (1, 2, _left, False),
    "RIGHT": (1, 2, _right, False),
    "MID": (3, 3, _mid, False),
    "UPPER": (1, 1, lambda v: text(v).upper(), False),
    "LOWER": (1, 1, lambda v: text(v).lower(), False),
    "TRIM": (1, 1, _trim, False),
    "CONCAT": (1, None, _concat, False),
    "TODAY": (0, 0, _today, False),
    "NOW": (0, 0, _now, False),
    "YEAR": (1, 1, _part("year"), False),
    "MONTH": (1, 1, _part("month"), False),
    "DAY": (1, 1, _part("day"), False),
    "DATEDIFF": (2, 3, _datediff, False),
    "DATEADD": (2, 3, _dateadd, False),
}

# What each function returns, for a formula column's inferred result type (None: it depends).
RESULT_TYPES = {
    **dict.fromkeys(("AND", "OR", "NOT", "ISBLANK"), "boolean"),
    **dict.fromkeys(("ROUND", "ABS", "MIN", "MAX", "LEN", "YEAR", "MONTH", "DAY", "DATEDIFF"), "number"),
    **dict.fromkeys(("LEFT", "RIGHT", "MID", "UPPER", "LOWER", "TRIM", "CONCAT"), "text"),
    "TODAY": "date",
    "NOW": "datetime",
}
