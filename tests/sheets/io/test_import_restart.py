"""Threat: an import job whose worker died (a restart, a crash) stays "running" or "queued" for
ever, with a half-made sheet in the workspace and its temporary file left on disk. Such a job is
run again from the start (its half-made sheet removed) while it has attempts left, else failed
with a clear message, its sheet and file removed: whenever its status is read, when the import
API first runs in a (re)started server, and at a jobs worker's sweep. (A real worker killed
mid-import: test_import_worker_killed.py.)"""

import datetime as dt
import os
import socket
import tempfile

import pytest
from django.utils import timezone
from django_tasks.backends.database.models import DBTaskResult

from core import jobs
from sheets import io
from sheets.models import ImportJob, Sheet
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db


def temporary_file():
    with tempfile.NamedTemporaryFile(prefix="gridcast-import-", suffix=".csv", delete=False) as kept:
        kept.write(b"a,b\n1,2\n")
    return kept.name


LAST = 2  # IMPORT_MAX_ATTEMPTS by default: a job begun that many times is not run again


def job(workspace, user, *, owner, heartbeat_age=0.0, status=ImportJob.Status.RUNNING, half_made=True, attempts=LAST):
    sheet = make_sheet(workspace, user, rows=3, name="half made") if half_made else None
    return ImportJob.objects.create(
        attempts=attempts,
        workspace=workspace,
        created_by=user,
        name="half made",
        status=status,
        progress=0.4,
        rows=2000,
        sheet=sheet,
        sheets=[sheet.pk] if sheet else [],
        owner=owner,
        heartbeat_at=timezone.now() - dt.timedelta(seconds=heartbeat_age),
        path=temporary_file(),
    )


def dead_pid():
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def assert_interrupted(found, path, sheet_id):
    assert found.status == "failed"
    assert found.error == io.INTERRUPTED and "interrupted" in found.error and "upload the file again" in found.error
    assert found.rows == 0 and found.sheet_id is None
    assert sheet_id is None or not Sheet.objects.filter(pk=sheet_id).exists()
    assert not os.path.exists(path)


def test_reading_a_job_whose_process_is_gone_fails_it_and_removes_its_sheet_and_file(api, workspace, editor):
    dead = job(workspace, editor, owner=f"{socket.gethostname()}:{dead_pid()}:0123456789ab")
    sheet_id, path = dead.sheet_id, dead.path
    answer = api(editor).get(f"/api/v1/imports/{dead.pk}/")
    assert answer.status_code == 200
    assert answer.json()["status"] == "failed" and answer.json()["error"] == io.INTERRUPTED
    assert answer.json()["sheet"] is None
    dead.refresh_from_db()
    assert_interrupted(dead, path, sheet_id)


def test_a_job_of_a_previous_start_of_this_same_process_id_is_interrupted(api, workspace, editor):
    # A restarted server can get the pid of the one that died (the first process of a container).
    host, pid, _ = io.PROCESS.split(":")
    earlier = job(
        workspace, editor, owner=f"{host}:{pid}:000000000000", status=ImportJob.Status.QUEUED, half_made=False
    )
    path = earlier.path
    assert api(editor).get(f"/api/v1/imports/{earlier.pk}/").json()["status"] == "failed"
    earlier.refresh_from_db()
    assert_interrupted(earlier, path, None)


