"""The operation log. `operations_append` is the one place an Operation is written (whichever
service made it, the batch edit path included): inserted with the rows and cells each changed
(sheets.history's RowChange, in the same statement), then announced after commit
(sheets.signals.operations_committed), which is how edits reach the realtime side without sheets
knowing it. `operation` makes a service of one operation: idempotent by op_id, atomic, versioned."""

import functools
import logging
import uuid
from collections.abc import Callable

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from core import jsonio
from core.errors import Conflict, InvalidInput, NotFound
from core.events import announce_on_commit
from core.sql import array_literal, bound_cursor

from .. import signals
from ..history import row_changes_of
from ..models import Operation, RowChange, Sheet

log = logging.getLogger(__name__)

# One statement for any number of operations and their RowChanges (sheets.history); the ORM's
# per-object costs were most of an edit's time.
_INSERT_SQL = """
WITH changes AS (
  INSERT INTO sheets_rowchange (sheet_id, row_id, version, col)
  SELECT * FROM unnest(%(sheets)s::bigint[], %(rows)s::bigint[], %(versions)s::bigint[], %(cols)s::text[])
)
INSERT INTO sheets_operation (sheet_id, version, kind, payload, previous, actor_id, op_id, created_at)
SELECT o.sheet_id, o.version, o.kind, o.payload, o.previous, o.actor_id, o.op_id, %(now)s
  FROM jsonb_to_recordset(%(operations)s::jsonb)
    AS o(sheet_id bigint, version bigint, kind text, payload jsonb, previous jsonb, actor_id bigint, op_id uuid)
  ORDER BY o.version
RETURNING id, version
"""


def operations_append(operations: list[tuple[Operation, str | None]], *, announce: bool = True) -> None:
    """Write these new Operations of one sheet (with the connection that asked for each, which gets
    an ack instead of the broadcast), and announce them once the transaction commits (unless
    `announce` is False: a sheet's creation has nobody to tell yet)."""
    if log.isEnabledFor(logging.DEBUG):  # with the request id: the writer's line names the same sheet and version
        for op, _ in operations:
            log.debug("sheet %s v%s %s op_id %s appended", op.sheet_id, op.version, op.kind, op.op_id)
    if connection.vendor == "postgresql":
        now = timezone.now()
        rows = [
            {
                "sheet_id": op.sheet_id,
                "version": op.version,
                "kind": op.kind,
                "payload": op.payload,
                "previous": op.previous,
                "actor_id": op.actor_id,
                "op_id": str(op.op_id) if op.op_id else None,
            }
            for op, _ in operations
        ]
        changes = row_changes_of([op for op, _ in operations])
        columns = {name: array_literal(values) for name, values in vars(changes).items()}
        with bound_cursor() as cursor:
            cursor.execute(_INSERT_SQL, {"now": now, "operations": jsonio.dumps_db(rows), **columns})
            ids = dict((version, pk) for pk, version in cursor.fetchall())
        for op, _ in operations:
            op.pk, op.created_at = ids[op.version], now
    else:
        Operation.objects.bulk_create([op for op, _ in operations])
        changes = row_changes_of([op for op, _ in operations])
        RowChange.objects.bulk_create(
            [
                RowChange(sheet_id=s, row_id=r, version=v, col=c)
                for s, r, v, c in zip(changes.sheets, changes.rows, changes.versions, changes.cols)
            ],
            batch_size=2000,
        )
    if announce:
        announce_on_commit(signals.operations_committed, Operation, "operations committed", operations=operations)


def _existing_operation(actor, op_id, sheet_id, kind):
    if op_id is None or actor is None:
        return None
    operation = Operation.objects.filter(actor=actor, op_id=op_id).first()
    if operation is not None and (operation.sheet_id != sheet_id or operation.kind != kind):
        raise Conflict("op_id was already used for a different operation", op_id=str(op_id))
    return operation


def parse_op_id(op_id: object) -> uuid.UUID | None:
    if op_id is None or isinstance(op_id, uuid.UUID):
        return op_id
    try:
        return uuid.UUID(str(op_id))
    except ValueError:
        raise InvalidInput("op_id must be a UUID", op_id=str(op_id)[:64]) from None


def operation(kind: str) -> Callable:
    """Make a service idempotent by op_id and atomic. The wrapped function validates what it can
    and returns `write(version)`, which runs under the sheet lock and returns
    (payload, previous[, layout_changed]). `origin` is the WebSocket connection that asked: it
    gets an ack instead of the broadcast."""

    def decorate(fn):
        @functools.wraps(fn)
        def service(*, sheet, actor, op_id=None, origin=None, **kwargs):
            op_id = parse_op_id(op_id)
            done = _existing_operation(actor, op_id, sheet.pk, kind)
            if done is not None:
                return done
            try:
                with transaction.atomic():
                    return _apply(fn, kind, sheet, actor, op_id, origin, kwargs)
            except IntegrityError:
                done = _existing_operation(actor, op_id, sheet.pk, kind)
                if done is not None:  # the same op_id was applied concurrently
                    return done
                raise

        return service

    return decorate


def _apply(fn, kind, sheet, actor, op_id, origin, kwargs):
    prepared = fn(sheet=sheet, actor=actor, **kwargs)
    # `prepared` validated everything it could without the lock; `write` runs under it.
    version = next_version(sheet.pk)
    result = prepared(version)
    payload, previous, *layout_changed = result
    if any(layout_changed):
        Sheet.objects.filter(pk=sheet.pk).update(layout_version=version)
        sheet.layout_version = version
    sheet.version = version
    op = Operation(
        sheet_id=sheet.pk, version=version, kind=kind, payload=payload, previous=previous, actor=actor, op_id=op_id
    )
    operations_append([(op, origin)])
    return op


def next_version(sheet_id: int) -> int:
    """The sheet's next version, taken under a lock on its row that serializes its writes."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sheets_sheet SET version = version + 1, updated_at = %s WHERE id = %s RETURNING version",
            [timezone.now(), sheet_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise NotFound("Sheet not found")
    return row[0]
