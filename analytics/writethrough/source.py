"""What the writer reads of PostgreSQL (or SQLite): sheets' versions, their operations after a
checkpoint, and a consistent snapshot of one sheet for a rebuild."""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q

from sheets.column_types import value_type
from sheets.models import Column, Operation, Row, Sheet

# A sheet's snapshot for a rebuild: (sheet fields, columns, row count, row chunks), each chunk a
# list of (row id, position, data).
SheetSnapshot = tuple[dict[str, Any], dict[str, dict], int, Iterator[list[tuple[int, float, dict[str, Any]]]]]


def sheet_versions() -> dict[int, tuple[int, int]]:
    return {sid: (wid, version) for sid, wid, version in Sheet.objects.values_list("id", "workspace_id", "version")}


@dataclass
class LoggedOperation:
    """What the writer reads of one Operation: its data, and for the history its time and actor."""

    sheet_id: int
    version: int
    kind: str
    payload: dict
    previous: dict | None
    at_us: int  # microseconds since the epoch, UTC
    created_at: datetime  # the same (the lake lag: core/metrics.py)
    op_id: uuid.UUID | None  # (for the log)
    actor_id: int | None
    actor: str | None  # the actor's name as Gridcast shows it (User.label)
    actor_email: str | None


_FIELDS = (
    "sheet_id",
    "version",
    "kind",
    "payload",
    "previous",
    "created_at",
    "op_id",
    "actor_id",
    "actor__display_name",
    "actor__first_name",
    "actor__last_name",
    "actor__email",
)


def _logged(row: tuple) -> LoggedOperation:
    sid, version, kind, payload, previous, at, op_id, actor_id, display, first, last, email = row
    label = None
    if actor_id is not None:
        label = display or f"{first or ''} {last or ''}".strip() or (email or "").split("@")[0]
    at_us = int(at.timestamp() * 1_000_000)
    return LoggedOperation(sid, version, kind, payload, previous, at_us, at, op_id, actor_id, label, email)


def logged_operations(sheet_id: int, after: int, upto: int, chunk: int = 2000) -> Iterator[LoggedOperation]:
    """The sheet's operations (after, upto], by version (a rebuild's replay of the history)."""
    found = Operation.objects.filter(sheet_id=sheet_id, version__gt=after, version__lte=upto).order_by("version")
    for row in found.values_list(*_FIELDS).iterator(chunk):
        yield _logged(row)


def operations(behind: dict[int, tuple[int, int]], limit: int) -> list[LoggedOperation]:
    """Operations of the sheets behind, after their checkpoint and up to the version read, by sheet
    then version; at most about `limit` (whole sheets' prefixes)."""
    found, total = [], 0
    items = sorted(behind.items())
    for start in range(0, len(items), 100):
        query = Q()
        for sid, (low, high) in items[start : start + 100]:
            query |= Q(sheet_id=sid, version__gt=low, version__lte=min(high, low + limit))
        ops = list(
            Operation.objects.filter(query).order_by("sheet_id", "version").values_list(*_FIELDS)[: limit - total]
        )
        found.extend(_logged(row) for row in ops)
        total += len(ops)
        if total >= limit:
            break
    return found


def sheet_columns(sheet_id: int) -> dict[str, dict]:
    """The sheet's columns as the database has them, deleted ones too, in the shape of the lake's
    state: {key: {name, type, value_type, position, deleted}}."""
    return {
        c.key: {
            "name": c.name,
            "type": c.type,
            "value_type": value_type(c.type, c.options),
            "position": c.position,
            "deleted": c.deleted,
        }
        for c in Column.objects.filter(sheet_id=sheet_id)
    }


def read_sheet_snapshot(sheet_id: int, repeatable: bool = True, chunk: int = 20_000) -> SheetSnapshot | None:
    """The sheet as one consistent snapshot: (sheet fields, columns, row count, row chunks) where
    each chunk is a list of (id, position, data). None when the sheet does not exist. Must run at
    the start of a transaction.atomic(); on PostgreSQL it makes the transaction REPEATABLE READ."""
    if repeatable and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    sheet = Sheet.objects.filter(pk=sheet_id).values("id", "workspace_id", "name", "version").first()
    if sheet is None:
        return None
    columns = sheet_columns(sheet_id)
    total = Row.objects.filter(sheet_id=sheet_id).count()

    def chunks():
        batch = []
        for row in (
            Row.objects.filter(sheet_id=sheet_id).order_by("id").values_list("id", "position", "data").iterator(chunk)
        ):
            batch.append(row)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    return sheet, columns, total, chunks()
