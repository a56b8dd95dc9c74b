"""JSON at the edges: what clients send is parsed here (REST bodies, WebSocket frames, the
dashboard's JSON), and what goes out is encoded here, so that each rule holds in one place.

In: nesting is bounded (MAX_DEPTH levels; Python's own parser fails at ~1,000 with a
RecursionError, and deep values break code that walks them later), numbers are finite (no NaN or
Infinity, no 1e400) and integers beyond 64 bits arrive as floats (so an id or a count is never
too large for the database; a number too large for a float is refused), and text is valid
Unicode (an escaped unpaired surrogate such as "\\ud800" cannot be encoded in UTF-8, stored in
PostgreSQL or sent back). Out: never NaN or Infinity (allow_nan=False).
"""

import json
import math
import re
from typing import Any

import orjson

from .errors import InvalidInput

MAX_DEPTH = 32
INT64 = 2**63
_SURROGATE = re.compile("[\ud800-\udfff]")
# An escaped surrogate in JSON text (a lone one, or one half of a pair such as an emoji's).
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonInvalid(InvalidInput):
    """The text is not JSON that Gridcast takes; `field` names where, when known."""

    code = "parse_error"


def has_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def _path(link):
    """cells[0].value from the linked (parent, key) pairs of a node."""
    parts = []
    while link is not None:
        link, key = link
        key = key[:64].encode("utf-8", "backslashreplace").decode() if isinstance(key, str) else key
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
    return "".join(reversed(parts)).removeprefix(".")


def _inspect(value, max_depth, strings, numbers):
    """Raise JsonInvalid when `value` is nested deeper than max_depth, holds (strings) text with an
    unpaired surrogate or (numbers) a number beyond what a float holds, naming where; one pass
    without recursion. A node's path is a linked (parent, key) pair."""

    def bad(item):
        return (strings and isinstance(item, str) and has_surrogate(item)) or (
            numbers and isinstance(item, float) and not math.isfinite(item)
        )

    stack = [(value, 1, None)] if isinstance(value, (dict, list)) or bad(value) else []
    while stack:
        node, depth, link = stack.pop()
        if isinstance(node, (str, float)):
            where = _path(link)
            if isinstance(node, float):
                problem = "NaN is not a number" if node != node else "the number is out of range (beyond ±1.8e308)"
            else:
                problem = "text is not valid Unicode (an unpaired surrogate)"
            raise JsonInvalid(f"{where}: {problem}" if where else problem, **({"field": where} if where else {}))
        if depth > max_depth:
            raise JsonInvalid(f"JSON nested deeper than {max_depth} levels")
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, item in items:
            if strings and isinstance(key, str) and has_surrogate(key):
                where = _path((link, key))
                raise JsonInvalid(f"{where}: a key is not valid Unicode (an unpaired surrogate)", field=where)
            if isinstance(item, (dict, list)) or bad(item):
                stack.append((item, depth + 1, (link, key)))


def loads(text: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH) -> Any:
    """The value of JSON text (str or UTF-8 bytes), checked as the module says; JsonInvalid with
    what is wrong (and `field`: where, when it is one value) otherwise."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise JsonInvalid("JSON must be UTF-8 text") from None
    out_of_range = []  # numbers that are not finite (1e400, and NaN and Infinity, which JSON does not have)

    def number(digits):
        value = float(digits)
        if not math.isfinite(value):
            out_of_range.append(digits)
        return value

    def integer(digits):
        if len(digits) > 20:  # beyond 64 bits for sure (and int() refuses more than 4,300 digits)
            return number(digits)
        value = int(digits)
        return value if -INT64 <= value < INT64 else float(value)

    try:
        value = json.loads(text, parse_float=number, parse_int=integer, parse_constant=number)
    except RecursionError:
        raise JsonInvalid(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError as error:  # JSONDecodeError
        raise JsonInvalid(f"not valid JSON: {error}") from None
    deep = text.count("[") + text.count("{") > max_depth
    strings = _ESCAPED_SURROGATE.search(text) is not None
    if deep or strings or out_of_range:
        _inspect(value, max_depth, strings, bool(out_of_range))
    return value


def dumps(value: Any) -> str:
    """Compact JSON text of a response or frame: UTF-8 as is, anything else (dates, UUIDs) as
    str, and ValueError rather than NaN or Infinity, which JSON does not have."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)


def _not_json(value):
    raise TypeError(f"{type(value).__name__} is not a JSON value")


# orjson as json.dumps writes (keys that are not text as text), but refusing what has no exact
# JSON form rather than writing it its own way (dates, dataclasses).
_EXACT = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps_exact(value: Any) -> str:
    """dumps() for what must round-trip (WebSocket frames, core.frames.encode): TypeError for a
    value JSON has no form for (a date, a set, a Decimal) instead of its str(), a
    circular reference or text that is not Unicode; ValueError for NaN or Infinity.

    orjson writes it (a formula recompute's frame of 15,000 values took json a fifth of the
    batch's time). It writes NaN and Infinity as null: text that does not read back as the value
    (that, or a tuple, or a key that is not text) is checked by json, which refuses them."""
    text = orjson.dumps(value, default=_not_json, option=_EXACT)
    if b"null" in text and orjson.loads(text) != value:
        json.dumps(value, allow_nan=False, default=_not_json)  # ValueError for NaN or Infinity
    return text.decode()


def dumps_db(value: Any) -> str:
    """JSON text of what the database stores as jsonb (the operation log, row patches): orjson,
    several times faster than json on a formula recompute's 15,000 values a batch; keys that are
    not text (row ids) become text, as json writes them."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def loads_db(text: str | bytes) -> Any:
    """The value of JSON text the database wrote (trusted: none of loads()'s checks)."""
    return orjson.loads(text)
