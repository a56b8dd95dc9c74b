"""Rebuild a sheet's lake data from a snapshot of PostgreSQL (`manage.py rebuild_analytics`, and the
writer for operations whose data is not in their payload)."""

from collections.abc import Callable

import duckdb
from django.db import connection, transaction

from analytics.lake.connections import transaction as lake_transaction
from analytics.lake.schema import base_ddl, base_name, key_number, view_sql

from .lock import WriterLock
from .source import read_sheet_snapshot
from .state import SheetState, cell_text, claim_batch, drop_sheet, insert_columns, save_states


def rebuild_sheet(
    con: duckdb.DuckDBPyConnection,
    sheet_id: int,
    expected_batch: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    locked: bool = False,
) -> tuple[int, SheetState | None]:
    """Replace the sheet's lake data by a snapshot of PostgreSQL, in one lake transaction, and
    set its checkpoint to the snapshot's version. Returns (new batch number, SheetState or None
    when the sheet no longer exists). `locked`: the caller holds the WriterLock (otherwise this
    takes it, with a PostgreSQL catalog)."""
    if locked:
        return _rebuild_sheet(con, sheet_id, expected_batch, progress, True)
    lock = WriterLock.open()
    if lock is None:
        return _rebuild_sheet(con, sheet_id, expected_batch, progress, False)
    try:
        lock.acquire()
        return _rebuild_sheet(con, sheet_id, None, progress, True)
    finally:
        lock.close()


def _rebuild_sheet(con, sheet_id, expected_batch, progress, locked):
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
            state = SheetState(sheet_id, sheet["workspace_id"], sheet["name"], sheet["version"], batch, columns, keys)
            save_states(con, [state])
            con.execute(view_sql(state))
    return batch, state
