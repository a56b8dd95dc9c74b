"""Rebuild a sheet's lake data from a snapshot of PostgreSQL (`manage.py rebuild_analytics`, and the
writer for operations whose data is not in their payload)."""

from collections.abc import Callable

import duckdb
from django.db import connection, transaction

from analytics.lake.connections import transaction as lake_transaction
from analytics.lake.schema import base_ddl, base_name, key_number, view_sql

from . import history
from .lock import WriterLock
from .source import logged_operations, read_sheet_snapshot
from .state import SheetState, cell_text, claim_batch, drop_sheet, insert_columns, save_states


def rebuild_sheet(
    con: duckdb.DuckDBPyConnection,
    sheet_id: int,
    expected_batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    locked: bool = False,
    history_from: int = 0,
) -> tuple[int, SheetState | None]:
    """Replace the sheet's lake data by a snapshot of PostgreSQL, in one lake transaction, and
    set its checkpoint to the snapshot's version; its history (cell_history) after version
    `history_from` is written again from the operation log (all of it with 0, as
    `rebuild_analytics` does). Returns (new batch number, SheetState or None when the sheet no
    longer exists). `locked`: the caller holds the WriterLock (otherwise this takes it, with a
    PostgreSQL catalog)."""
    if locked:
        return _rebuild_sheet(con, sheet_id, expected_batch, progress, True, history_from)
    lock = WriterLock.open()
    if lock is None:
        return _rebuild_sheet(con, sheet_id, expected_batch, progress, False, history_from)
    try:
        lock.acquire()
        return _rebuild_sheet(con, sheet_id, None, progress, True, history_from)
    finally:
        lock.close()


def _replay_history(con, sheet, columns, history_from, chunk=20_000):
    """The sheet's history rows after `history_from`, from its operation log (in the snapshot's
    transaction), with each column's name as it was then (a replay of creations and renames)."""
    history.forget(con, sheet["id"], history_from)
    names = {key: column["name"] for key, column in columns.items()} if history_from else {}
    rows = []
    for op in logged_operations(sheet["id"], history_from, sheet["version"]):
        history.follow_names(names, op.kind, op.payload)
        rows.extend(history.rows_of(sheet["workspace_id"], op, names))
        if len(rows) >= chunk:
            history.append(con, rows)
            rows = []
    history.append(con, rows)


def _rebuild_sheet(con, sheet_id, expected_batch, progress, locked, history_from):
    outer = connection.in_atomic_block  # tests inside a transaction cannot change its isolation
    with transaction.atomic():
        snapshot = read_sheet_snapshot(sheet_id, repeatable=not outer)
        with lake_transaction(con):
            batch = claim_batch(con, expected_batch, locked)
            if snapshot is None:
                drop_sheet(con, sheet_id)
                return batch, None
            sheet, columns, total, chunks = snapshot
            if progress:
                progress(0, total)
            keys = sorted(columns, key=key_number)
            con.execute(base_ddl(sheet_id, keys))
            for rows in chunks:
                lists = [[r[0] for r in rows], [r[1] for r in rows]]
                lists.extend([cell_text(r[2].get(k)) for r in rows] for k in keys)
                insert_columns(con, base_name(sheet_id), ["BIGINT", "DOUBLE", *(["VARCHAR"] * len(keys))], lists)
                if progress:
                    progress(len(rows), total)
            _replay_history(con, sheet, columns, history_from)
            state = SheetState(sheet_id, sheet["workspace_id"], sheet["name"], sheet["version"], batch, columns, keys)
            save_states(con, [state])
            con.execute(view_sql(state))
    return batch, state
