"""The write-through's state in the lake: each sheet's SheetState (checkpoint, watermark, columns),
the last batch number, and the statements that keep them (see analytics/writethrough/__init__.py)."""

import json
import math
import re
import time
from dataclasses import dataclass, field

import duckdb

from analytics.lake.schema import base_name, view_name

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def lake_text(text: str) -> str:
    """Text as the lake can take it: a NUL character or an unpaired surrogate (which the database
    may hold from before they were refused, e.g. SQLite's JSON) becomes U+FFFD. The lake refuses
    them, and the writer would retry that batch forever, holding every sheet back."""
    return _UNSTORABLE.sub("\ufffd", text)


def cell_text(value: object) -> str | None:
    """A stored cell value (JSON) as the canonical text the lake keeps; the view casts it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return lake_text(value)
    return lake_text(json.dumps(value, ensure_ascii=False))


class StateChanged(Exception):
    """Another writer (or a rebuild) committed sheet data since this writer loaded its state."""


@dataclass
class SheetState:
    sheet_id: int
    workspace_id: int
    name: str = ""
    version: int = 0
    watermark: int = 0
    columns: dict = field(default_factory=dict)  # key -> {name, type, position, deleted}
    base_keys: list = field(default_factory=list)
    pending: int = 0  # events after the watermark (approximate, for the compactor)
    pending_since: float | None = None

    def row(self) -> tuple[int, int, str, int, int, str, str]:
        return (
            self.sheet_id,
            self.workspace_id,
            lake_text(self.name),
            self.version,
            self.watermark,
            json.dumps(self.columns),
            json.dumps(self.base_keys),
        )


def insert_columns(con: duckdb.DuckDBPyConnection, table: str, types: list[str], columns: list[list]) -> None:
    """Insert column lists (Python lists of equal length) in one statement: lists go in as JSON
    text and are unnested by DuckDB, which is much faster than binding Python lists or executemany."""
    if not columns or not columns[0]:
        return
    selects = ", ".join(f"unnest(from_json(${i + 1}, '[\"{t}\"]'))" for i, t in enumerate(types))
    con.execute(f"INSERT INTO {table} SELECT {selects}", [json.dumps(c, ensure_ascii=False) for c in columns])


def lake_batch(con: duckdb.DuckDBPyConnection) -> int:
    """The last batch number committed in the lake (see the module's docstring)."""
    return (
        con.execute(
            "SELECT greatest((SELECT max(batch) FROM writer_state), (SELECT max(batch) FROM sheet_versions),"
            " (SELECT max(watermark) FROM sheet_state))"
        ).fetchone()[0]
        or 0
    )


def load_states(con: duckdb.DuckDBPyConnection) -> tuple[int, dict[int, SheetState]]:
    """(batch, {sheet id: SheetState}) as committed in the lake."""
    batch = lake_batch(con)
    states = {}
    for sid, wid, name, version, watermark, columns, base_keys in con.execute(
        "SELECT sheet_id, workspace_id, name, version, watermark, columns, base_keys FROM sheet_state"
    ).fetchall():
        states[sid] = SheetState(sid, wid, name, version, watermark, json.loads(columns), json.loads(base_keys))
    for sid, version in con.execute("SELECT sheet_id, max(version) FROM sheet_versions GROUP BY sheet_id").fetchall():
        if sid in states and version > states[sid].version:
            states[sid].version = version
    pending = con.execute(
        "SELECT e.sheet_id, count(*) FROM cell_events e JOIN sheet_state s ON s.sheet_id = e.sheet_id"
        " AND e.batch > s.watermark GROUP BY e.sheet_id"
    ).fetchall()
    now = time.monotonic()
    for sid, count in pending:
        if sid in states:
            states[sid].pending, states[sid].pending_since = count, now
    return batch, states


def claim_batch(con: duckdb.DuckDBPyConnection, expected: int | None, locked: bool = False) -> int:
    """Inside a lake transaction: the next batch number. Under a WriterLock the expected one is
    current (None: read it). Otherwise check that nobody else wrote since `expected`, and bump
    writer_state: that UPDATE also makes two concurrent writers conflict at commit."""
    if locked:
        return (lake_batch(con) if expected is None else expected) + 1
    current = con.execute("SELECT max(batch) FROM writer_state").fetchone()[0] or 0
    if expected is not None and current != expected:
        raise StateChanged(f"writer_state is at batch {current}, this writer expected {expected}")
    con.execute("UPDATE writer_state SET batch = ? WHERE id = 1", [current + 1])
    return current + 1


def save_states(con: duckdb.DuckDBPyConnection, states: list[SheetState]) -> None:
    if not states:
        return
    ids = ", ".join(str(int(s.sheet_id)) for s in states)
    con.execute(f"DELETE FROM sheet_state WHERE sheet_id IN ({ids})")
    rows = [s.row() for s in states]
    insert_columns(
        con,
        "sheet_state",
        ["BIGINT", "BIGINT", "VARCHAR", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR"],
        [list(c) for c in zip(*rows)],
    )


def drop_sheet(con: duckdb.DuckDBPyConnection, sheet_id: int) -> None:
    con.execute(f"DROP VIEW IF EXISTS {view_name(sheet_id)}")
    con.execute(f"DROP TABLE IF EXISTS {base_name(sheet_id)}")
    con.execute("DELETE FROM sheet_state WHERE sheet_id = ?", [int(sheet_id)])
    # Its history too: its operation log left PostgreSQL with it, and a deleted sheet's data
    # does not linger in dashboards.
    con.execute("DELETE FROM cell_history WHERE sheet_id = ?", [int(sheet_id)])