def test_a_job_without_a_heartbeat_for_too_long_is_interrupted(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_STALE_SECONDS": 30}
    # Another machine's process: only its heartbeat tells whether it still runs.
    quiet = job(workspace, editor, owner="another-host:1:0123456789ab", heartbeat_age=31)
    alive = job(workspace, editor, owner="another-host:1:0123456789ab", heartbeat_age=5)
    sheet_id, path = quiet.sheet_id, quiet.path
    assert api(editor).get(f"/api/v1/imports/{quiet.pk}/").json()["status"] == "failed"
    quiet.refresh_from_db()
    assert_interrupted(quiet, path, sheet_id)
    # One that beats recently is left alone, its sheet and file too.
    assert api(editor).get(f"/api/v1/imports/{alive.pk}/").json()["status"] == "running"
    alive.refresh_from_db()
    assert alive.status == "running" and Sheet.objects.filter(pk=alive.sheet_id).exists()
    assert os.path.exists(alive.path)
    os.unlink(alive.path)


def test_a_restarted_server_fails_the_jobs_left_behind_when_its_import_api_starts(
    api, monkeypatch, workspace, editor, owner
):
    # a fresh process: nothing checked yet
    monkeypatch.setattr(io.job_reaping, "_reaped", type(io.job_reaping._reaped)())
    dead = job(workspace, owner, owner=f"{socket.gethostname()}:{dead_pid()}:0123456789ab")
    mine = job(workspace, editor, owner=io.PROCESS, half_made=False)  # this process's own, running
    sheet_id, path = dead.sheet_id, dead.path
    # Someone else's first request to the import API, in a server that just started.
    response = api(editor).post(f"/api/v1/workspaces/{workspace.pk}/import/", {}, format="multipart")
    assert response.status_code == 400
    dead.refresh_from_db()
    assert_interrupted(dead, path, sheet_id)
    mine.refresh_from_db()
    assert mine.status == "running" and os.path.exists(mine.path)
    os.unlink(mine.path)
    assert io.imports_reap() == 0  # done once; the rest is left to status reads


def test_finished_jobs_are_never_touched(workspace, editor):
    done = job(workspace, editor, owner="gone:1:0", heartbeat_age=3600, status=ImportJob.Status.DONE)
    assert io.imports_reap() == 0
    done.refresh_from_db()
    assert done.status == "done" and Sheet.objects.filter(pk=done.sheet_id).exists()
    os.unlink(done.path)


def assert_resumed(found, path, sheet_id):
    """Queued again from the start: a new task for it, its half-made sheet gone, its upload kept."""
    assert found.status == "queued" and found.owner == "" and found.error == ""
    assert found.rows == 0 and found.progress == 0.0 and found.sheet_id is None and found.sheets == []
    assert sheet_id is None or not Sheet.objects.filter(pk=sheet_id).exists()
    assert found.path == path and os.path.exists(path)
    task = DBTaskResult.objects.get(pk=found.task_id)
    assert task.status == "READY" and task.task_path == "sheets.io.jobs.import_run"
    assert task.args_kwargs["kwargs"] == {"job_id": found.pk}


def test_a_job_whose_worker_died_with_attempts_left_is_queued_again(api, workspace, editor):
    dead = job(workspace, editor, owner=f"{socket.gethostname()}:{dead_pid()}:0123456789ab", attempts=1)
    sheet_id, path = dead.sheet_id, dead.path
    answer = api(editor).get(f"/api/v1/imports/{dead.pk}/")
    assert answer.status_code == 200 and answer.json()["status"] == "queued" and answer.json()["sheet"] is None
    dead.refresh_from_db()
    assert_resumed(dead, path, sheet_id)
    assert dead.attempts == 1  # counted when a worker begins it

    # A worker runs it to the end, once; the task queued twice (a sweep and a poll) runs nothing more.
    io.run_import_job(dead.pk)
    dead.refresh_from_db()
    assert dead.status == "done" and dead.attempts == 2 and dead.rows == 1 and not os.path.exists(path)
    io.run_import_job(dead.pk)
    assert Sheet.objects.filter(workspace=workspace).count() == 1


def test_a_job_whose_upload_is_gone_is_failed_not_run_again(api, workspace, editor):
    dead = job(workspace, editor, owner=f"{socket.gethostname()}:{dead_pid()}:0123456789ab", attempts=1)
    os.unlink(dead.path)
    found = api(editor).get(f"/api/v1/imports/{dead.pk}/").json()
    assert (
        found["status"] == "failed"
        and found["error"] == io.jobs.UPLOAD_GONE
        and "upload the file again" in found["error"]
    )


def test_a_queued_job_whose_task_ended_without_running_it_is_queued_again(api, workspace, editor):
    lost = job(workspace, editor, owner="", status=ImportJob.Status.QUEUED, half_made=False, attempts=0)
    lost.task_id = str(io.import_run.enqueue(job_id=lost.pk).id)
    lost.save()
    assert api(editor).get(f"/api/v1/imports/{lost.pk}/").json()["status"] == "queued"  # waits its turn
    assert io.import_reap(lost.pk) is False
    DBTaskResult.objects.filter(pk=lost.task_id).update(status="FAILED")  # its task failed (e.g. swept)
    old_task = lost.task_id
    assert api(editor).get(f"/api/v1/imports/{lost.pk}/").json()["status"] == "queued"
    lost.refresh_from_db()
    assert lost.task_id != old_task
    assert_resumed(lost, lost.path, None)
    os.unlink(lost.path)


def test_the_sweep_fails_a_dead_workers_task_and_resumes_its_job(workspace, editor):
    owner = f"{socket.gethostname()}:{dead_pid()}:0123456789ab"
    dead = job(workspace, editor, owner=owner, attempts=1)
    sheet_id, path = dead.sheet_id, dead.path
    task = DBTaskResult.objects.get(pk=io.import_run.enqueue(job_id=dead.pk).id)
    task.claim(owner)  # the worker that died had taken it
    ImportJob.objects.filter(pk=dead.pk).update(task_id=str(task.pk))
    alive = DBTaskResult.objects.get(pk=io.import_run.enqueue(job_id=0).id)
    alive.claim(jobs.PROCESS)  # this live process's: left alone

    swept = jobs.tasks_sweep()
    assert [t.pk for t in swept] == [task.pk]
    task.refresh_from_db()
    assert task.status == "FAILED" and task.exception_class_path == "core.jobs.WorkerDied"
    assert owner in task.traceback
    alive.refresh_from_db()
    assert alive.status == "RUNNING"
    dead.refresh_from_db()
    assert_resumed(dead, path, sheet_id)
    os.unlink(path)
