"""Threat: a formula recompute of a large sheet run as a thread of the web process: a restart or a
deploy loses it, and its seconds of work share the process with every request. It is a durable
job: the operation queues it in its own transaction and starts no thread; a jobs worker runs it;
a worker killed (SIGKILL) mid-recompute leaves it to the next worker's sweep, which goes on at once
from the last batch written, never computing a batch twice nor losing one."""

import threading
import time

import pytest
from django_tasks.backends.database.models import DBTaskResult

from core.jobs import JobsWorker
from sheets import services
from sheets.models import FormulaRecompute, Operation, Row
from sheets.services import recompute
from tests.factories import make_sheet
from tests.realtime.servers import wait_until
from tests.workers import WorkerProcess

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]


def large_sheet(workspace, owner, settings, rows):
    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 4, "FORMULA_RECOMPUTE_BATCH": 5}
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    for start in range(0, rows, 5000):
        services.rows_insert(
            sheet=sheet, actor=owner, rows=[{"c1": i, "c2": 2} for i in range(start, min(rows, start + 5000))]
        )
    return sheet


def add_total(sheet, owner):
    op = services.column_add(
        sheet=sheet, actor=owner, name="Total", type="formula", options={"formula": "[Price] * [Qty]"}
    )
    return op.payload["column"]["key"]


def totals(sheet, key):
    return [data.get(key) for data in Row.objects.filter(sheet=sheet).order_by("pk").values_list("data", flat=True)]


def done_by_batch(sheet):
    ops = Operation.objects.filter(sheet=sheet, kind=recompute.KIND).order_by("version")
    return [op.payload["done"] for op in ops]


def recompute_tasks(sheet):
    return DBTaskResult.objects.filter(
        task_path=recompute.recompute_job.module_path, args_kwargs__kwargs__sheet_id=sheet.pk
    )


def test_the_operation_queues_a_job_and_starts_no_thread(workspace, owner, settings):
    sheet = large_sheet(workspace, owner, settings, rows=23)
    before = {t.ident for t in threading.enumerate()}
    key = add_total(sheet, owner)
    time.sleep(0.3)
    assert {t.ident for t in threading.enumerate()} - before == set()
    (task,) = recompute_tasks(sheet)
    token = FormulaRecompute.objects.get(sheet=sheet).token
    assert task.status == "READY" and task.args_kwargs["kwargs"] == {"sheet_id": sheet.pk, "token": token}
    assert totals(sheet, key) == [None] * 23  # nothing computed by the web process

    JobsWorker(batch=True).run()  # the jobs ready now, then back
    assert totals(sheet, key) == [i * 2 for i in range(23)]
    assert done_by_batch(sheet) == [5, 10, 15, 20, 23]
    assert recompute_tasks(sheet).get().status == "SUCCEEDED"
    assert FormulaRecompute.objects.get(sheet=sheet).columns == []


def test_a_superseded_job_stops_and_the_newer_one_computes(workspace, owner, settings):
    """Two starts before any worker runs: the first job finds its token gone and does nothing."""
    sheet = large_sheet(workspace, owner, settings, rows=23)
    key = add_total(sheet, owner)
    services.column_retype(sheet=sheet, actor=owner, key=key, type="formula", options={"formula": "[Price] + 1"})
    JobsWorker(batch=True).run()
    assert totals(sheet, key) == [i + 1 for i in range(23)]
    assert done_by_batch(sheet) == [5, 10, 15, 20, 23]  # the first job wrote no batch
    assert list(recompute_tasks(sheet).values_list("status", flat=True)) == ["SUCCEEDED", "SUCCEEDED"]


ROWS, BATCH = 20_000, 100


def test_a_recompute_whose_worker_is_killed_goes_on_in_the_next_worker_from_its_last_batch(workspace, owner, settings):
    sheet = large_sheet(workspace, owner, settings, rows=ROWS)
    key = add_total(sheet, owner)
    # Batches of 100 rows in the workers; resuming for staleness is put out of reach, so that only
    # the sweep's knowledge of the dead worker can resume it.
    env = {"GRIDCAST_FORMULA_RECOMPUTE_BATCH": BATCH, "GRIDCAST_FORMULA_RECOMPUTE_STALE_SECONDS": 3600}
    worker = WorkerProcess(**env).start()
    try:
        wait_until(lambda: len(done_by_batch(sheet)) >= 5, 120, message="the recompute to be under way")
        worker.kill()
    finally:
        worker.stop()
    left = FormulaRecompute.objects.get(sheet=sheet)
    assert left.columns == [key] and 0 < left.done < ROWS, (left.done, worker.output())
    (first,) = recompute_tasks(sheet)
    assert first.status == "RUNNING"

    killed_at = time.monotonic()
    worker = WorkerProcess(**env).start()  # its sweep at start finds the dead worker's task
    try:
        wait_until(
            lambda: FormulaRecompute.objects.filter(sheet=sheet, columns=[]).exists(),
            120,
            message="the recompute to end",
        )
    finally:
        worker.stop()
    assert time.monotonic() - killed_at < 60, "resumed by the sweep, not after the staleness delay"
    assert totals(sheet, key) == [i * 2 for i in range(ROWS)], worker.output()
    # Every batch once: the one being written when the worker died was rolled back, and the next
    # worker went on after the last one committed.
    assert done_by_batch(sheet) == list(range(BATCH, ROWS + 1, BATCH))
    first.refresh_from_db()
    assert first.status == "FAILED" and first.exception_class_path == "core.jobs.WorkerDied"
    assert [t.status for t in recompute_tasks(sheet).order_by("enqueued_at")] == ["FAILED", "SUCCEEDED"]
