"""Threat: the jobs worker is killed (SIGKILL: a crash, an out-of-memory kill) in the middle of an
import, leaving the job "running" for ever with a half-made sheet. A real `manage.py jobs_worker`
process is killed mid-import: the next worker runs the job again from the start (one whole sheet,
never the half-made one beside it), or, with no attempt left, the job is failed with a clear reason
and nothing of it is left. And the web process only queues: it starts no thread for an import."""

import os
import threading
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks.backends.database.models import DBTaskResult

from sheets import io, selectors
from sheets.models import ImportJob, Sheet
from tests.realtime.servers import wait_until
from tests.workers import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = 60_000
CONTENT = b"id,label,score\n" + b"".join(b"%d,row %d,%d.5\n" % (i, i, i) for i in range(ROWS))


def upload(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 1000}
    response = api(editor).post(
        f"/api/v1/workspaces/{workspace.pk}/import/",
        {"file": SimpleUploadedFile("big.csv", CONTENT)},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    return ImportJob.objects.get(pk=response.json()["id"])


def killed_mid_import(job, **env):
    """Start a worker, kill it once the job has made part of its sheet; the job as left."""
    worker = WorkerProcess(**env).start()
    try:
        wait_until(
            lambda: ImportJob.objects.filter(pk=job.pk, status="running", rows__gt=0).exists(),
            120,
            message="the import to be under way",
        )
        worker.kill()
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == "running" and 0 < job.rows < ROWS, (job.status, job.rows, worker.output())
    assert Sheet.objects.filter(pk=job.sheet_id).exists()  # half made
    assert DBTaskResult.objects.get(pk=job.task_id).status == "RUNNING"
    return job


def test_the_web_process_queues_an_import_and_starts_no_thread(api, settings, workspace, editor):
    before = {t.ident for t in threading.enumerate()}
    job = upload(api, settings, workspace, editor)
    time.sleep(0.5)
    assert {t.ident for t in threading.enumerate()} - before == set()
    job.refresh_from_db()
    assert job.status == "queued" and job.owner == "" and os.path.exists(job.path)
    task = DBTaskResult.objects.get(pk=job.task_id)
    assert task.status == "READY" and task.task_path == "sheets.io.jobs.import_run"
    os.unlink(job.path)


def test_an_import_whose_worker_is_killed_runs_again_in_the_next_worker(api, settings, workspace, editor):
    job = upload(api, settings, workspace, editor)
    path, first_task, half_made = job.path, job.task_id, killed_mid_import(job).sheet_id

    worker = WorkerProcess().start()  # its sweep at start finds the dead worker's task and job
    try:
        wait_until(
            lambda: ImportJob.objects.filter(pk=job.pk, status__in=["done", "failed"]).exists(),
            180,
            message="the import to end in the next worker",
        )
    finally:
        worker.stop()
    job.refresh_from_db()
    assert job.status == "done", (job.error, worker.output())
    assert job.rows == ROWS and job.progress == 1.0 and job.attempts == 2
    assert list(Sheet.objects.filter(workspace=workspace).values_list("pk", flat=True)) == [job.sheet_id]
    assert job.sheet_id != half_made and not Sheet.objects.filter(pk=half_made).exists()
    assert selectors.row_count(job.sheet) == ROWS
    failed = DBTaskResult.objects.get(pk=first_task)
    assert failed.status == "FAILED" and failed.exception_class_path == "core.jobs.WorkerDied"
    assert DBTaskResult.objects.get(pk=job.task_id).status == "SUCCEEDED"
    assert not os.path.exists(path)
    # Polled as before: the same answer as an import that never stopped.
    body = api(editor).get(f"/api/v1/imports/{job.pk}/").json()
    assert body["status"] == "done" and body["rows"] == ROWS and body["sheets"] == [job.sheet_id]


def test_an_import_killed_with_no_attempt_left_is_failed_with_why_when_polled(api, settings, workspace, editor):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_MAX_ATTEMPTS": 1}
    job = upload(api, settings, workspace, editor)
    path = job.path
    killed_mid_import(job)
    body = api(editor).get(f"/api/v1/imports/{job.pk}/").json()  # the dead worker is known gone
    assert body["status"] == "failed" and body["error"] == io.INTERRUPTED
    assert body["sheet"] is None and body["sheets"] == [] and body["rows"] == 0
    assert not Sheet.objects.filter(workspace=workspace).exists() and not os.path.exists(path)
