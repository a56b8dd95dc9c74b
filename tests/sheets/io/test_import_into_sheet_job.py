"""A large import into an existing sheet is a background job like an import into a new sheet: the
request answers 202 with the job to poll; the worker applies the file as one operation and ends the
job in the same transaction, so the rows are applied once, or not at all (bad rows, a job taken
away meanwhile)."""

import os
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from sheets import io, selectors, services
from sheets.models import ImportJob, Operation
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "Code", "type": "text"}, {"name": "Amount", "type": "number"}]


@pytest.fixture
def target(workspace, owner, settings):
    settings.GRIDCAST = {**settings.GRIDCAST, "IMPORT_INLINE_BYTES": 200}
    sheet = make_sheet(workspace, owner, columns=COLUMNS, name="Stock")
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "A1", "c2": 1}])
    return sheet


def post(client, sheet, content, **fields):
    data = {"file": SimpleUploadedFile("data.csv", content), **fields}
    return client.post(f"/api/v1/sheets/{sheet.pk}/import/", data, format="multipart")


def poll(client, job_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/api/v1/imports/{job_id}/").json()
        if job["status"] in ("done", "failed"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"import {job_id} did not end: {job}")


def codes(sheet):
    return [d.get("c1") for _, d in selectors.rows_in_order(sheet)]


CONTENT = b"Code,Amount\n" + b"".join(b"N%d,%d\n" % (i, i) for i in range(300))


def test_a_large_file_is_queued_and_applied_as_one_operation(api, target, editor, jobs_worker):
    client = api(editor)
    version = Operation.objects.filter(sheet=target).count()
    response = post(client, target, CONTENT, mode="append")
    assert response.status_code == 202, response.content
    started = response.json()
    assert started["status"] in ("queued", "running", "done") and started["name"] == "Stock"
    job = poll(client, started["id"])
    assert job["status"] == "done", job
    assert job["rows"] == 300 and job["progress"] == 1.0 and job["sheet"] == target.pk and job["sheets"] == [target.pk]
    assert job["notes"][-1].startswith("300 new rows, 0 updated")
    assert codes(target) == ["A1", *[f"N{i}" for i in range(300)]]
    assert Operation.objects.filter(sheet=target).count() == version + 1
    assert Operation.objects.filter(sheet=target).latest("version").kind == "rows.import"
    assert not os.path.exists(ImportJob.objects.get(pk=job["id"]).path or "/nonexistent")


def test_bad_rows_fail_the_job_with_the_rows_and_apply_nothing(api, target, editor, jobs_worker):
    content = CONTENT + b"Z1,not a number\n"
    response = post(api(editor), target, content, mode="append")
    assert response.status_code == 202, response.content
    job = poll(api(editor), response.json()["id"])
    assert job["status"] == "failed" and "nothing was imported" in job["error"] and "row 301" in job["error"]
    assert codes(target) == ["A1"] and job["rows"] == 0


def test_what_the_request_can_tell_is_answered_at_once(api, target, editor):
    assert post(api(editor), target, CONTENT, mode="sideways").status_code == 400
    assert post(api(editor), target, CONTENT, mode="upsert").status_code == 400  # no key
    assert post(api(editor), target, bytes(range(256)) * 4, mode="append").status_code == 400  # binary
    assert not ImportJob.objects.exists()


def test_a_job_taken_away_while_it_applies_leaves_the_sheet_as_it_was(api, target, editor, monkeypatch):
    response = post(api(editor), target, CONTENT, mode="append")
    job_id = response.json()["id"]
    real = io.jobs.import_into_sheet

    def then_interrupted(**kwargs):
        answer = real(**kwargs)  # applied, not committed yet
        ImportJob.objects.filter(pk=job_id).update(owner="another:1:0")  # the job is no longer this worker's
        return answer

    monkeypatch.setattr(io.jobs, "import_into_sheet", then_interrupted)
    io.run_import_job(job_id)
    assert codes(target) == ["A1"]  # rolled back with the job's end


def test_someone_who_lost_edit_rights_imports_nothing(api, target, editor, workspace):
    response = post(api(editor), target, CONTENT, mode="append")
    workspace.memberships.filter(user=editor).update(role="viewer")
    io.run_import_job(response.json()["id"])
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "failed" and job.error and codes(target) == ["A1"]


def test_django_tasks_own_db_worker_runs_the_same_queue(api, target, editor):
    response = post(api(editor), target, CONTENT, mode="append")
    assert response.status_code == 202
    call_command("db_worker", batch=True, reload=False, startup_delay=False, verbosity=0)
    job = ImportJob.objects.get(pk=response.json()["id"])
    assert job.status == "done" and job.rows == 300 and len(codes(target)) == 301
