"""What every service checks: the configured limits and a name's rules."""

from django.conf import settings

from core.errors import InvalidInput

from ..values import check_text


def limit(name: str) -> int:
    return settings.GRIDCAST[name]


def clean_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"{what} must be a non-empty string")
    name = name.strip()
    if len(name) > 200:
        raise InvalidInput(f"{what} is longer than 200 characters")
    try:
        return check_text(name, what)
    except ValueError as error:
        raise InvalidInput(str(error)) from None
