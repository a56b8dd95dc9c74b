"""Hostile values on their way to the lake: text the lake cannot take (an unpaired surrogate, a
NUL), which a database may hold from before it was refused (SQLite's JSON under `make run`
takes both), is written as U+FFFD, and every sheet keeps reaching the lake.

Before: the writer's batch failed on such a value, and the writer retried that same batch
forever: no sheet of the installation reached the lake any more (dashboards and alert rules on
sheets stood still)."""

import pytest

from analytics.queries import selectors
from analytics.writethrough import state as wt_state
from analytics.writethrough import writer as wt_writer
from sheets import services
from sheets.models import Row
from tests.factories import make_sheet

pytestmark = pytest.mark.django_db(transaction=True)

POISONS = {"SURROGATE": "a\ud800b", "NUL": "a\x00b"}


def poisoned(payload):
    """The payload with the markers replaced by what PostgreSQL cannot hold but SQLite can."""
    if isinstance(payload, dict):
        return {key: poisoned(value) for key, value in payload.items()}
    if isinstance(payload, list):
        return [poisoned(value) for value in payload]
    return POISONS.get(payload, payload) if isinstance(payload, str) else payload


def test_a_value_the_lake_cannot_take_never_holds_the_writer_back(workspace, owner, writer, monkeypatch):
    columns = [{"name": "Note", "type": "text"}, {"name": "Amount", "type": "number"}]
    bad = make_sheet(workspace, owner, columns=columns, name="Bad")
    good = make_sheet(workspace, owner, columns=columns, name="Good")
    services.rows_insert(sheet=bad, actor=owner, rows=[{"c1": "SURROGATE", "c2": 1}, {"c1": "NUL"}])
    services.sheet_rename(sheet=bad, actor=owner, name="SURROGATE")
    services.rows_insert(sheet=good, actor=owner, rows=[{"c1": "fine", "c2": 2}])
    read = wt_writer.operations
    monkeypatch.setattr(
        wt_writer,
        "operations",
        lambda behind, limit: [(s, v, k, poisoned(p), *more) for s, v, k, p, *more in read(behind, limit)],
    )
    writer.catch_up(timeout=20)
    bad.refresh_from_db()
    good.refresh_from_db()
    assert writer.states[bad.pk].version == bad.version and writer.states[good.pk].version == good.version
    assert [(r["note"], r["amount"]) for r in selectors.sheet_rows(bad.pk)] == [("a\ufffdb", 1.0), ("a\ufffdb", None)]
    assert writer.states[bad.pk].name == "a\ud800b"  # the state in memory; the lake's copy is a\ufffdb
    assert [(r["note"], r["amount"]) for r in selectors.sheet_rows(good.pk)] == [("fine", 2.0)]
    # And the writer goes on with later edits.
    services.cells_update(
        sheet=good, actor=owner, cells=[{"row": Row.objects.get(sheet=good).pk, "col": "c2", "value": 3}]
    )
    writer.catch_up(timeout=20)
    assert [r["amount"] for r in selectors.sheet_rows(good.pk)] == [3.0]


def test_cell_text_keeps_what_the_lake_takes():
    assert wt_state.cell_text("é😀 \t\n") == "é😀 \t\n"
    assert wt_state.cell_text("x\x00\udfff") == "x\ufffd\ufffd"
    assert wt_state.cell_text(10**400) == "1" + "0" * 400  # the view reads it as a number beyond a float
