"""Formula columns recomputed over a large sheet in the background (sheets.services.recompute):
the column operation commits at once, batches follow as formulas.compute operations with their
progress, an edit made meanwhile wins, a newer start supersedes, an interrupted one is resumed, and
TODAY() columns are refreshed when the day changes. Real threads on real PostgreSQL."""

import datetime as dt
import math
import threading
import time

import pytest
from django.utils import timezone

from core.jobs import tasks_sweep
from sheets import services
from sheets.models import Column, FormulaRecompute, Operation, Row
from sheets.services import recompute
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)

COLUMNS = [{"name": "Price", "type": "number"}, {"name": "Qty", "type": "integer"}]
ROWS = 23


@pytest.fixture
def big(workspace, owner, settings, monkeypatch, jobs_worker):
    """A sheet of 23 rows, "large": recomputed in the background, 5 rows a batch."""
    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_INLINE_ROWS": 4, "FORMULA_RECOMPUTE_BATCH": 5}
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": i, "c2": 2} for i in range(ROWS)])
    yield sheet
    _join()


def _join():
    for thread in threading.enumerate():
        if thread.name.startswith("gridcast-recompute-"):
            thread.join(20)
            assert not thread.is_alive()


def _finished(sheet, timeout=20):
    deadline = time.monotonic() + timeout
    while FormulaRecompute.objects.filter(sheet=sheet).exclude(columns=[]).exists():
        assert time.monotonic() < deadline, "the recompute did not finish"
        time.sleep(0.02)
    _join()


def values(sheet, key):
    return [data.get(key) for data in Row.objects.filter(sheet=sheet).order_by("pk").values_list("data", flat=True)]


def batches(sheet):
    return list(Operation.objects.filter(sheet=sheet, kind="formulas.compute").order_by("version"))


def add_total(sheet, owner, formula="[Price] * [Qty]"):
    op = services.column_add(sheet=sheet, actor=owner, name="Total", type="formula", options={"formula": formula})
    return op.payload["column"]["key"], op


def test_the_column_commits_at_once_and_the_batches_follow_with_progress(big, owner):
    key, op = add_total(big, owner)
    assert op.payload["recompute"] == {"columns": [key], "done": 0, "total": ROWS, "after": 0}
    assert "computed" not in op.payload
    _finished(big)
    assert values(big, key) == [i * 2 for i in range(ROWS)]
    ops = batches(big)
    assert [o.payload["done"] for o in ops] == [5, 10, 15, 20, 23]
    row_ids = list(Row.objects.filter(sheet=big).order_by("pk").values_list("pk", flat=True))
    assert [o.payload["after"] for o in ops] == [row_ids[i] for i in (4, 9, 14, 19, 22)]
    assert {o.payload["total"] for o in ops} == {ROWS} and all(o.actor_id is None for o in ops)
    assert sum(len(o.payload["computed"].get(key, {})) for o in ops) == ROWS
    assert [o.version for o in ops] == list(range(op.version + 1, op.version + 6))


@pytest.mark.parametrize("insert", [False, True], ids=["edits only", "and an insert"])
def test_an_edit_during_the_recompute_wins_and_its_formula_follows_it(big, owner, monkeypatch, insert):
    """Edits only: the rows of the batch read ahead that were edited are read again; with an insert
    (anything but cell edits), the whole batch read ahead is read again."""
    first_batch, edited = threading.Event(), threading.Event()
    step = recompute._step

    def gated(sheet_id, token, ahead=None, pool=None):
        more = step(sheet_id, token, ahead, pool)
        first_batch.set()
        assert edited.wait(10)
        return more

    monkeypatch.setattr(recompute, "_step", gated)
    rows = list(Row.objects.filter(sheet=big).order_by("pk").values_list("pk", flat=True))
    key, _ = add_total(big, owner)
    assert first_batch.wait(10)
    # While the recompute runs: a row already computed, one of the batch read (and computed) ahead,
    # one not reached yet.
    cells = [
        {"row": rows[1], "col": "c2", "value": 10},
        {"row": rows[7], "col": "c1", "value": 50},
        {"row": rows[20], "col": "c1", "value": 100},
    ]
    edit = services.cells_update(sheet=big, actor=owner, cells=cells)
    assert {(c["row"], c["col"]): c["value"] for c in edit.payload["cells"]}[(rows[20], key)] == 200
    if insert:
        services.rows_insert(sheet=big, actor=owner, rows=[{"c1": 1000, "c2": 1}])
    edited.set()
    _finished(big)
    expected = [i * 2 for i in range(ROWS)] + ([1000] if insert else [])
    expected[1], expected[7], expected[20] = 10, 100, 200
    assert values(big, key) == expected
    assert values(big, "c1")[20] == 100 and values(big, "c2")[1] == 10
    assert batches(big)[-1].payload["done"] == ROWS + insert


