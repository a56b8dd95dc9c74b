"""Dates and times as people write them in imported text, beyond the ISO 8601 the column types
infer: 2012/01/01, 2012.01.01, 2010/01/01 00:00, Jan 1 2000, January 1, 2000, 1 January 2000,
1-Jan-2000, 01/02/2024 and 01.02.2024 13:45. Whether 01/02/2024 is day-first or month-first is
decided from the whole column (13/02/2024 is day-first, 02/13/2024 month-first); a column where
every value reads both ways is ambiguous: it is imported with the order asked for (`date_order`
"dmy" or "mdy"), or kept as text and reported (nothing is silently read the wrong way)."""

import datetime as dt
import re

DMY, MDY = "dmy", "mdy"
DATE_ORDERS = (DMY, MDY)

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}
_TIME = r"(?:[ T](?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?)?"
_YMD = re.compile(r"(?P<y>\d{4})[/.](?P<a>\d{1,2})[/.](?P<b>\d{1,2})" + _TIME)
_NUMERIC = re.compile(r"(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4})" + _TIME)
_MONTH_FIRST = re.compile(r"(?P<m>[A-Za-z]{3,9})\.? (?P<d>\d{1,2})(?:st|nd|rd|th)?,? (?P<y>\d{4})" + _TIME)
_DAY_FIRST = re.compile(r"(?P<d>\d{1,2})(?:st|nd|rd|th)?[ -](?P<m>[A-Za-z]{3,9})\.?(?:,? |-)(?P<y>\d{4})" + _TIME)


def _moment(year, month, day, match):
    """(ISO date or moment text, has a time) or None when it is no real date."""
    try:
        date = dt.date(int(year), int(month), int(day))
        if match.group("h") is None:
            return date.isoformat(), False
        second = int(match.group("s") or 0)
        time = dt.time(int(match.group("h")), int(match.group("mi")), second)
    except ValueError:
        return None
    return dt.datetime.combine(date, time).isoformat(), True


def readings(text: str) -> dict[str, tuple[str, bool]] | None:
    """How a text reads as a date: {order: (ISO text, has a time)}, the same for both orders
    unless the text is numeric day/month (01/02/2024); None when it is no date."""
    text = text.strip()
    if match := _YMD.fullmatch(text):
        found = _moment(match["y"], match["a"], match["b"], match)
        return {DMY: found, MDY: found} if found else None
    for pattern in (_MONTH_FIRST, _DAY_FIRST):
        if match := pattern.fullmatch(text):
            month = _MONTHS.get(match["m"].lower())
            found = month and _moment(match["y"], month, match["d"], match)
            return {DMY: found, MDY: found} if found else None
    if match := _NUMERIC.fullmatch(text):
        result = {}
        for order, (day, month) in ((DMY, (match["a"], match["b"])), (MDY, (match["b"], match["a"]))):
            found = _moment(match["y"], month, day, match)
            if found:
                result[order] = found
        return result or None
    return None


class DateGuess:
    """Whether every non-empty text of a column is a date (or date and time) as people write them,
    and in which day/month order; kept up to date one value at a time."""

    def __init__(self) -> None:
        self.orders = set(DATE_ORDERS)
        self.seen = False
        self.numeric = False  # some value is numeric day/month (its order matters)
        self.time = False

    def add(self, text: str) -> None:
        if not self.orders or text == "" or text.isspace():
            return
        self.seen = True
        found = readings(text)
        if found is None:
            self.orders = set()
            return
        if len(found) < 2 or found[DMY] != found[MDY]:
            self.numeric = True
        self.orders &= set(found)
        self.time = self.time or any(has_time for _, has_time in found.values())

    @property
    def is_dates(self) -> bool:
        return self.seen and bool(self.orders)

    @property
    def ambiguous(self) -> bool:
        return self.is_dates and self.numeric and len(self.orders) == 2

    def order(self, asked: str | None) -> str | None:
        """The order to read the column in: the one its values allow, or the one asked for when
        both do; None when it is no date column, or ambiguous with no order asked."""
        if not self.is_dates:
            return None
        if len(self.orders) == 1:
            return next(iter(self.orders))
        if not self.numeric:
            return DMY  # no numeric day/month: both read the same
        return asked if asked in DATE_ORDERS else None


def convert(text: str, order: str, with_time: bool) -> str:
    """The text (a value of a column DateGuess accepted) as an ISO date, or moment when the column
    holds times (midnight for the values without one)."""
    found = readings(text)
    if not found or order not in found:
        return text
    value, has_time = found[order]
    if with_time and not has_time:
        return value + "T00:00:00"
    return value
