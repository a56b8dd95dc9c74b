"""Threat: a queued import job runs with the rights its creator had at upload: someone removed
from the workspace (or made a viewer, or deactivated) meanwhile still gets a new sheet in it.
Rights are checked again when the job runs: it fails with a clear error and creates nothing."""

import os

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django_tasks.backends.database.models import DBTaskResult

from accounts.models import Membership, Role
from sheets import io
from sheets.models import ImportJob, Sheet

pytestmark = pytest.mark.django_db(transaction=True)

CONTENT = b"id,label\n" + b"".join(b"%d,row %d\n" % (i, i) for i in range(200))


@pytest.fixture
def queued(api, settings, workspace, editor):
    """Upload a file that becomes a job, and keep the job queued (no jobs worker runs here)."""
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 100}
    response = api(editor).post(
        f"/api/v1/workspaces/{workspace.pk}/import/",
        {"file": SimpleUploadedFile("data.csv", CONTENT)},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "queued" and os.path.exists(job.path)
    assert DBTaskResult.objects.get(pk=job.task_id).status == "READY"
    return job.pk, job.path


def assert_refused(job_id, path, workspace):
    found = ImportJob.objects.get(pk=job_id)
    assert found.status == "failed"
    assert found.error == "you can no longer create sheets in this workspace: nothing was imported"
    assert found.sheet_id is None and found.rows == 0
    assert not Sheet.objects.filter(workspace=workspace).exists()
    assert not os.path.exists(path)


@pytest.mark.parametrize("lose", ["removed", "viewer", "deactivated"])
def test_a_queued_job_of_someone_who_lost_edit_rights_creates_nothing(queued, workspace, editor, lose):
    job_id, path = queued
    if lose == "removed":
        Membership.objects.filter(workspace=workspace, user=editor).delete()
    elif lose == "viewer":
        Membership.objects.filter(workspace=workspace, user=editor).update(role=Role.VIEWER)
    else:
        editor.is_active = False
        editor.save(update_fields=["is_active"])
    io.run_import_job(job_id)
    assert_refused(job_id, path, workspace)


def test_a_queued_job_of_someone_who_kept_their_rights_runs(queued, workspace):
    job_id, path = queued
    io.run_import_job(job_id)
    found = ImportJob.objects.get(pk=job_id)
    assert found.status == "done" and found.rows == 200 and found.sheet.workspace_id == workspace.pk
    assert not os.path.exists(path) and found.path == ""
