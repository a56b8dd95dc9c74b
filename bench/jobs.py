"""Durable background jobs (issue 19): what the queue costs a large import. By hand:

    DJANGO_SETTINGS_MODULE=config.settings.test DATABASE_URL=postgres://postgres@127.0.0.1:5432/gc_bench \\
        .venv/bin/python bench/jobs.py [--jobs 5] [--rows 20000]

It works in its own database, <name in DATABASE_URL>_jobs, which it drops and creates, and imports
--jobs CSV files of --rows rows (over IMPORT_INLINE_BYTES, so each is a job):
1. baseline: each job run in this process at once (run_import_job, what a worker does), no queue;
2. queued: uploaded as the web process does (upload_import: the job and its task saved), then run
   by a real `manage.py jobs_worker` process: the upload's time, the wait from the task's enqueue to
   its start (JOBS_POLL_SECONDS, 0.2 s) and the time from the upload to the job done.
Target: the queue adds under 1 s to an import (p50 of upload-to-done less the task's own run time).
The machine's load moves the run times a lot (2 cores shared): compare the two lines of one run.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/gridcast")

from bench.common import drop_database, own_database, percentile  # noqa: E402

TARGET_S = 1.0


def report(label, samples):
    print(f"{label:<58} p50 {percentile(samples, 50):7.2f} s   max {max(samples):7.2f} s", flush=True)
    return percentile(samples, 50)


def content(rows):
    return b"id,label,score,note\n" + b"".join(b"%d,row %d,%d.5,%s\n" % (i, i, i, b"n" * 40) for i in range(rows))


def upload(workspace, editor, data, n):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from sheets import io

    return io.upload_import(upload=SimpleUploadedFile(f"bench{n}.csv", data), workspace=workspace, actor=editor)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    args = parser.parse_args()
    url, name = own_database("jobs", "bench/jobs.py")
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django_tasks.backends.database.models import DBTaskResult

    from accounts.models import Membership, Role, User, Workspace
    from sheets import io
    from sheets.models import ImportJob

    worker = None
    try:
        call_command("migrate", verbosity=0)
        workspace = Workspace.objects.create(name="Bench")
        editor = User.objects.create_user(email="editor@bench.gridcast", password="x")
        Membership.objects.create(workspace=workspace, user=editor, role=Role.EDITOR)
        data = content(args.rows)
        assert len(data) >= settings.GRIDCAST.get("IMPORT_INLINE_BYTES", io.jobs.INLINE_IMPORT_BYTES)
        print(f"{args.jobs} imports of {args.rows:,} rows ({len(data) / 1e6:.1f} MB) each", flush=True)

        baseline = []
        for n in range(args.jobs):
            job = upload(workspace, editor, data, n)
            DBTaskResult.objects.filter(pk=job.task_id).delete()  # run here, not by a worker
            started = time.perf_counter()
            io.run_import_job(job.pk)
            baseline.append(time.perf_counter() - started)
            assert ImportJob.objects.get(pk=job.pk).status == "done"
        run = report("baseline: the job run in this process, no queue", baseline)

        env = {**os.environ, "DATABASE_URL": url, "PYTHONUNBUFFERED": "1"}
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "jobs_worker"],
            cwd=ROOT,
            env={**env, "LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        uploads, waits, totals, overheads = [], [], [], []
        for n in range(-1, args.jobs):  # the first (-1) only waits for the worker's start: not counted
            started = time.perf_counter()
            job = upload(workspace, editor, data, n)
            uploads.append(time.perf_counter() - started)
            while ImportJob.objects.filter(pk=job.pk, status__in=["queued", "running"]).exists():
                time.sleep(0.02)
            totals.append(time.perf_counter() - started)
            assert ImportJob.objects.get(pk=job.pk).status == "done"
            while (task := DBTaskResult.objects.get(pk=job.task_id)).finished_at is None:
                time.sleep(0.02)  # the task's row ends just after its job
            waits.append((task.started_at - task.enqueued_at).total_seconds())
            overheads.append(totals[-1] - (task.finished_at - task.started_at).total_seconds())
            if n < 0:
                uploads, waits, totals, overheads = [], [], [], []
        report("queued: the upload (job and task saved; web side)", uploads)
        report("queued: the task's wait, enqueued to started", waits)
        total = report("queued: upload to job done (a jobs_worker process)", totals)
        added = report("queued: upload to done, less the task's own run", overheads)
        verdict = "PASS" if added < TARGET_S else f"MISS (target < {TARGET_S} s)"
        print(f"{'the queue adds (p50 of the line above)':<58} {added:7.2f} s   {verdict}", flush=True)
        print(f"{'upload to done, p50, against the baseline run':<58} {total:7.2f} s vs {run:.2f} s", flush=True)
        missed = added >= TARGET_S
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(30)
        connection.close()
        if not args.keep:
            drop_database(url, name)
    sys.exit(1 if missed else 0)


if __name__ == "__main__":
    main()
