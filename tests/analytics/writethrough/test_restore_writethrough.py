"""A sheet.restore (rows, cells and columns set back at once) reaches DuckLake: the writer reads
the sheet again from PostgreSQL, and its undo too (the lake and `writer`: tests/analytics/conftest.py)."""

import pytest

from sheets import services, undo
from sheets.models import Row
from tests.analytics.sheet_lake import assert_lake_matches
from tests.factories import make_sheet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]


def test_a_restore_and_its_undo_reach_the_lake(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, rows=4)
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("pk", flat=True))
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "then"}])
    then = sheet.version
    services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[0], "col": "c1", "value": "now"}])
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[1]])
    services.column_rename(sheet=sheet, actor=owner, key="c2", name="Renamed")
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    services.sheet_restore(sheet=sheet, actor=owner, version=then, scope="sheet")
    writer.catch_up()
    assert_lake_matches(sheet.pk)
    undo.operation_undo(sheet=sheet, actor=owner)
    writer.catch_up()
    assert_lake_matches(sheet.pk)
