"""The Superset sync that follows sheet changes is a durable background job: queued (a django-tasks
task in the database) after the edit commits, one per burst of changes, never a thread of the web
process; a sync whose worker died is queued again by a worker's sweep."""

import os
import socket
import threading

import pytest
from django.db import transaction
from django_tasks.backends.database.models import DBTaskResult

from analytics.superset import sync
from core import jobs
from sheets import services

pytestmark = pytest.mark.django_db(transaction=True)

PATH = "analytics.superset.sync.superset_sync_run"


def queued(workspace_id):
    return list(
        DBTaskResult.objects.filter(task_path=PATH, args_kwargs__kwargs__workspace_id=workspace_id).order_by(
            "enqueued_at"
        )
    )


@pytest.fixture
def auto_sync(settings):
    settings.SUPERSET = {**settings.SUPERSET, "AUTO_SYNC": True, "ENABLED": True}


def test_a_sheet_change_queues_one_sync_after_the_commit_and_starts_no_thread(auto_sync, workspace, owner):
    before = {t.ident for t in threading.enumerate()}
    with transaction.atomic():
        sheet = services.sheet_create(
            workspace=workspace, name="Returns", actor=owner, columns=[{"name": "Reason", "type": "text"}]
        )
        services.sheet_create(workspace=workspace, name="Refunds", actor=owner, columns=[{"name": "A", "type": "text"}])
        assert sheet.columns.count() == 1 and queued(workspace.pk) == []  # nothing before the commit
    tasks = queued(workspace.pk)
    assert len(tasks) == 1, "a burst of changes is one sync"
    assert tasks[0].status == "READY" and tasks[0].args_kwargs["kwargs"] == {"workspace_id": workspace.pk, "attempt": 0}
    assert tasks[0].run_after > tasks[0].enqueued_at  # gathers the burst
    assert {t.ident for t in threading.enumerate()} - before == set()


def test_a_rolled_back_change_queues_nothing(auto_sync, workspace, owner):
    with pytest.raises(RuntimeError), transaction.atomic():
        services.sheet_create(workspace=workspace, name="Gone", actor=owner, columns=[{"name": "A", "type": "text"}])
        raise RuntimeError
    assert queued(workspace.pk) == []


def test_a_worker_runs_the_queued_sync(auto_sync, workspace, owner, monkeypatch):
    ran = []
    monkeypatch.setattr(sync, "available", lambda: True)
    monkeypatch.setattr(sync, "_sync_once", lambda workspace_id: ran.append(workspace_id) or True)
    with transaction.atomic():
        services.sheet_create(workspace=workspace, name="S", actor=owner, columns=[{"name": "A", "type": "text"}])
    DBTaskResult.objects.filter(task_path=PATH).update(run_after=DBTaskResult.objects.first().enqueued_at)
    jobs.JobsWorker(batch=True).run()
    assert ran == [workspace.pk]
    assert [t.status for t in queued(workspace.pk)] == ["SUCCEEDED"]


def test_a_sync_not_done_yet_is_queued_again_later(auto_sync, workspace, monkeypatch):
    monkeypatch.setattr(sync, "available", lambda: True)
    monkeypatch.setattr(sync, "_sync_once", lambda workspace_id: False)  # the writer not caught up yet
    sync.superset_sync_run.call(workspace_id=workspace.pk, attempt=0)
    again = queued(workspace.pk)
    assert len(again) == 1 and again[0].args_kwargs["kwargs"]["attempt"] == 1
    sync.superset_sync_run.call(workspace_id=workspace.pk, attempt=len(sync.RETRY_SECONDS))
    assert len(queued(workspace.pk)) == 1  # the last attempt queues nothing more


def test_a_sync_whose_worker_died_is_queued_again_by_the_sweep(workspace):
    pid = 4_000_000
    while os.path.exists(f"/proc/{pid}"):
        pid += 1
    dead_worker = f"{socket.gethostname()}:{pid}:0123456789ab"
    task = DBTaskResult.objects.get(pk=sync.superset_sync_run.enqueue(workspace_id=workspace.pk, attempt=0).id)
    task.claim(dead_worker)
    jobs.tasks_sweep()
    tasks = queued(workspace.pk)
    assert [t.status for t in tasks] == ["FAILED", "READY"]
    assert tasks[1].args_kwargs["kwargs"] == {"workspace_id": workspace.pk, "attempt": 1}
