"""Large statements to PostgreSQL: a batch of thousands of rows sent as a few parameters.

Django's psycopg cursor binds parameters on the client: a JSON parameter of a few hundred
kilobytes is escaped into the statement's text, which PostgreSQL then parses back (about 2 ms a
statement). `bound_cursor` binds them on the server instead; `array_literal` writes a list as one
array parameter (psycopg dumps a list element by element, testing each with a regular
expression, which was the largest part of indexing a formula recompute's 15,000 cells)."""

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from django.db import connection


@contextmanager
def bound_cursor() -> Iterator[psycopg.Cursor]:
    """A cursor with server-side binding, on the connection (and in the transaction) Django uses."""
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        yield cursor


def array_literal(values: list) -> str:
    """A PostgreSQL array literal of these ints or strings, to be cast in the statement."""
    if values and isinstance(values[0], str):
        quoted = {v: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in set(values)}
        return "{" + ",".join(map(quoted.__getitem__, values)) + "}"
    return "{" + ",".join(map(str, values)) + "}"
