"""An installation worth backing up: a workspace with a sheet edited several times (its operation
log, the lake's sheet view and cell history, partly flushed to Parquet files, partly inlined in the
catalog), and metric events (a Parquet file and an inlined batch) folded into rollups.

Run as a script (`python -m tests.analytics.backup.populate <archive>`), it migrates the installation
its environment names (the embedded default in the tests), fills it, backs it up into <archive> and
prints its fingerprint as JSON."""

import datetime as dt
import json
import os
import sys

import django

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def populate(writer):
    """Fill this installation (see the module's docstring); `writer` is the sheet write-through's Writer."""
    from accounts.models import Role
    from analytics.lake import connections as lake_connections
    from analytics.lake.maintenance import maintain
    from analytics.metrics import ingest as metrics_ingest
    from analytics.metrics import rollup
    from analytics.metrics import schema as metric_schema
    from sheets import services
    from sheets.models import Row
    from tests.factories import WorkspaceFactory, make_sheet, member

    workspace = WorkspaceFactory()
    owner = member(workspace, Role.OWNER)
    editor = member(workspace, Role.EDITOR)
    sheet = make_sheet(workspace, owner, rows=4)
    other = make_sheet(workspace, owner, rows=2, name="Stock")
    rows = list(Row.objects.filter(sheet=sheet).order_by("position").values_list("id", flat=True))
    for i, row in enumerate(rows):
        services.cells_update(
            sheet=sheet,
            actor=owner,
            cells=[{"row": row, "col": "c1", "value": f"Customer {i}"}, {"row": row, "col": "c2", "value": 10.5 * i}],
        )
    writer.catch_up()
    con = lake_connections.connect()
    try:
        with lake_connections.write_lock():
            maintain(con, expire=False, merge_from=1000)  # the events so far into Parquet files
    finally:
        con.close()
    # Later edits stay inlined in the catalog.
    services.cells_update(sheet=sheet, actor=editor, cells=[{"row": rows[0], "col": "c7", "value": "shipped"}])
    services.cells_update(sheet=other, actor=owner, cells=[{"row": other.rows.first().id, "col": "c3", "value": 7}])
    services.rows_delete(sheet=sheet, actor=owner, row_ids=[rows[-1]])
    writer.catch_up()
    metric_schema.reset_connection()
    metrics_ingest.events_ingest(
        workspace_id=workspace.pk,
        payload=[
            {
                "metric": "revenue",
                "value": i * 1.5,
                "timestamp": (START + dt.timedelta(minutes=i)).isoformat(),
                "tags": {"region": "eu" if i % 2 else "us"},
            }
            for i in range(200)
        ],
    )
    metrics_ingest.events_ingest(
        workspace_id=workspace.pk, payload=[{"metric": "orders", "value": 1, "timestamp": START.isoformat()}]
    )
    assert rollup.refresh(metric_schema.connection()) >= 201  # (earlier tests may have left events to fold)
    return workspace, sheet


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    django.setup()
    from django.core.management import call_command

    from analytics.writethrough.writer import Writer

    from .fingerprint import fingerprint

    call_command("migrate", interactive=False, verbosity=0)
    writer = Writer()
    try:
        populate(writer)
    finally:
        writer.close()
    call_command("backup", sys.argv[1], verbosity=0)
    print(json.dumps(fingerprint()))