def test_a_newer_formula_supersedes_the_running_recompute(big, owner, monkeypatch):
    first_batch, changed = threading.Event(), threading.Event()
    step = recompute._step
    calls = []

    def gated(sheet_id, token, ahead=None, pool=None):
        calls.append(token)
        more = step(sheet_id, token, ahead, pool)
        if len(calls) == 1:
            first_batch.set()
            assert changed.wait(10)
        return more

    monkeypatch.setattr(recompute, "_step", gated)
    key, _ = add_total(big, owner)
    assert first_batch.wait(10)
    op = services.column_retype(sheet=big, actor=owner, key=key, type="formula", options={"formula": "[Price] + 1"})
    assert op.payload["recompute"] == {"columns": [key], "done": 0, "total": ROWS, "after": 0}
    changed.set()
    _finished(big)
    assert values(big, key) == [i + 1 for i in range(ROWS)]
    assert len(set(calls)) == 2  # the first runner stopped at its next batch, rolled back
    done = [o.payload["done"] for o in batches(big)]
    assert done == [5, 5, 10, 15, 20, 23]


def test_an_interrupted_recompute_is_resumed_where_it_stopped(big, owner, monkeypatch, settings):
    launched = []
    monkeypatch.setattr(recompute, "_launch", lambda sheet_id, token: launched.append(token))  # killed at once
    key, _ = add_total(big, owner)
    state = FormulaRecompute.objects.get(sheet=big)
    assert recompute._step(big.pk, state.token)  # a first batch, then the process "dies"
    assert values(big, key)[:6] == [0, 2, 4, 6, 8, None]
    monkeypatch.undo()

    recompute.sheet_opened(big.pk)  # a fresh heartbeat: its process may still be running it
    assert not batches(big)[1:] and FormulaRecompute.objects.get(sheet=big).columns == [key]

    FormulaRecompute.objects.filter(sheet=big).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=5))
    recompute.sheet_opened(big.pk)
    _finished(big)
    assert values(big, key) == [i * 2 for i in range(ROWS)]
    assert [o.payload["done"] for o in batches(big)] == [5, 10, 15, 20, 23]


def test_the_ticker_resumes_an_abandoned_recompute(big, owner, monkeypatch):
    launch = recompute._launch
    monkeypatch.setattr(recompute, "_launch", lambda sheet_id, token: None)  # its process killed at once
    key, _ = add_total(big, owner)
    assert values(big, key) == [None] * ROWS
    monkeypatch.setattr(recompute, "_launch", launch)
    FormulaRecompute.objects.filter(sheet=big).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=5))
    recompute.formulas_tick()
    _finished(big)
    assert values(big, key) == [i * 2 for i in range(ROWS)]


def test_today_columns_are_recomputed_when_the_day_changes(workspace, owner, settings, monkeypatch, jobs_worker):
    sheet = make_sheet(workspace, owner, columns=COLUMNS)
    services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": 1}, {"c1": 2}])
    op = services.column_add(
        sheet=sheet, actor=owner, name="Age", type="formula", options={"formula": 'DATEDIFF("2026-01-01", TODAY())'}
    )
    key = op.payload["column"]["key"]
    today = timezone.now().date()
    days = (today - dt.date(2026, 1, 1)).days
    assert values(sheet, key) == [days, days]
    assert Column.objects.get(sheet=sheet, key=key).options["volatile"] is True
    assert FormulaRecompute.objects.get(sheet=sheet).volatile_day == today

    recompute.formulas_tick()  # computed today: nothing to do
    assert not batches(sheet)

    # As on the next day: the cells hold yesterday's result.
    Row.objects.filter(sheet=sheet).update(data={"c1": 1, key: days - 1})
    FormulaRecompute.objects.filter(sheet=sheet).update(volatile_day=today - dt.timedelta(days=1))
    # The tick comes with a jobs worker's sweep, every FORMULA_TICKER_SECONDS.
    settings.GRIDCAST = {**settings.GRIDCAST, "FORMULA_TICKER_SECONDS": 60}
    monkeypatch.setattr(recompute, "_ticked_at", -math.inf)
    tasks_sweep()
    _finished(sheet)
    assert values(sheet, key) == [days, days]
    assert FormulaRecompute.objects.get(sheet=sheet).volatile_day == today
    (refresh,) = batches(sheet)
    assert refresh.payload["columns"] == [key] and refresh.payload["done"] == refresh.payload["total"] == 2

    recompute.sheet_opened(sheet.pk)  # opened again the same day: nothing more
    _join()
    assert len(batches(sheet)) == 1


def test_a_column_without_today_is_not_volatile(workspace, owner):
    sheet = make_sheet(workspace, owner, columns=[{"name": "Today", "type": "date"}])
    op = services.column_add(sheet=sheet, actor=owner, name="T", type="formula", options={"formula": "[Today]"})
    assert "volatile" not in op.payload["column"]["options"]
