"""The compactor: folds a sheet's events into a new base table and moves its watermark (a mixin of
the Writer, whose connection, lock and states it shares)."""

import copy
import logging
import threading
import time

from django.conf import settings

from analytics.lake.connections import write_lock
from analytics.lake.schema import base_ddl, base_name, key_number, merge_sql, quote_name, view_sql

from .state import SheetState, StateChanged, claim_batch, save_states

log = logging.getLogger(__name__)


def _setting(name, default):
    return settings.ANALYTICS.get(name, default)


class Compactor:
    """Needs of its host (the Writer): con, lock, batch, states, _locked(), reload()."""

    def due_for_compaction(self) -> SheetState | None:
        threshold = _setting("COMPACT_EVENTS", 20_000)
        age = _setting("COMPACT_SECONDS", 30.0)
        now = time.monotonic()
        due = [
            s
            for s in self.states.values()
            if s.pending >= threshold or (s.pending and s.pending_since and now - s.pending_since >= age)
        ]
        return max(due, key=lambda s: s.pending, default=None)

    def compact(self, state: SheetState | None = None) -> SheetState | None:
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
        keys = prepared[3] if prepared else sorted(set(state.columns) | set(state.base_keys), key=key_number)
        folded = SheetState(
            state.sheet_id,
            state.workspace_id,
            state.name,
            state.version,
            state.watermark,
            dict(state.columns),
            list(state.base_keys),
        )
        con.execute("BEGIN")
        try:
            batch = claim_batch(con, self.batch, self.lock is not None)
            table = base_name(state.sheet_id)
            if prepared:
                source = prepared[0]
            else:
                con.execute(f"CREATE TEMP TABLE _folded AS {merge_sql(state, upto=self.batch)}")
                source = "_folded"
            con.execute(base_ddl(state.sheet_id, keys))
            con.execute(
                f"INSERT INTO {table} SELECT _row, _position{''.join(', ' + quote_name(k) for k in keys)} FROM {source}"
            )
            if not prepared:
                con.execute("DROP TABLE _folded")
            # The watermark: the last batch folded. Without a prepared fold that is every batch
            # so far, and the batch claimed here (which has no events) serves as well.
            folded.watermark, folded.base_keys = (prepared[1] if prepared else batch), keys
            save_states(con, [folded])
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
        log.info(
            "sheet %s compacted: %s events folded in %.0f ms",
            state.sheet_id,
            state.pending,
            (time.perf_counter() - started) * 1000,
        )
        return folded

    def compact_in_background(self) -> SheetState | None:
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
            keys = sorted(set(snapshot.columns) | set(snapshot.base_keys), key=key_number)
            table = f"memory.main._fold_{int(snapshot.sheet_id)}"
            job = self._fold_job = {
                "state": snapshot,
                "upto": upto,
                "keys": keys,
                "table": table,
                "count": snapshot.pending,
                "started": time.monotonic(),
                "error": None,
                "done": threading.Event(),
            }

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
                if (
                    current is None
                    or current.watermark != before.watermark
                    or current.base_keys != before.base_keys
                    or set(current.columns) != set(before.columns)
                ):
                    log.info("sheet %s changed during its fold: compacted later", before.sheet_id)
                    return None
                installed = self._compact(
                    current, prepared=(job["table"], job["upto"], job["count"], job["keys"], job["started"])
                )
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
