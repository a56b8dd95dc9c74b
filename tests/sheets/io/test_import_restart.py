"""Threat: an import job whose process died (a restart, a crash) stays "running" or "queued"
for ever, with a half-made sheet in the workspace and its temporary file left on disk. Such a
job is failed with a clear message, and its sheet and file removed: whenever its status is
read, and when the import API first runs in a (re)started server."""

import datetime as dt
import os
import socket
import tempfile

import pytest
from django.utils import timezone

from sheets import io
from sheets.models import ImportJob, Sheet
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db


def temporary_file():
    with tempfile.NamedTemporaryFile(prefix="gridcast-import-", suffix=".csv", delete=False) as kept:
        kept.write(b"a,b\n1,2\n")
    return kept.name


def job(workspace, user, *, owner, heartbeat_age=0.0, status=ImportJob.Status.RUNNING, half_made=True):
    sheet = make_sheet(workspace, user, rows=3, name="half made") if half_made else None
    return ImportJob.objects.create(
        workspace=workspace,
        created_by=user,
        name="half made",
        status=status,
        progress=0.4,
        rows=2000,
        sheet=sheet,
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
    monkeypatch.setattr(io.jobs, "_reaped", type(io.jobs._reaped)())  # a fresh process: nothing checked yet
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
