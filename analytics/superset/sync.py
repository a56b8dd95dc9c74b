"""The sync that follows sheet changes: a workspace's Superset objects brought up to date by a
background job (a django-tasks task run by a jobs worker), queued after the commit, never blocking
nor failing the edit."""

import datetime as dt
import json
import logging
import time

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django_tasks import task
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.base import TaskResultStatus

from accounts.models import Workspace
from analytics.lake import connections as lake
from analytics.lake.schema import column_names
from core import metrics
from sheets.models import Column, Sheet

from .client import available, conf
from .provisioning import stored_object, sync_workspace

log = logging.getLogger(__name__)


RETRY_SECONDS = (1, 2, 4, 8, 15)
# A burst of changes of one edit (a sheet and its columns) gathers into one sync this much later.
GATHER_SECONDS = 0.5


@task()
def superset_sync_run(workspace_id: int, attempt: int = 0) -> None:
    """The background task of a workspace's sync (run by a jobs worker, core.jobs): once; while its
    datasets do not follow the sheets' columns yet (the writer catching up), again later."""
    try:
        if not available():
            return
        close_old_connections()
        if _sync_once(workspace_id) or attempt >= len(RETRY_SECONDS):
            return
        _enqueue(workspace_id, attempt + 1, RETRY_SECONDS[attempt])
    finally:
        lake.close()  # nothing held between jobs: the lake connection would keep its database busy


def _pending(workspace_id):
    return DBTaskResult.objects.filter(
        status=TaskResultStatus.READY,
        task_path=superset_sync_run.module_path,
        args_kwargs__kwargs__workspace_id=workspace_id,
    )


def _enqueue(workspace_id, attempt=0, delay=GATHER_SECONDS):
    """Queue a sync of the workspace, unless one is queued already (it will see this change)."""
    if attempt == 0 and _pending(workspace_id).exists():
        return
    run_after = timezone.now() + dt.timedelta(seconds=delay)
    superset_sync_run.using(run_after=run_after).enqueue(workspace_id=workspace_id, attempt=attempt)


def schedule_sync(workspace_id: int) -> None:
    """After the current transaction commits, queue a sync of the workspace for a jobs worker (never
    blocking nor failing the edit); nothing happens when Superset is off."""
    if not conf("AUTO_SYNC") or not settings.SUPERSET.get("ENABLED", True):
        return
    transaction.on_commit(lambda: _enqueue_safely(int(workspace_id)))


def _enqueue_safely(workspace_id):
    try:
        _enqueue(workspace_id)
    except Exception:
        metrics.superset_sync_failures.inc()
        log.warning("could not queue the superset sync of workspace %s", workspace_id, exc_info=True)


def syncs_swept(sender: object, dead: list, **kwargs: object) -> None:
    """core.jobs' sweep: a sync whose worker died is queued again (once: a retry that dies is left)."""
    for result in dead:
        if result.task_path == superset_sync_run.module_path and not result.args_kwargs["kwargs"].get("attempt"):
            _enqueue(int(result.args_kwargs["kwargs"]["workspace_id"]), attempt=1)


def wait_for_sync(timeout: float = 120) -> None:
    """Block until no sync is queued or running any more (they run in a jobs worker; tests, scripts)."""
    deadline = time.monotonic() + timeout
    while DBTaskResult.objects.filter(
        status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING], task_path=superset_sync_run.module_path
    ).exists():
        if time.monotonic() > deadline:
            raise TimeoutError("the superset syncs queued did not run (is a jobs worker running?)")
        time.sleep(0.1)


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


def _sync_once(workspace_id):
    """Sync the workspace; whether it is done (gone, or every dataset built from its sheet's
    current columns: a sheet's view follows its columns once the writer has caught up)."""
    try:
        if not Workspace.objects.filter(pk=workspace_id).exists():
            return True
        sync_workspace(workspace_id)
        return all(
            _dataset_current(sid)
            for sid in Sheet.objects.filter(workspace_id=workspace_id).values_list("id", flat=True)
        )
    except Exception:
        metrics.superset_sync_failures.inc()
        log.warning("superset sync of workspace %s failed", workspace_id, exc_info=True)
        return False
