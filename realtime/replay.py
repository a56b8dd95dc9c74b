"""The answer to `hello {since}`: what brings a client from version `since` to now.

History is for editors. An operation carries the values it wrote, so the log holds every value a
cell ever had: values overwritten since, and values deleted before the sheet was shared with
someone. Editors (who can undo, and read the log over REST) get the operations themselves. A view
connection gets only the current state:

- when every missed operation is a cell update, a compacted replay: one `ops` entry per missed
  version, so that the client's version bookkeeping is unchanged, all empty but the last, which
  carries the current value of every cell the missed operations touched (and no actor or op_id);
- otherwise (rows or columns changed, or too far behind) `reload`: load the current rows.
"""

from django.conf import settings

from sheets import selectors
from sheets.models import Row, Sheet

from .broadcast import operation_frame


def replay_frame(sheet: Sheet, since: int, with_history: bool) -> dict:
    """(Database thread.) The `replay` or `reload` frame for a client at version `since`;
    `with_history`: the connection may edit (it is sent the operations themselves)."""
    limit = settings.GRIDCAST["WS_REPLAY_LIMIT"]
    # The version first: a write committed after it is left to its own broadcast, so the replay
    # brings the client exactly to the version it names.
    version = Sheet.objects.filter(pk=sheet.pk).values_list("version", flat=True).first() or 0
    if since >= version:
        return {"type": "replay", "version": version, "ops": []}
    operations = [o for o in selectors.operations_since(sheet, since, limit + 1) if o.version <= version]
    if len(operations) > limit:
        return {"type": "reload", "version": version}
    if with_history:
        return {"type": "replay", "version": version, "ops": [operation_frame(o) for o in operations]}
    if any(o.kind != "cells.update" for o in operations):
        return {"type": "reload", "version": version}
    return {"type": "replay", "version": version, "ops": _compacted(sheet, operations)}


def _compacted(sheet: Sheet, operations: list) -> list[dict]:
    """The missed cell updates as current values only. The values are read after the version, so
    they are at least that new; a write after it arrives as its own `ops` with the same absolute
    values, and the client ends where the database is."""
    touched: dict[int, set[str]] = {}
    for operation in operations:
        for cell in operation.payload.get("cells", []):
            touched.setdefault(cell["row"], set()).add(cell["col"])
    current = dict(Row.objects.filter(sheet_id=sheet.pk, pk__in=touched).values_list("pk", "data"))
    cells = [
        {"row": row, "col": col, "value": current[row].get(col)}
        for row in sorted(touched)
        if row in current
        for col in sorted(touched[row])
    ]
    frames = [
        {
            "type": "ops",
            "version": o.version,
            "kind": "cells.update",
            "actor": None,
            "op_id": None,
            "compacted": True,
            "changes": {"cells": []},
        }
        for o in operations
    ]
    frames[-1]["changes"]["cells"] = cells
    return frames
