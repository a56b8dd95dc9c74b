"""The sync that follows sheet changes: a workspace's Superset objects brought up to date in a
background thread, after the commit, never blocking nor failing the edit."""

import json
import logging
import queue
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from accounts.models import Workspace
from analytics.lake import connections as lake
from analytics.lake.schema import column_names
from core import metrics
from sheets.models import Column, Sheet

from .client import available, conf
from .provisioning import stored_object, sync_workspace

log = logging.getLogger(__name__)


_queue = queue.Queue()
_thread = None
_thread_lock = threading.Lock()
RETRY_SECONDS = (1, 2, 4, 8, 15)


def schedule_sync(workspace_id: int) -> None:
    """After the current transaction commits, sync the workspace in a background thread (never
    blocking nor failing the edit); nothing happens when Superset is off."""
    if not conf("AUTO_SYNC") or not settings.SUPERSET.get("ENABLED", True):
        return
    transaction.on_commit(lambda: _enqueue(int(workspace_id)))


def _enqueue(workspace_id):
    global _thread
    with _thread_lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_run, name="superset-sync", daemon=True)
            _thread.start()
    _queue.put(workspace_id)


def _run():
    while True:
        pending = [_queue.get()]
        time.sleep(0.5)  # gather the burst of changes of one edit (a sheet and its columns)
        while not _queue.empty():
            pending.append(_queue.get_nowait())
        try:
            if available():
                for workspace_id in sorted(set(pending)):
                    _sync_with_retries(workspace_id)
        finally:
            # Nothing held between rounds: the lake connection and the database connection of
            # this thread would keep their database busy (and a test database from being dropped).
            lake.close()
            connection.close()
            for _ in pending:
                _queue.task_done()


def wait_for_sync() -> None:
    """Block until the background sync has done everything scheduled so far (tests, scripts)."""
    _queue.join()


def expected_columns(sheet_id: int) -> list[str]:
    """The column names the sheet's view has once the writer caught up with its columns."""
    columns = {
        c["key"]: {"name": c["name"], "position": c["position"], "deleted": c["deleted"]}
        for c in Column.objects.filter(sheet_id=sheet_id).values("key", "name", "position", "deleted")
    }
    return ["_row", "_position", "workspace_id", *column_names(columns).values()]


def _dataset_current(sheet_id):
    stored = stored_object("dataset", f"sheet:{sheet_id}")
    if stored is None:
        return False
    _, columns = json.loads(stored.signature)
    return [name for name, _ in columns] == expected_columns(sheet_id)


def _sync_with_retries(workspace_id):
    for delay in (0, *RETRY_SECONDS):
        time.sleep(delay)
        try:
            close_old_connections()
            if not Workspace.objects.filter(pk=workspace_id).exists():
                return
            sync_workspace(workspace_id)
            # A sheet's view follows its columns once the writer has caught up: look again until
            # every dataset was built from the sheet's current columns.
            if all(
                _dataset_current(sid)
                for sid in Sheet.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)
            ):
                return
        except Exception:
            metrics.superset_sync_failures.inc()
            log.warning("superset sync of workspace %s failed", workspace_id, exc_info=True)
