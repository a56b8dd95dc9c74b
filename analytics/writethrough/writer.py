"""The writer: follows the operation log into the lake, one batch per step (see
analytics/writethrough/__init__.py for the tables and the commit order)."""

import contextlib
import copy
import logging
import time

from django.conf import settings

from analytics.lake.connections import connect, renewal_due, write_lock
from analytics.lake.schema import EVENT_TYPES, base_ddl, ensure_schema, view_sql
from sheets.column_types import value_type

from . import history
from .compactor import Compactor
from .lag import lake_lag_observe
from .lock import WriterLock
from .rebuild import rebuild_sheet
from .source import operations, sheet_versions
from .state import (
    SheetState,
    StateChanged,
    cell_text,
    claim_batch,
    drop_sheet,
    insert_columns,
    load_states,
    save_states,
)

log = logging.getLogger(__name__)

ORD_SHIFT = 24  # up to 16M events per operation (10,000 rows x 500 columns is 5M)


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


class Writer(Compactor):
    """Follows the operation log into the lake. One instance per process; `step()` applies one
    batch and returns how many operations it applied; `compact()` folds one sheet if one is due."""

    def __init__(self, con=None):
        self.con = con or connect()
        self.opened = time.monotonic()
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

    def renew_connection(self) -> bool:
        """Replace the lake connection once it is old (connections.renewal_due), between steps and
        with no fold running on it; whether it did."""
        if not renewal_due(self.opened) or getattr(self, "_fold_job", None) is not None:
            return False
        old, self.con, self.opened = self.con, connect(), time.monotonic()
        old.close()
        return True

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
            if self.lock is not None and not self._behind(sheet_versions()):
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
        return any(
            version > (self.states[sid].version if sid in self.states else 0) for sid, (_, version) in pg.items()
        )

    def _step(self):
        pg = sheet_versions()
        deleted = [sid for sid in self.states if sid not in pg]
        rebuild, behind = [], {}
        for sid, (_wid, version) in pg.items():
            state = self.states.get(sid)
            applied = state.version if state else 0
            if version > applied:
                if state is None and version > self.rebuild_above:
                    rebuild.append(sid)  # a long history: a snapshot is cheaper than the replay
                else:
                    behind[sid] = (applied, version)
        ops = operations(behind, self.max_ops) if behind else []

        events = []  # columns of cell_events
        changes = []  # rows of cell_history
        touched, schema_changed, renamed = {}, set(), set()
        stopped = set()
        newest = {}  # sheet: when its newest operation of the batch was committed (lake lag)
        for op in ops:
            sid, version, kind, payload = op.sheet_id, op.version, op.kind, op.payload
            if sid in stopped:
                continue
            newest[sid] = op.created_at
            log.debug("sheet %s v%s %s op_id %s to the lake", sid, version, kind, op.op_id)
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
            names = {key: column["name"] for key, column in state.columns.items()}
            changes.extend(history.rows_of(state.workspace_id, op, names))
            if outcome == "schema":
                schema_changed.add(sid)
            elif outcome == "renamed":
                renamed.add(sid)
        events = [e for e in events if e[0] not in stopped]
        changes = [c for c in changes if c[1] not in stopped]
        for sid in stopped:
            touched.pop(sid, None)
            schema_changed.discard(sid)

        if touched or deleted:
            self._commit(events, changes, touched, schema_changed | renamed, schema_changed, deleted)
            lake_lag_observe({sid: newest[sid] for sid in touched}, len(ops))
        for sid in rebuild:
            self._rebuild(sid)
        return len(ops)

    def _commit(self, events, changes, touched, meta_changed, schema_changed, deleted):
        with write_lock():
            self._commit_locked(events, changes, touched, meta_changed, schema_changed, deleted)

    def _commit_locked(self, events, changes, touched, meta_changed, schema_changed, deleted):
        con = self.con
        con.execute("BEGIN")
        try:
            batch = claim_batch(con, self.batch, self.lock is not None)
            if events:
                rows = [(sid, o, op, r, c, v, n) for sid, o, op, r, c, v, n in events]
                lists = [[batch] * len(rows)] + [list(col) for col in zip(*rows)]
                insert_columns(con, "cell_events", EVENT_TYPES, lists)
            history.append(con, changes)
            for sid in deleted:
                drop_sheet(con, sid)
            for sid in touched:
                if sid not in self.states:
                    con.execute(base_ddl(sid, []))
                    schema_changed.add(sid)
                    meta_changed.add(sid)
            save_states(con, [touched[sid] for sid in meta_changed])
            insert_columns(
                con,
                "sheet_versions",
                ["BIGINT", "BIGINT", "BIGINT"],
                [[batch] * len(touched), list(touched), [s.version for s in touched.values()]],
            )
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
        # The history of the operations the snapshot replaces is appended with it (those before
        # the sheet's checkpoint are in the lake already).
        applied = self.states[sid].version if sid in self.states else 0
        batch, state = rebuild_sheet(
            self.con, sid, expected_batch=self.batch, locked=self.lock is not None, history_from=applied
        )
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
            return "rebuild" if payload.get("reload") else _computed(payload, add) or "schema"
        elif kind == "column.rename":
            state.columns[payload["key"]]["name"] = payload["name"]
            return "schema"
        elif kind == "column.retype":
            if payload.get("reload") or payload.get("values") is None:
                return "rebuild"
            state.columns[payload["key"]]["type"] = payload["type"]
            state.columns[payload["key"]]["value_type"] = value_type(payload["type"], payload.get("options"))
            for row_id, value in payload["values"].items():
                add("set", int(row_id), payload["key"], cell_text(value))
            return _computed(payload, add) or "schema"
        elif kind == "column.move":
            state.columns[payload["key"]]["position"] = payload["position"]
            return "schema"
        elif kind == "column.delete":
            state.columns[payload["key"]]["deleted"] = True
            return "rebuild" if payload.get("reload") else _computed(payload, add) or "schema"
        elif kind == "sheet.restore":  # rows, cells and columns set back at once: read again from the database
            return "rebuild"
        elif kind == "formulas.compute":  # a batch of a background recompute (sheets.services.recompute)
            _computed(payload, add)
        else:
            log.warning("sheet %s version %s: unknown operation kind %r, skipped", sid, version, kind)
        return None

    def catch_up(self, timeout=60.0):
        """Apply batches until nothing is behind (tests, benches, rebuild)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.step() == 0 and self._idle():
                return
        raise TimeoutError("the writer did not catch up")

    def _idle(self):
        pg = sheet_versions()
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


def _computed(payload, add):
    """The formula cells an operation recomputed, as events (None: the caller's answer stands)."""
    for key, values in (payload.get("computed") or {}).items():
        for row_id, value in values.items():
            add("set", int(row_id), key, cell_text(value))


def _column_state(column):
    return {
        "name": column["name"],
        "type": column["type"],
        "value_type": value_type(column["type"], column.get("options")),
        "position": column["position"],
        "deleted": bool(column.get("deleted", False)),
    }
