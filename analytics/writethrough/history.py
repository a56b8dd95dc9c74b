"""Every cell change of every sheet, kept in the lake for SQL (`cell_history`, see lake/schema.py):
one row per changed cell, per row created or deleted, with the version, the time, the actor, the
column (its name then) and the values before and after as text. The writer appends the rows of
each batch's operations in the batch's own transaction (so they are there exactly once, like the
sheet's events); a rebuild appends those of the operations it replaced by a snapshot, and
`rebuild_analytics` writes a sheet's again from the whole operation log. Never compacted nor
expired: a deleted sheet's rows go with it (its operation log is gone from PostgreSQL too)."""

import json
from collections.abc import Iterator

import duckdb

from analytics.lake.schema import HISTORY_COLUMNS
from sheets import history

from .source import LoggedOperation
from .state import cell_text, lake_text

CREATED, CHANGED, DELETED = "created", "changed", "deleted"


def _text(value: object) -> str | None:
    return None if value is history.UNKNOWN else cell_text(value)


def _row_text(values: object) -> str | None:
    return lake_text(json.dumps(values, ensure_ascii=False, sort_keys=True)) if values is not None else None


def follow_names(names: dict[str, str], kind: str, payload: dict) -> None:
    """Keep `names` ({column key: name}) as the operation leaves them (a replay of the log)."""
    if not isinstance(payload, dict):
        return
    if kind == "sheet.create":
        names.update({c["key"]: c["name"] for c in payload.get("columns") or []})
    elif kind == "column.add" and isinstance(payload.get("column"), dict):
        names[payload["column"]["key"]] = payload["column"]["name"]
    elif kind == "column.rename" and isinstance(payload.get("key"), str):
        names[payload["key"]] = payload.get("name") or names.get(payload["key"], "")


def rows_of(workspace_id: int, op: LoggedOperation, names: dict[str, str]) -> Iterator[tuple]:
    """The history rows of one operation, in HISTORY_COLUMNS' order."""
    actor, email = (lake_text(t) if t is not None else None for t in (op.actor, op.actor_email))
    common = (workspace_id, op.sheet_id, op.version, op.at_us, op.actor_id, actor, email, op.kind)
    for change in history.changes(op.kind, op.payload, op.previous).values():
        if change.col == history.ROW:
            what = CREATED if change.before is None else DELETED if change.after is None else CHANGED
            yield (*common, what, change.row, None, None, _row_text(change.before), _row_text(change.after))
        else:
            name = names.get(change.col)
            name = lake_text(name) if name is not None else None
            yield (*common, CHANGED, change.row, change.col, name, _text(change.before), _text(change.after))


def append(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    """Insert history rows in one statement (in the caller's lake transaction); `changed_at` goes
    in as microseconds and is stored as TIMESTAMPTZ."""
    if not rows:
        return
    lists = [list(column) for column in zip(*rows)]
    selects = ", ".join(
        f"unnest(from_json(${i + 1}, '[\"{kind}\"]')) AS {name}"
        for i, (name, kind) in enumerate((n, "BIGINT" if n == "changed_at" else k) for n, k in HISTORY_COLUMNS)
    )
    con.execute(
        "INSERT INTO cell_history SELECT * REPLACE (make_timestamp(changed_at)::TIMESTAMPTZ AS changed_at) "
        f"FROM (SELECT {selects})",
        [json.dumps(column, ensure_ascii=False) for column in lists],
    )


def forget(con: duckdb.DuckDBPyConnection, sheet_id: int, after_version: int = 0) -> None:
    """Delete the sheet's history rows after `after_version` (all of them with 0)."""
    con.execute("DELETE FROM cell_history WHERE sheet_id = ? AND version > ?", [int(sheet_id), int(after_version)])
