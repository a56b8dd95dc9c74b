"""Data validation rules of a column, kept in its options as {"rules": {...}}: required, unique
(no two rows with the same value), min and max (numbers and times), pattern (text: a
whole-value regular expression). Enforced on cell
edits (REST and WebSocket: sheets.services.cells) and replace-all; imports and undo restore
values as they were. The choice type's own check stays in its coerce.

Patterns are outside input run on outside input: at most MAX_PATTERN characters, they must
compile, and values longer than MAX_PATTERN_INPUT are refused rather than matched, which bounds
the time a pathological pattern can take.
"""

import re
from typing import Any

from . import column_types
from .models import Row

MAX_PATTERN = 200
MAX_PATTERN_INPUT = 1000
RULE_NAMES = ("required", "unique", "min", "max", "pattern")


def validate_rules(column_type: str, rules: Any) -> dict:
    """The rules checked: ValueError with the reason when one is malformed."""
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise ValueError("rules must be an object")
    unknown = set(rules) - set(RULE_NAMES)
    if unknown:
        raise ValueError(f"unknown rule {sorted(unknown)[0]!r}; rules are {', '.join(RULE_NAMES)}")
    spec = column_types.get(column_type)
    checked: dict[str, Any] = {}
    if "required" in rules:
        if not isinstance(rules["required"], bool):
            raise ValueError("required must be true or false")
        if rules["required"]:
            checked["required"] = True
    if "unique" in rules:
        if not isinstance(rules["unique"], bool):
            raise ValueError("unique must be true or false")
        if rules["unique"]:
            checked["unique"] = True
    for bound in ("min", "max"):
        if rules.get(bound) is None:
            continue
        if not (spec.numeric or spec.time):
            raise ValueError(f"{bound} is for number, date and time columns")
        checked[bound] = column_types.coerce(column_type, rules[bound])
    if "min" in checked and "max" in checked and checked["min"] > checked["max"]:
        raise ValueError("min is greater than max")
    pattern = rules.get("pattern")
    if pattern not in (None, ""):
        if not spec.text_values:
            raise ValueError("pattern is for text columns")
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN:
            raise ValueError(f"pattern must be a string of at most {MAX_PATTERN} characters")
        try:
            re.compile(pattern)
        except re.error as error:
            raise ValueError(f"pattern does not compile: {error}") from None
        checked["pattern"] = pattern
    return checked


def check_value(options: dict, value: Any) -> None:
    """ValueError with the reason when a stored value breaks a rule of its column."""
    rules = options.get("rules") or {}
    if value is None:
        if rules.get("required"):
            raise ValueError("a value is required")
        return
    if "min" in rules and value < rules["min"]:
        raise ValueError(f"must be at least {rules['min']}")
    if "max" in rules and value > rules["max"]:
        raise ValueError(f"must be at most {rules['max']}")
    if "pattern" in rules:
        if len(value) > MAX_PATTERN_INPUT:
            raise ValueError(f"longer than {MAX_PATTERN_INPUT} characters, the most a pattern is checked on")
        if re.fullmatch(rules["pattern"], value) is None:
            raise ValueError(f"does not match the pattern {rules['pattern']}")


def check_unique(sheet_id: int, key: str, value: Any, row: int, planned: dict[int, dict]) -> None:
    """ValueError when another row has `value` in column `key`: among `planned` (row id -> data as
    the edits being applied leave it) or, for the rows not there, in the database."""
    if value is None:
        return
    if any(pk != row and data.get(key) == value for pk, data in planned.items()):
        raise ValueError(f"{str(value)[:40]!r} is already in another row (values are unique)")
    others = Row.objects.filter(sheet_id=sheet_id, **{f"data__{key}": value}).exclude(pk__in=list(planned))
    if others.exists():
        raise ValueError(f"{str(value)[:40]!r} is already in another row (values are unique)")
