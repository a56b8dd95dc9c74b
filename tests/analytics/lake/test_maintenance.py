"""The lake's upkeep (analytics/lake/maintenance.py): inlined rows flushed to Parquet, small files
merged, and the sheets' data unchanged by either."""

import threading

import pytest
from django.db import connection

from analytics.lake import maintenance
from analytics.queries.selectors import sheet_rows
from sheets import services
from sheets.models import Row
from tests.analytics.sheet_lake import assert_lake_matches
from tests.factories import make_sheet

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("lake_files")]


def files(con, table):
    return con.execute(f"SELECT count(*) FROM ducklake_list_files('lake', '{table}')").fetchone()[0]


def inlined(table):
    """Live rows of `table` that DuckLake keeps in the catalog's inlined-data tables."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.table_name FROM ducklake.ducklake_inlined_data_tables i JOIN ducklake.ducklake_table t"
            " USING (table_id) WHERE t.table_name = %s AND t.end_snapshot IS NULL",
            [table],
        )
        total = 0
        for (name,) in cursor.fetchall():
            cursor.execute(f'SELECT count(*) FROM ducklake."{name}" WHERE end_snapshot IS NULL')
            total += cursor.fetchone()[0]
    return total


def test_flush_and_merge_keep_the_data(workspace, owner, writer):
    sheet = make_sheet(workspace, owner, rows=3)
    rows = list(Row.objects.filter(sheet=sheet).values_list("pk", flat=True))
    before = files(writer.con, "cell_events")
    for n in range(3):  # three batches, each flushed to a Parquet file of its own
        services.cells_update(sheet=sheet, actor=owner, cells=[{"row": rows[n], "col": "c2", "value": n + 1.5}])
        writer.catch_up()
        assert inlined("cell_events") > 0  # small batches are inlined in the catalog
        merged = maintenance.maintain(writer.con, expire=False, merge_from=10**9)
        assert merged == {}  # below merge_from: flushed only
        assert inlined("cell_events") == 0
    flushed = files(writer.con, "cell_events")
    assert flushed >= before + 3
    view = sheet_rows(sheet.pk)

    merged = maintenance.maintain(writer.con, retention=0, merge_from=2)
    assert merged["cell_events"] == flushed
    assert files(writer.con, "cell_events") < flushed
    assert sheet_rows(sheet.pk) == view
    assert [r["amount"] for r in view] == [1.5, 2.5, 3.5]
    assert_lake_matches(sheet.pk)


def test_the_maintenance_loop_stops_when_told(settings):
    stop = threading.Event()
    thread = threading.Thread(target=maintenance.run, args=(stop,), kwargs={"interval": 0.05}, daemon=True)
    thread.start()
    stop.set()
    thread.join(10)
    assert not thread.is_alive()
