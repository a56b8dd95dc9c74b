"""Query parameters of the API, checked: a bad one is a clear 400, never a 500."""

from typing import Any

from .errors import InvalidInput
from .jsonio import INT64


def int_param(params: Any, name: str, default: int | None, low: int = 0, high: int = INT64 - 1) -> int | None:
    """The whole number `params[name]` (a QueryDict), `default` when absent, within low..high."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number") from None
    if value < low:
        raise InvalidInput(f"{name} must be at least {low}")
    if value > high:
        raise InvalidInput(f"{name} must be at most {high}" if high < INT64 - 1 else f"{name} is too large")
    return value
