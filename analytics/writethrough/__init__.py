"""Write-through of sheet data into DuckLake: the writer that follows the operation log, the
compactor that folds events into a per-sheet base table, the per-sheet views, and rebuilds.

Tables in the lake (all ours are `sheet_*`, `cell_events`, `writer_state`):

- `cell_events`: one row per changed cell or row, appended in batches. `batch` is the writer's
  batch number; `ord` orders the events of one sheet (version << 24 | index within the operation).
  `op` is 'set' (a cell: col, value as canonical text), 'insert' and 'move' (a row: position in
  `num`), 'delete' (a row).
- `sheet_<id>_base`: the sheet folded up to its watermark, one VARCHAR column per column key
  ever seen (deleted columns keep their values, as in PostgreSQL, so that undo brings them back).
- `sheet_<id>`: the VIEW charts and Superset query: base + events after the watermark, with the
  columns' names (sanitised, unique) and DuckDB types, plus `_row`, `_position`, `workspace_id`.
- `sheet_state`: per sheet, the watermark, the columns, the name, and a version applied;
  `sheet_versions`: appended by every batch, (batch, sheet, version applied). The checkpoint of
  a sheet is the highest version of the two.
- `writer_state`: with a SQLite catalog, the last batch number: every transaction that writes
  sheet data bumps it and checks it first, so two writers (or a writer and `rebuild_analytics`)
  can never interleave: one of them fails to commit, reloads its state from the lake and tries
  again. With a PostgreSQL catalog that read and UPDATE cost 40-70 ms of a 75 ms batch (an
  UPDATE in DuckLake is a delete file plus a data file, and the table grows with every batch),
  so there a PostgreSQL advisory lock serialises the writers instead (WriterLock): a writer
  holds it for one step, a compaction or one sheet's rebuild, and a generation counter in the
  catalog database (`ducklake.gridcast_writer`) tells it whether anyone else wrote since its own
  last transaction, in which case it reloads its state from the lake first. A batch is then
  appends only (cell_events, sheet_versions). The last batch number is the highest of
  writer_state, sheet_versions and the watermarks of sheet_state.

Commit order. Operation ids come from a sequence before commit, so a later id can be visible
before an earlier one, and rolled-back or cascade-deleted ids leave gaps that never fill. The
writer therefore does not follow ids: it follows each sheet's `version`. Versions are dense per
sheet and taken under the sheet's row lock (UPDATE ... RETURNING), so version v+1 cannot commit
before version v, and `sheets_sheet.version` is committed in the same transaction as the
operation. Each round the writer reads every sheet's (id, version), and for the sheets ahead
of their checkpoint reads the operations (checkpoint, version] by the unique (sheet, version)
index: all of them are committed, none can appear later below them, and no grace period is
needed. A sheet missing from `sheets_sheet` was deleted (ids are never reused): its view, base
table and state are dropped. The cost is one scan of `sheets_sheet` (id, version) per round,
a few milliseconds for thousands of sheets.

The events of a batch, the sheets' new versions and the batch number are committed in one
DuckLake transaction: a crash at any moment loses nothing (the checkpoint did not move) and
applies nothing twice (the events were not committed either).
"""
