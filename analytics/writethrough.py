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
import contextlib
import copy
import json
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q

from sheets.models import Column, Operation, Row, Sheet

from .lake import connect, postgres_conninfo, write_lock
from .lake import transaction as lake_transaction

log = logging.getLogger(__name__)

DUCKDB_TYPES = {
    "number": "DOUBLE", "integer": "BIGINT", "boolean": "BOOLEAN", "date": "DATE",
    "datetime": "TIMESTAMPTZ", "text": "VARCHAR", "choice": "VARCHAR",
}
RESERVED_NAMES = {"_row", "_position", "workspace_id"}
ORD_SHIFT = 24  # up to 16M events per operation (10,000 rows x 500 columns is 5M)


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


def view_name(sheet_id):
    return f"sheet_{int(sheet_id)}"


def base_name(sheet_id):
    return f"sheet_{int(sheet_id)}_base"


def quote_name(name):
    """A name as an SQL identifier (names from the lake's own state, never from requests)."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text):
    return "'" + text.replace("'", "''") + "'"


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def lake_text(text):
    """Text as the lake can take it: a NUL character or an unpaired surrogate (which the database
    may hold from before they were refused, e.g. SQLite's JSON) becomes U+FFFD. The lake refuses
    them, and the writer would retry that batch forever, holding every sheet back."""
    return _UNSTORABLE.sub("\ufffd", text)


def cell_text(value):
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


def column_names(columns):
    """{key: SQL column name} for the active columns: lower case letters, digits and
    underscores, not starting with a digit, unique, never one of the reserved names."""
    names, taken = {}, set(RESERVED_NAMES)
    for key, column in sorted(columns.items(), key=lambda kv: (kv[1]["position"], _key_number(kv[0]))):
        if column.get("deleted"):
            continue
        base = re.sub(r"[^0-9a-z_]+", "_", column["name"].strip().lower()).strip("_") or key
        if base[0].isdigit():
            base = "_" + base
        base = base[:60]
        name, number = base, 1
        while name in taken:
            number += 1
            name = f"{base}_{number}"
        taken.add(name)
        names[key] = name
    return names


def _key_number(key):
    return int(key[1:]) if key[1:].isdigit() else 0


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

    def row(self):
        return (self.sheet_id, self.workspace_id, lake_text(self.name), self.version, self.watermark,
                json.dumps(self.columns), json.dumps(self.base_keys))


# --- SQL of the merge and the view -------------------------------------------------------------


def merge_sql(state, upto=None):
    """SELECT of the sheet's raw state (_row, _position, one VARCHAR per known key): the base
    table plus the events after the watermark (up to batch `upto`). The last write per cell wins;
    a row (re)inserted ignores everything before its insert; a delete after the last insert
    removes the row."""
    sid = int(state.sheet_id)
    keys = sorted(set(state.columns) | set(state.base_keys), key=_key_number)
    bound = f" AND batch <= {int(upto)}" if upto is not None else ""
    picks = ", ".join(
        f"arg_max({{'v': ev.value}}, ev.ord) FILTER (WHERE ev.col = {_literal(k)}) AS {quote_name(k)}" for k in keys
    )
    cells = ", ".join(
        f"CASE WHEN c.{quote_name(k)} IS NOT NULL THEN c.{quote_name(k)}.v WHEN r.ins IS NOT NULL THEN NULL "
        f"ELSE {('b.' + quote_name(k)) if k in state.base_keys else 'NULL'} END AS {quote_name(k)}"
        for k in keys
    )
    return f"""
WITH ev AS (
  SELECT ord, op, row_ref, col, value, num FROM cell_events
   WHERE sheet_id = {sid} AND batch > {int(state.watermark)}{bound}
), r AS (
  SELECT row_ref, max(ord) FILTER (WHERE op = 'insert') AS ins, max(ord) FILTER (WHERE op = 'delete') AS del,
         arg_max(num, ord) FILTER (WHERE op IN ('insert', 'move')) AS pos
    FROM ev WHERE op <> 'set' GROUP BY row_ref
), c AS (
  SELECT ev.row_ref{', ' + picks if picks else ''}
    FROM ev LEFT JOIN r ON r.row_ref = ev.row_ref
   WHERE ev.op = 'set' AND ev.ord > coalesce(r.ins, -1) GROUP BY ev.row_ref
)
SELECT coalesce(b._row, r.row_ref) AS _row, coalesce(r.pos, b._position) AS _position{', ' + cells if cells else ''}
  FROM {base_name(sid)} b FULL JOIN r ON r.row_ref = b._row
  LEFT JOIN c ON c.row_ref = coalesce(b._row, r.row_ref)
 WHERE CASE WHEN r.ins IS NULL AND r.del IS NULL THEN b._row IS NOT NULL
            ELSE coalesce(r.ins, -1) > coalesce(r.del, -1) END
"""


def view_sql(state):
    names = column_names(state.columns)
    columns = [
        f"TRY_CAST(m.{quote_name(key)} AS {DUCKDB_TYPES.get(state.columns[key]['type'], 'VARCHAR')}) AS {quote_name(name)}"
        for key, name in names.items()
    ]
    select = ", ".join(["m._row", "m._position", f"{int(state.workspace_id)}::BIGINT AS workspace_id", *columns])
    return f"CREATE OR REPLACE VIEW {view_name(state.sheet_id)} AS SELECT {select} FROM ({merge_sql(state)}) m"


def _base_ddl(sheet_id, keys):
    columns = ", ".join(["_row BIGINT", "_position DOUBLE", *(f"{quote_name(k)} VARCHAR" for k in keys)])
    return f"CREATE OR REPLACE TABLE {base_name(sheet_id)} ({columns})"


def _insert_columns(con, table, types, columns):
    """Insert column lists (Python lists of equal length) in one statement: lists go in as JSON
    text and are unnested by DuckDB, which is much faster than binding Python lists or executemany."""
    if not columns or not columns[0]:
        return
    selects = ", ".join(f"unnest(from_json(${i + 1}, '[\"{t}\"]'))" for i, t in enumerate(types))
    con.execute(f"INSERT INTO {table} SELECT {selects}", [json.dumps(c, ensure_ascii=False) for c in columns])


# --- the lake's own tables ---------------------------------------------------------------------

SCHEMA = [
    "CREATE TABLE IF NOT EXISTS cell_events (batch BIGINT, sheet_id BIGINT, ord BIGINT, op VARCHAR, row_ref BIGINT,"
    " col VARCHAR, value VARCHAR, num DOUBLE)",
    "CREATE TABLE IF NOT EXISTS sheet_state (sheet_id BIGINT, workspace_id BIGINT, name VARCHAR, version BIGINT,"
    " watermark BIGINT, columns VARCHAR, base_keys VARCHAR)",
    "CREATE TABLE IF NOT EXISTS writer_state (id INTEGER, batch BIGINT)",
    # The per-batch checkpoint, append-only (a DELETE + INSERT of sheet_state per batch cost
    # ~20 ms): a sheet's applied version is the highest here or in sheet_state.
    "CREATE TABLE IF NOT EXISTS sheet_versions (batch BIGINT, sheet_id BIGINT, version BIGINT)",
]
INLINE_ROWS = 2000
EVENT_TYPES = ["BIGINT", "BIGINT", "BIGINT", "VARCHAR", "BIGINT", "VARCHAR", "VARCHAR", "DOUBLE"]


def ensure_schema(con):
    with write_lock():
        _ensure_schema(con)


def _ensure_schema(con):
    for statement in SCHEMA:
        con.execute(statement)
    # A batch of up to INLINE_ROWS events goes into the catalog's own tables instead of a Parquet
    # file of its own: under 200 edits/s a batch commits in ~17 ms instead of ~28, and a sheet's
    # view opens no file per batch. The worker's upkeep flushes them to Parquet (maintenance.py).
    # Only with a PostgreSQL catalog, where it was measured: SQLite allows one writer at a time.
    for table in ("cell_events", "sheet_versions"):
        limit = INLINE_ROWS if postgres_conninfo() else 0
        con.execute(f"CALL ducklake_set_option('lake', 'data_inlining_row_limit', {limit}, table_name => '{table}')")
    con.execute("BEGIN")
    try:
        if con.execute("SELECT count(*) FROM writer_state").fetchone()[0] == 0:
            con.execute("INSERT INTO writer_state VALUES (1, 0)")
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        if con.execute("SELECT count(*) FROM writer_state").fetchone()[0] == 0:
            raise


def lake_batch(con):
    """The last batch number committed in the lake (see the module's docstring)."""
    return con.execute(
        "SELECT greatest((SELECT max(batch) FROM writer_state), (SELECT max(batch) FROM sheet_versions),"
        " (SELECT max(watermark) FROM sheet_state))"
    ).fetchone()[0] or 0


def load_states(con):
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


class WriterLock:
    """The single-writer guard of a PostgreSQL catalog: a session advisory lock taken around each
    transaction that writes sheet data, on a psycopg connection of its own (a crashed holder's
    lock goes with its connection), and a generation counter bumped under the lock before each
    such transaction. `acquire()` returns True when someone else bumped it since this holder's
    last bump (then the holder's idea of the lake is stale: reload it)."""

    KEY = 0x47726964636173  # "Gridcas"

    def __init__(self, conninfo):
        import psycopg

        self.pg = psycopg.connect(conninfo, autocommit=True)
        self.seen = None
        self.held = False
        for attempt in range(5):
            try:
                self.pg.execute("CREATE TABLE IF NOT EXISTS ducklake.gridcast_writer (id INTEGER PRIMARY KEY,"
                                " generation BIGINT NOT NULL)")
                self.pg.execute("INSERT INTO ducklake.gridcast_writer VALUES (1, 0) ON CONFLICT DO NOTHING")
                break
            except psycopg.errors.UniqueViolation:  # created by another process at the same moment
                if attempt == 4:
                    raise
                time.sleep(0.05)

    @classmethod
    def open(cls):
        """A lock for this catalog, or None when the catalog is not PostgreSQL."""
        conninfo = postgres_conninfo()
        return cls(conninfo) if conninfo else None

    def acquire(self):
        self.pg.execute("SELECT pg_advisory_lock(%s)", [self.KEY])
        self.held = True
        try:
            generation = self.pg.execute("UPDATE ducklake.gridcast_writer SET generation = generation + 1"
                                         " WHERE id = 1 RETURNING generation").fetchone()[0]
        except BaseException:
            self.release()
            raise
        stale = self.seen is None or generation != self.seen + 1
        self.seen = generation
        return stale

    def release(self):
        if self.held:
            self.held = False
            self.pg.execute("SELECT pg_advisory_unlock(%s)", [self.KEY])

    def close(self):
        try:
            self.release()
        finally:
            self.pg.close()


def _claim_batch(con, expected, locked=False):
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


def _save_states(con, states):
    if not states:
        return
    ids = ", ".join(str(int(s.sheet_id)) for s in states)
    con.execute(f"DELETE FROM sheet_state WHERE sheet_id IN ({ids})")
    rows = [s.row() for s in states]
    _insert_columns(con, "sheet_state", ["BIGINT", "BIGINT", "VARCHAR", "BIGINT", "BIGINT", "VARCHAR", "VARCHAR"],
                    [list(c) for c in zip(*rows)])


def _drop_sheet(con, sheet_id):
    con.execute(f"DROP VIEW IF EXISTS {view_name(sheet_id)}")
    con.execute(f"DROP TABLE IF EXISTS {base_name(sheet_id)}")
    con.execute("DELETE FROM sheet_state WHERE sheet_id = ?", [int(sheet_id)])


# --- reading PostgreSQL (or SQLite) ------------------------------------------------------------


def _sheet_versions():
    return {sid: (wid, version) for sid, wid, version in Sheet.objects.values_list("id", "workspace_id", "version")}


def _operations(behind, limit):
    """Operations (sheet, version, kind, payload) of the sheets behind, after their checkpoint and
    up to the version read, by sheet then version; at most about `limit` (whole sheets' prefixes)."""
    found, total = [], 0
    items = sorted(behind.items())
    for start in range(0, len(items), 100):
        query = Q()
        for sid, (low, high) in items[start:start + 100]:
            query |= Q(sheet_id=sid, version__gt=low, version__lte=min(high, low + limit))
        ops = list(Operation.objects.filter(query).order_by("sheet_id", "version")
                   .values_list("sheet_id", "version", "kind", "payload")[: limit - total])
        found.extend(ops)
        total += len(ops)
        if total >= limit:
            break
    return found


def sheet_columns(sheet_id):
    """The sheet's columns as the database has them, deleted ones too, in the shape of the lake's
    state: {key: {name, type, position, deleted}}."""
    return {
        c.key: {"name": c.name, "type": c.type, "position": c.position, "deleted": c.deleted}
        for c in Column.objects.filter(sheet_id=sheet_id)
    }


def read_sheet_snapshot(sheet_id, repeatable=True, chunk=20_000):
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
        for row in Row.objects.filter(sheet_id=sheet_id).order_by("id").values_list("id", "position", "data").iterator(chunk):
            batch.append(row)
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    return sheet, columns, total, chunks()


def rebuild_sheet(con, sheet_id, expected_batch=None, progress=None, locked=False):
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
            batch = _claim_batch(con, expected_batch, locked)
            if snapshot is None:
                _drop_sheet(con, sheet_id)
                return batch, None
            sheet, columns, total, chunks = snapshot
            if progress:
                progress(0, total)
            keys = sorted(columns, key=_key_number)
            con.execute(_base_ddl(sheet_id, keys))
            for rows in chunks:
                lists = [[r[0] for r in rows], [r[1] for r in rows]]
                lists.extend([cell_text(r[2].get(k)) for r in rows] for k in keys)
                _insert_columns(con, base_name(sheet_id), ["BIGINT", "DOUBLE", *(["VARCHAR"] * len(keys))], lists)
                if progress:
                    progress(len(rows), total)
            state = SheetState(sheet_id, sheet["workspace_id"], sheet["name"], sheet["version"], batch, columns, keys)
            _save_states(con, [state])
            con.execute(view_sql(state))
    return batch, state


# --- the writer --------------------------------------------------------------------------------


class Writer:
    """Follows the operation log into the lake. One instance per process; `step()` applies one
    batch and returns how many operations it applied; `compact()` folds one sheet if one is due."""

    def __init__(self, con=None):
        self.con = con or connect()
        ensure_schema(self.con)
        self.lock = WriterLock.open()  # None with a SQLite catalog
        self.batch, self.states = 0, {}
        with self._locked():
            if self.lock is None:
                self.batch, self.states = load_states(self.con)
        self.max_ops = _setting("WRITER_MAX_OPERATIONS", 5000)
        self.rebuild_above = _setting("WRITER_REBUILD_ABOVE", 1000)
        # Tests replace this to crash between the append and the commit.
        self.before_commit = None
        self.applied = {}  # sheet id -> workspace id: sheets with new data in the lake, until taken

    def take_applied(self):
        """The sheets (id -> workspace id) whose new data was committed since the last call."""
        applied, self.applied = self.applied, {}
        return applied

    def reload(self):
        try:
            self.con.execute("ROLLBACK")
        except Exception:
            pass
        self.batch, self.states = load_states(self.con)

    @contextlib.contextmanager
    def _locked(self):
        """Hold the WriterLock (if any) for one step or compaction; reload the lake's state first
        when another writer or a rebuild wrote since our last transaction."""
        if self.lock is None:
            yield
            return
        if self.lock.acquire():
            try:
                self.reload()
            except BaseException:
                self.lock.release()
                raise
        try:
            yield
        finally:
            self.lock.release()

    # A batch ------------------------------------------------------------------------------

    def step(self):
        try:
            if self.lock is not None and not self._behind(_sheet_versions()):
                # Nothing to do (a rebuild only ever moves sheets forward, so a stale state
                # cannot hide work): no lock, no generation bump, just the scan of versions.
                return 0
            with self._locked():
                return self._step()
        except StateChanged as error:
            log.info("lake changed under the writer (%s): reloading its state", error)
            self.reload()
            return 0
        except Exception as error:
            if "conflict" in str(error).lower():
                log.info("lake transaction conflict: reloading the writer's state (%s)", error)
                self.reload()
                return 0
            raise

    def _behind(self, pg):
        if any(sid not in pg for sid in self.states):
            return True
        return any(version > (self.states[sid].version if sid in self.states else 0) for sid, (_, version) in pg.items())

    def _step(self):
        pg = _sheet_versions()
        deleted = [sid for sid in self.states if sid not in pg]
        rebuild, behind = [], {}
        for sid, (wid, version) in pg.items():
            state = self.states.get(sid)
            applied = state.version if state else 0
            if version > applied:
                if state is None and version > self.rebuild_above:
                    rebuild.append(sid)  # a long history: a snapshot is cheaper than the replay
                else:
                    behind[sid] = (applied, version)
        ops = _operations(behind, self.max_ops) if behind else []

        events = []  # columns of cell_events
        touched, schema_changed, renamed = {}, set(), set()
        stopped = set()
        for sid, version, kind, payload in ops:
            if sid in stopped:
                continue
            state = touched.get(sid)
            if state is None:  # a copy: the committed state stays as it was until the commit
                committed = self.states.get(sid)
                state = copy.deepcopy(committed) if committed else SheetState(sid, pg[sid][0])
            if version != state.version + 1:  # cannot happen (dense versions); be safe
                log.warning("sheet %s: expected version %s, got %s", sid, state.version + 1, version)
                stopped.add(sid)
                continue
            outcome = self._apply(state, version, kind, payload, events)
            if outcome == "rebuild":
                rebuild.append(sid)
                stopped.add(sid)
                # Its events of this batch are superseded by the snapshot; keep its state as it was.
                touched.pop(sid, None)
                continue
            state.version = version
            touched[sid] = state
            if outcome == "schema":
                schema_changed.add(sid)
            elif outcome == "renamed":
                renamed.add(sid)
        events = [e for e in events if e[0] not in stopped]
        for sid in stopped:
            touched.pop(sid, None)
            schema_changed.discard(sid)

        if touched or deleted:
            self._commit(events, touched, schema_changed | renamed, schema_changed, deleted)
        for sid in rebuild:
            self._rebuild(sid)
        return len(ops)

    def _commit(self, events, touched, meta_changed, schema_changed, deleted):
        with write_lock():
            self._commit_locked(events, touched, meta_changed, schema_changed, deleted)

    def _commit_locked(self, events, touched, meta_changed, schema_changed, deleted):
        con = self.con
        con.execute("BEGIN")
        try:
            batch = _claim_batch(con, self.batch, self.lock is not None)
            if events:
                rows = [(sid, o, op, r, c, v, n) for sid, o, op, r, c, v, n in events]
                lists = [[batch] * len(rows)] + [list(col) for col in zip(*rows)]
                _insert_columns(con, "cell_events", EVENT_TYPES, lists)
            for sid in deleted:
                _drop_sheet(con, sid)
            for sid, state in touched.items():
                if sid not in self.states:
                    con.execute(_base_ddl(sid, []))
                    schema_changed.add(sid)
                    meta_changed.add(sid)
            _save_states(con, [touched[sid] for sid in meta_changed])
            _insert_columns(con, "sheet_versions", ["BIGINT", "BIGINT", "BIGINT"],
                            [[batch] * len(touched), list(touched), [s.version for s in touched.values()]])
            for sid in schema_changed:
                con.execute(view_sql(touched[sid]))
            if self.before_commit:
                self.before_commit()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            # Our in-memory states were changed by the batch: read them back as committed.
            self.batch, self.states = load_states(con)
            raise
        self.batch = batch
        now = time.monotonic()
        counts = {}
        for e in events:
            counts[e[0]] = counts.get(e[0], 0) + 1
        for sid in deleted:
            self.states.pop(sid, None)
        for sid, state in touched.items():
            self.states[sid] = state
            self.applied[sid] = state.workspace_id
            if counts.get(sid):
                state.pending += counts[sid]
                state.pending_since = state.pending_since or now

    def _rebuild(self, sid):
        batch, state = rebuild_sheet(self.con, sid, expected_batch=self.batch, locked=self.lock is not None)
        self.batch = batch
        if state is None:
            self.states.pop(sid, None)
        else:
            self.states[sid] = state
            self.applied[sid] = state.workspace_id
        log.info("sheet %s rebuilt from the database at version %s", sid, state.version if state else "-")

    def _apply(self, state, version, kind, payload, events):
        """Turn one operation into events (appended to `events`) and state changes. Returns None,
        "schema" (the view must change) or "rebuild" (the operation's data is not in its payload)."""
        sid = state.sheet_id
        counter = iter(range(1 << ORD_SHIFT))
        base = version << ORD_SHIFT

        def add(op, row, col=None, value=None, num=None):
            events.append((sid, base + next(counter), op, row, col, value, num))

        if kind == "cells.update":
            for cell in payload.get("cells", []):
                add("set", cell["row"], cell["col"], cell_text(cell.get("value")))
        elif kind == "rows.insert":
            if payload.get("bulk") or "rows" not in payload:
                return "rebuild"
            for row in payload["rows"]:
                add("insert", row["id"], num=row.get("position"))
                for key, value in (row.get("values") or {}).items():
                    add("set", row["id"], key, cell_text(value))
            for row_id, position in (payload.get("repositioned") or {}).items():
                add("move", int(row_id), num=position)
        elif kind == "rows.delete":
            for row_id in payload.get("ids", []):
                add("delete", row_id)
        elif kind == "rows.move":
            for row_id, position in zip(payload.get("ids", []), payload.get("positions", [])):
                add("move", row_id, num=position)
            for row_id, position in (payload.get("repositioned") or {}).items():
                add("move", int(row_id), num=position)
        elif kind == "sheet.create":
            state.name = payload.get("name", state.name)
            for column in payload.get("columns", []):
                state.columns[column["key"]] = _column_state(column)
            return "schema"
        elif kind == "sheet.rename":
            state.name = payload.get("name", state.name)
            return "renamed"
        elif kind == "column.add":
            state.columns[payload["column"]["key"]] = _column_state(payload["column"])
            return "schema"
        elif kind == "column.rename":
            state.columns[payload["key"]]["name"] = payload["name"]
            return "schema"
        elif kind == "column.retype":
            if payload.get("reload") or payload.get("values") is None:
                return "rebuild"
            state.columns[payload["key"]]["type"] = payload["type"]
            for row_id, value in payload["values"].items():
                add("set", int(row_id), payload["key"], cell_text(value))
            return "schema"
        elif kind == "column.move":
            state.columns[payload["key"]]["position"] = payload["position"]
            return "schema"
        elif kind == "column.delete":
            state.columns[payload["key"]]["deleted"] = True
            return "schema"
        else:
            log.warning("sheet %s version %s: unknown operation kind %r, skipped", sid, version, kind)
        return None

    # The compactor --------------------------------------------------------------------------

    def due_for_compaction(self):
        threshold = _setting("COMPACT_EVENTS", 20_000)
        age = _setting("COMPACT_SECONDS", 30.0)
        now = time.monotonic()
        due = [s for s in self.states.values()
               if s.pending >= threshold or (s.pending and s.pending_since and now - s.pending_since >= age)]
        return max(due, key=lambda s: s.pending, default=None)

    def compact(self, state=None):
        """Fold one sheet's events up to the last batch into a new base table and move its
        watermark there, in one lake transaction. Events are never deleted (a DELETE conflicts
        with concurrent appends); the view reads only those after the watermark."""
        if state is None and self.due_for_compaction() is None:
            return None
        try:
            with self._locked():
                # After a reload, the state of the sheet as committed (or none: it is gone).
                state = self.states.get(state.sheet_id) if state is not None else self.due_for_compaction()
                if state is None:
                    return None
                return self._compact(state)
        except StateChanged as error:
            log.info("lake changed under the compactor (%s): reloading", error)
            self.reload()
        except Exception as error:
            if "conflict" not in str(error).lower():
                raise
            log.info("compaction conflict: reloading (%s)", error)
            self.reload()
        return None

    def _compact(self, state, prepared=None):
        """`prepared`: (table in the in-memory database holding the fold, the batch it goes up
        to, the events it folded, the keys, when it started), made by a background fold (see compact_in_background)."""
        with write_lock():
            return self._compact_locked(state, prepared)

    def _compact_locked(self, state, prepared):
        con = self.con
        started = time.perf_counter()
        keys = prepared[3] if prepared else sorted(set(state.columns) | set(state.base_keys), key=_key_number)
        folded = SheetState(state.sheet_id, state.workspace_id, state.name, state.version, state.watermark,
                            dict(state.columns), list(state.base_keys))
        con.execute("BEGIN")
        try:
            batch = _claim_batch(con, self.batch, self.lock is not None)
            table = base_name(state.sheet_id)
            if prepared:
                source = prepared[0]
            else:
                con.execute(f"CREATE TEMP TABLE _folded AS {merge_sql(state, upto=self.batch)}")
                source = "_folded"
            con.execute(_base_ddl(state.sheet_id, keys))
            con.execute(f"INSERT INTO {table} SELECT _row, _position{''.join(', ' + quote_name(k) for k in keys)} FROM {source}")
            if not prepared:
                con.execute("DROP TABLE _folded")
            # The watermark: the last batch folded. Without a prepared fold that is every batch
            # so far, and the batch claimed here (which has no events) serves as well.
            folded.watermark, folded.base_keys = (prepared[1] if prepared else batch), keys
            _save_states(con, [folded])
            con.execute(view_sql(folded))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            try:
                con.execute("DROP TABLE IF EXISTS temp._folded")
            except Exception:
                pass
            raise
        self.batch = batch
        if prepared and state.pending > prepared[2]:  # events appended since the fold started
            folded.pending, folded.pending_since = state.pending - prepared[2], prepared[4]
        else:
            folded.pending, folded.pending_since = 0, None
        self.states[state.sheet_id] = folded
        log.info("sheet %s compacted: %s events folded in %.0f ms", state.sheet_id, state.pending,
                 (time.perf_counter() - started) * 1000)
        return folded

    def compact_in_background(self):
        """The worker's compaction, which does not hold up batches: the fold of a due sheet (the
        costly part: the view's merge over every pending event) runs in a thread, on a cursor of
        this connection, into a table of the in-memory database, up to the last batch committed
        when it starts; the writer keeps applying batches meanwhile. Once the fold is ready, a
        short lake transaction under the WriterLock installs it (base table, watermark = the last
        batch folded, view), unless the sheet's columns, base or watermark changed meanwhile (a
        schema change, a rebuild, a reload): then the fold is dropped and done again later.
        Returns the sheet's new state when one was installed."""
        job = getattr(self, "_fold_job", None)
        if job is None:
            state = self.due_for_compaction()
            if state is None:
                return None
            snapshot = copy.deepcopy(state)
            upto = self.batch
            keys = sorted(set(snapshot.columns) | set(snapshot.base_keys), key=_key_number)
            table = f"memory.main._fold_{int(snapshot.sheet_id)}"
            job = self._fold_job = {"state": snapshot, "upto": upto, "keys": keys, "table": table,
                                    "count": snapshot.pending, "started": time.monotonic(), "error": None, "done": threading.Event()}

            def fold():
                try:
                    cursor = self.con.cursor()
                    try:
                        cursor.execute("USE lake")
                        cursor.execute(f"CREATE OR REPLACE TABLE {table} AS {merge_sql(snapshot, upto=upto)}")
                    finally:
                        cursor.close()
                except Exception as error:  # noqa: BLE001 - reported when installed
                    job["error"] = error
                finally:
                    job["done"].set()

            threading.Thread(target=fold, name="lake-fold", daemon=True).start()
            return None
        if not job["done"].is_set():
            return None
        self._fold_job = None
        installed = None
        try:
            if job["error"] is not None:
                log.warning("background fold of sheet %s failed: %s", job["state"].sheet_id, job["error"])
                return None
            with self._locked():
                before, current = job["state"], self.states.get(job["state"].sheet_id)
                if (current is None or current.watermark != before.watermark or current.base_keys != before.base_keys
                        or set(current.columns) != set(before.columns)):
                    log.info("sheet %s changed during its fold: compacted later", before.sheet_id)
                    return None
                installed = self._compact(current, prepared=(job["table"], job["upto"], job["count"], job["keys"],
                                                             job["started"]))
        except StateChanged as error:
            log.info("lake changed under the compactor (%s): reloading", error)
            self.reload()
        except Exception as error:
            if "conflict" not in str(error).lower():
                raise
            log.info("compaction conflict: reloading (%s)", error)
            self.reload()
        finally:
            try:
                self.con.execute(f"DROP TABLE IF EXISTS {job['table']}")
            except Exception:  # noqa: BLE001 - an in-memory table: gone with the connection anyway
                pass
        return installed

    def catch_up(self, timeout=60.0):
        """Apply batches until nothing is behind (tests, benches, rebuild)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.step() == 0 and self._idle():
                return
        raise TimeoutError("the writer did not catch up")

    def _idle(self):
        pg = _sheet_versions()
        return set(pg) == set(self.states) and all(self.states[s].version >= v for s, (_, v) in pg.items())

    def close(self):
        job = getattr(self, "_fold_job", None)
        if job is not None:
            job["done"].wait(60)
        try:
            if self.lock is not None:
                self.lock.close()
        finally:
            self.con.close()


def _column_state(column):
    return {"name": column["name"], "type": column["type"], "position": column["position"],
            "deleted": bool(column.get("deleted", False))}


def announce(applied):
    """New data of these sheets (id -> workspace id) is in the lake: the live dashboards of their
    workspaces recompute and the sheets' alert rules are evaluated. Failures are logged: the data
    is committed whatever happens here."""
    from . import alerts, notify

    for workspace_id in set(applied.values()):
        try:
            notify.data_arrived(workspace_id)
        except Exception:
            log.exception("dashboards of workspace %s not told of new sheet data", workspace_id)
    try:
        alerts.sheet_rules_evaluate(sheet_ids=applied)
    except Exception:  # each rule's failure is caught inside: this is the query of the rules
        log.exception("alert rules of sheets %s not evaluated", sorted(applied))


def evaluate_alerts(between=None):
    """The periodic pass over every enabled alert rule (ANALYTICS["ALERT_INTERVAL"]); failures are
    logged. `between()` runs between workspaces' turns (alerts._evaluate_fairly)."""
    from . import alerts

    try:
        alerts.rules_evaluate_all(between=between)
    except Exception:
        log.exception("periodic evaluation of alert rules failed")


class Announcer:
    """announce() and the periodic alert pass, in a thread of their own: a push and the rules'
    queries take milliseconds, and batches come every few tens of milliseconds, so the writer
    only hands over what it applied. Sheets applied while an announcement runs go in the next."""

    def __init__(self, stop):
        self.stop, self.wake, self.lock, self.pending = stop, threading.Event(), threading.Lock(), {}
        self.thread = threading.Thread(target=self._run, name="lake-announcer", daemon=True)
        self.thread.start()

    def add(self, applied):
        with self.lock:
            self.pending.update(applied)
        self.wake.set()

    def _announce_pending(self):
        """Announce the sheets applied so far (also between the turns of a long alert pass)."""
        with self.lock:
            applied, self.pending = self.pending, {}
        if applied:
            announce(applied)

    def _run(self):
        from django.db import connections

        interval = _setting("ALERT_INTERVAL", 5.0)
        alerts_due = time.monotonic()
        try:
            while not self.stop.is_set():
                if interval and time.monotonic() >= alerts_due:
                    alerts_due = time.monotonic() + interval
                    evaluate_alerts(between=self._announce_pending)
                self.wake.wait(max(0.0, alerts_due - time.monotonic()) if interval else 1.0)
                self.wake.clear()
                with self.lock:
                    applied, self.pending = self.pending, {}
                if applied:
                    announce(applied)
        finally:
            from . import selectors

            selectors.close()  # the lake connection of this thread's rule evaluations
            connections.close_all()

    def join(self, timeout=30):
        self.wake.set()
        self.thread.join(timeout)


class Wakeup:
    """What the idle worker waits on: with PostgreSQL, the NOTIFY that every change of
    sheets_sheet sends (migration analytics 0005), so a batch starts as soon as an edit commits
    and the poll every `interval` is only a fallback; otherwise the interval alone."""

    CHANNEL = "gridcast_sheets"
    FALLBACK = 0.5  # seconds between polls when notifications wake the worker

    def __init__(self, stop, interval):
        from django.db import connection as db

        self.stop, self.interval, self.pg = stop, interval, None
        if db.vendor == "postgresql":
            import psycopg

            params = db.get_connection_params()
            params.pop("cursor_factory", None)
            params.pop("context", None)
            self.pg = psycopg.connect(**params, autocommit=True)
            self.pg.execute(f"LISTEN {self.CHANNEL}")
            self.interval = max(interval, self.FALLBACK)

    def wait(self):
        """Until a sheet changes, `interval` passes or `stop` is set."""
        if self.pg is None:
            self.stop.wait(self.interval)
            return
        deadline = time.monotonic() + self.interval
        while not self.stop.is_set() and time.monotonic() < deadline:
            # In slices, so that `stop` is seen within 0.1 s.
            if any(True for _ in self.pg.notifies(timeout=min(0.1, max(0.0, deadline - time.monotonic())), stop_after=1)):
                for _ in self.pg.notifies(timeout=0.0):  # the others queued meanwhile: one batch serves them all
                    pass
                break

    def close(self):
        if self.pg is not None:
            self.pg.close()


def run(stop, interval=None, on_progress=None):
    """The worker loop: a batch every `interval` seconds (less when behind), a compaction when one
    is due, until `stop` (a threading.Event) is set; beside it the Announcer (dashboards and alert
    rules of the sheets applied, every alert rule every ALERT_INTERVAL seconds), the lake's
    maintenance and the metric rollup (analytics/rollup.py). Errors are logged and retried after a pause."""
    from . import maintenance, rollup

    interval = interval if interval is not None else _setting("WRITER_INTERVAL", 0.02)
    writer = None
    announcer = Announcer(stop)
    helpers = []
    # A SQLite catalog takes one writer at a time: there the writer's loop refreshes the rollup on
    # its own connection, rather than one more connection contending for the file.
    rollup_every = _setting("ROLLUP_SECONDS", 2.0)
    rollup_due = None if postgres_conninfo() or not rollup_every else time.monotonic()
    for loop, every, name in ((maintenance.run, _setting("MAINTENANCE_SECONDS", 5.0), "lake-maintenance"),
                              (rollup.run, rollup_every if rollup_due is None else 0, "metric-rollup")):
        if every:
            helpers.append(threading.Thread(target=loop, args=(stop,), name=name, daemon=True))
            helpers[-1].start()
    wakeup = None
    try:
        while not stop.is_set():
            try:
                if writer is None:
                    writer = Writer()
                    wakeup = Wakeup(stop, interval)
                    log.info("analytics writer started at batch %s with %s sheets", writer.batch, len(writer.states))
                applied = writer.step()
                if on_progress and applied:
                    on_progress(writer, applied)
                if writer.applied:
                    announcer.add(writer.take_applied())
                if applied < writer.max_ops:
                    if writer.lock is not None:
                        writer.compact_in_background()
                    else:
                        writer.compact()
                if rollup_due is not None and time.monotonic() >= rollup_due:
                    rollup_due = time.monotonic() + rollup_every
                    try:
                        rollup.refresh(writer.con)
                    except Exception:  # the sheets' batches go on; the next refresh folds these too
                        log.exception("metric rollup failed; retrying in %s s", rollup_every)
                if not applied:
                    wakeup.wait()
            except Exception:
                log.exception("analytics writer failed; retrying in 2 s")
                for resource in (writer, wakeup):
                    if resource is not None:
                        try:
                            resource.close()
                        except Exception:
                            pass
                writer = wakeup = None
                stop.wait(2.0)
    finally:
        for resource in (writer, wakeup):
            if resource is not None:
                resource.close()
        announcer.join()
        for helper in helpers:
            helper.join(timeout=30)
        from django.db import connections

        connections.close_all()
