"""What a sheet's webhooks are sent: each committed operation's changes (sheets.history.changes, the
reading undo and the history panel use) as events (rows.inserted, rows.updated, rows.deleted), one
delivery per webhook and event, queued with one bulk insert once the edit has committed: never in
the edit's transaction, nothing at all for a sheet without webhooks but one indexed query.

Which operations: the row and cell kinds (cells.update: edits, pastes, replace, undo and redo of
them; rows.insert; rows.delete; rows.import), with the formula cells the edit changed. Not the
background recompute of a formula column (formulas.compute, no one's edit) nor a column's schema
(add, rename, retype, move, delete): a webhook follows people's changes to rows."""

import datetime as dt
from typing import Any

from django.conf import settings
from django.db import connection

from accounts.models import User
from analytics.deliveries import queue
from analytics.models import Delivery, Webhook
from sheets import history
from sheets.models import Column, Operation, Sheet

KINDS = ("cells.update", "rows.insert", "rows.delete", "rows.import")
INSERTED, UPDATED, DELETED = (e.value for e in Webhook.Event)


def max_rows() -> int:
    """Rows one delivery carries at most (GRIDCAST["WEBHOOK_MAX_ROWS"]): beyond, `truncated` is true
    and `total` says how many there were (the receiver reads the rest through the API)."""
    return int(settings.GRIDCAST.get("WEBHOOK_MAX_ROWS", 1000))


def _value(value: Any) -> Any:
    return None if value is history.UNKNOWN else value


def split(operation: Operation) -> dict[str, list[dict]]:
    """The operation's changes by event: {event: rows}, where an inserted or deleted row is
    {id, values} and an updated one {id, cells: {col: {before, after}}}."""
    found = {INSERTED: [], UPDATED: {}, DELETED: []}
    for change in history.changes(operation.kind, operation.payload, operation.previous).values():
        if change.col == history.ROW:
            if change.before is None and change.after is not None:
                found[INSERTED].append({"id": change.row, "values": change.after})
            elif change.after is None and change.before is not None:
                found[DELETED].append({"id": change.row, "values": change.before})
            continue
        row = found[UPDATED].setdefault(change.row, {"id": change.row, "cells": {}})
        row["cells"][change.col] = {"before": _value(change.before), "after": _value(change.after)}
    found[UPDATED] = list(found[UPDATED].values())
    return found


def _only(rows: list[dict], event: str, columns: list[str]) -> list[dict]:
    """The rows as a webhook with a columns filter gets them: updates of those columns only
    (a row with none left out), inserted and deleted rows with those columns' values."""
    if not columns:
        return rows
    keep = set(columns)
    if event == UPDATED:
        shown = [{"id": r["id"], "cells": {k: v for k, v in r["cells"].items() if k in keep}} for r in rows]
        return [r for r in shown if r["cells"]]
    return [{"id": r["id"], "values": {k: v for k, v in r["values"].items() if k in keep}} for r in rows]


def _actor(user: User | None) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "name": user.label, "email": user.email}


def _when(moment: dt.datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def payload(
    *,
    event: str,
    sheet: Sheet,
    operation: Operation,
    actor: dict | None,
    names: dict[str, str],
    rows: list[dict],
) -> dict:
    """The JSON body (signed by the sender like every webhook of Gridcast)."""
    most = max_rows()
    body = {
        "event": event,
        "sheet": {"id": sheet.pk, "name": sheet.name},
        "workspace": {"id": sheet.workspace_id},
        "version": operation.version,
        "operation": operation.kind,
        "actor": actor,
        "at": _when(operation.created_at),
        "columns": {key: names.get(key) for key in _keys(rows)},
        "rows": rows[:most],
        "total": len(rows),
        "truncated": len(rows) > most,
    }
    for mark in ("undo_of", "redo_of"):
        if isinstance(operation.payload, dict) and operation.payload.get(mark) is not None:
            body[mark] = operation.payload[mark]
    return body


def _keys(rows: list[dict]) -> list[str]:
    keys = {}
    for row in rows:
        keys.update(dict.fromkeys(row.get("cells") or row.get("values") or {}))
    return sorted(keys, key=lambda k: (len(k), k))


def _actors(operations: list[Operation]) -> dict[int, User]:
    """The operations' actors: those the services attached to them, the others read in one query."""
    found = {op.actor_id: op.actor for op in operations if op.actor_id and Operation.actor.is_cached(op)}
    missing = {op.actor_id for op in operations if op.actor_id and op.actor_id not in found}
    if missing:
        found.update((u.pk, u) for u in User.objects.filter(pk__in=missing))
    return found


def _has_active_webhook(sheet_id: int) -> bool:
    """Plain SQL: asked after every edit's commit, and for a sheet without webhooks (nearly all)
    building the ORM's query was a quarter of the server's CPU for a lone edit."""
    with connection.cursor() as cursor:
        cursor.execute(_ACTIVE_SQL, [sheet_id, True])
        return cursor.fetchone() is not None


_ACTIVE_SQL = f"SELECT 1 FROM {Webhook._meta.db_table} WHERE sheet_id = %s AND active = %s LIMIT 1"


def deliveries_queue(*, operations: list[Operation]) -> list[Delivery]:
    """Queue the deliveries of these committed operations (of one sheet) to its active webhooks."""
    operations = [op for op in operations if op.kind in KINDS]
    if not operations or not _has_active_webhook(operations[0].sheet_id):
        return []
    hooks = list(
        Webhook.objects.select_related("sheet").filter(sheet_id=operations[0].sheet_id, active=True).order_by("id")
    )
    if not hooks:
        return []
    sheet = hooks[0].sheet
    names = dict(Column.objects.filter(sheet_id=sheet.pk).order_by().values_list("key", "name"))
    actors = _actors(operations)
    deliveries = []
    for op in operations:
        events = split(op)
        actor = _actor(actors.get(op.actor_id))
        for hook in hooks:
            for event in hook.events:
                rows = _only(events.get(event) or [], event, hook.columns)
                if not rows:
                    continue
                body = payload(event=event, sheet=sheet, operation=op, actor=actor, names=names, rows=rows)
                deliveries.append(
                    Delivery(
                        workspace_id=sheet.workspace_id,
                        webhook=hook,
                        channel=Delivery.Channel.WEBHOOK,
                        target=hook.url,
                        format=Webhook.Format.JSON,
                        event=event,
                        payload=body,
                    )
                )
    return queue.enqueue(deliveries)


def on_operations_committed(sender: object, operations: list[tuple[Operation, str | None]], **kwargs: object) -> None:
    """sheets.signals.operations_committed: after the edit's commit. A failure is logged (by the
    announcer) and never reaches the edit."""
    deliveries_queue(operations=[op for op, _ in operations])
