"""What every page gives the front end: the column-type table (frontend/src/lib/columnTypes.js)."""

from django.http import HttpRequest

from . import column_types


def column_types_table(request: HttpRequest) -> dict:
    return {"column_types": column_types.client_table()}
