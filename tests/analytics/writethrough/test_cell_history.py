"""The lake's history of cell changes (cell_history): every committed change with its version, time,
actor, column and values before and after, appended by the writer exactly once (whatever path the
operation took: a batch, a rebuild of a sheet whose operation carries no data, a crash before the
commit), written again from the operation log by rebuild_analytics, and gone with its sheet."""

import datetime as dt
import random

import pytest
from django.core.management import call_command

from analytics.lake import connections as lake_connections
from analytics.writethrough.writer import Writer
from sheets import history, services, undo
from sheets.models import Operation, Sheet
from sheets.services import columns as column_services
from tests.factories import make_sheet, member

from .test_writethrough import random_edits

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]

COLUMNS = "version, actor_id, actor, actor_email, operation, change, row_ref, col, col_name, old_value, new_value"


def lake_history(sheet_id, where=""):
    return lake_connections.query(
        f"SELECT {COLUMNS} FROM lake.cell_history WHERE sheet_id = ? {where} "
        "ORDER BY version, row_ref, col NULLS FIRST",
        [sheet_id],
    )[1]


def changes_in_log(sheet_id):
    """(version, row, col) of every change the operation log holds for the sheet."""
    return sorted(
        (op.version, change.row, change.col or None)
        for op in Operation.objects.filter(sheet_id=sheet_id)
        for change in history.changes(op.kind, op.payload, op.previous).values()
    )


def changes_in_lake(sheet_id):
    return sorted(
        lake_connections.query("SELECT version, row_ref, col FROM lake.cell_history WHERE sheet_id = ?", [sheet_id])[1]
    )


def test_an_edit_appears_with_its_actor_time_column_and_values(workspace, owner, writer):
    owner.display_name = "Olive Owner"
    owner.save()
    editor = member(workspace)
    sheet = make_sheet(workspace, owner)
    row = services.rows_insert(sheet=sheet, actor=owner, rows=[{"c1": "Ada", "c2": 3}]).payload["rows"][0]["id"]
    before = dt.datetime.now(dt.UTC)
    edit = services.cells_update(
        sheet=sheet,
        actor=editor,
        cells=[{"row": row, "col": "c2", "value": 4.5}, {"row": row, "col": "c1", "value": "Al"}],
    )
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[row])
    writer.catch_up()

    found = lake_history(sheet.pk)
    created, name_change, amount_change, deleted = found
    assert created[4:] == ("rows.insert", "created", row, None, None, None, '{"c1": "Ada", "c2": 3}')
    assert created[1:4] == (owner.pk, "Olive Owner", owner.email)
    assert name_change == (edit.version, editor.pk, editor.label, editor.email, "cells.update", "changed", row, "c1",
                           "Name", "Ada", "Al")  # fmt: skip
    assert amount_change[7:] == ("c2", "Amount", "3", "4.5")
    assert deleted[4:8] == ("rows.delete", "deleted", row, None)
    assert deleted[9:] == ('{"c1": "Al", "c2": 4.5}', None)
    (micros,) = lake_connections.query(
        "SELECT epoch_us(changed_at) FROM lake.cell_history WHERE sheet_id = ? AND version = ? LIMIT 1",
        [sheet.pk, edit.version],
    )[1][0]
    at = dt.datetime.fromtimestamp(micros / 1e6, dt.UTC)
    assert before - dt.timedelta(seconds=5) < at < dt.datetime.now(dt.UTC)
    assert {w for (w,) in lake_connections.query("SELECT DISTINCT workspace_id FROM lake.cell_history "
                                                 "WHERE sheet_id = ?", [sheet.pk])[1]} == {workspace.pk}  # fmt: skip


def test_a_column_keeps_the_name_it_had_then_and_undo_is_a_change_too(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, rows=1)
    row = sheet.rows.get().pk
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "x"}])
    column_services.column_rename(sheet=sheet, actor=owner, key="c1", name="Customer")
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": row, "col": "c1", "value": "y"}])
    undo.operation_undo(sheet=sheet, actor=owner)
    writer.catch_up()
    cells = [(r[8], r[9], r[10]) for r in lake_history(sheet.pk, "AND col = 'c1'")]
    assert cells == [("Name", None, "x"), ("Customer", "x", "y"), ("Customer", "y", "x")]
    call_command("rebuild_analytics", sheet=[sheet.pk], verbosity=0)  # replayed from the log: the same names
    assert [(r[8], r[9], r[10]) for r in lake_history(sheet.pk, "AND col = 'c1'")] == cells


def test_every_change_is_there_once_whatever_path_it_took(workspace, owner, writer, settings):
    rng = random.Random(5)
    sheet = make_sheet(workspace, owner, rows=4)
    random_edits(sheet, owner, rng, 30)
    writer.catch_up()
    # A sheet the writer meets with a long log is loaded from a snapshot: its history from the log.
    writer.rebuild_above = 10
    long = make_sheet(workspace, owner, rows=2, name="Long")
    random_edits(long, owner, rng, 20)
    call_command("seed_demo", rows=50, cols=4, seed=3, verbosity=0)  # a bulk insert: a rebuild mid-log
    demo = Sheet.objects.get(name="orders")
    services.cells_update(sheet=demo, actor=owner, cells=[{"row": demo.rows.first().pk, "col": "c1", "value": "z"}])
    random_edits(sheet, owner, rng, 30)

    def crash():
        raise RuntimeError("injected between append and commit")

    writer.before_commit = crash
    with pytest.raises(RuntimeError, match="injected"):
        writer.step()
    writer.close()
    again = Writer()
    try:
        again.rebuild_above = 10
        again.catch_up()
        for s in (sheet, long, demo):
            assert changes_in_lake(s.pk) == changes_in_log(s.pk), s.name
    finally:
        again.close()
    assert len(changes_in_log(sheet.pk)) > 30


def test_rebuild_analytics_writes_it_again_from_the_log_and_a_deleted_sheet_takes_it_along(workspace, owner, writer):
    rng = random.Random(9)
    sheet = make_sheet(workspace, owner, rows=3)
    gone = make_sheet(workspace, owner, rows=2, name="Gone")
    random_edits(sheet, owner, rng, 25)
    writer.catch_up()
    kept = lake_history(sheet.pk)
    call_command("rebuild_analytics", verbosity=0)
    assert lake_history(sheet.pk) == kept
    assert changes_in_lake(sheet.pk) == changes_in_log(sheet.pk)
    assert lake_history(gone.pk)
    services.sheet_delete(sheet=gone, actor=owner)
    writer.catch_up()
    assert lake_history(gone.pk) == []
    assert lake_history(sheet.pk) == kept
