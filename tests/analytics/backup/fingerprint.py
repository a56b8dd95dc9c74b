"""What a backup must bring back, read from an installation: its users, workspaces, sheets, rows and
operation log (the history) from the database; from the lake, every sheet's view, the cell history,
the metric events and their rollups, through a fresh lake connection. Run as a script
(`python -m tests.analytics.backup.fingerprint`) it prints them as JSON for the installation its
environment names, so a test can compare two installations."""

import json
import os

import django


def _lake():
    from analytics.lake import connections as lake_connections
    from analytics.metrics.schema import ROLLUP, TABLE
    from sheets.models import Sheet

    con = lake_connections.connect(read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    try:

        def rows(sql):
            return [[str(value) for value in row] for row in con.execute(sql).fetchall()]

        return {
            "sheet_views": {
                str(sheet_id): rows(f"SELECT COLUMNS(*)::VARCHAR FROM lake.sheet_{int(sheet_id)} ORDER BY _row::BIGINT")
                for sheet_id in Sheet.objects.order_by("id").values_list("id", flat=True)
            },
            "cell_history": rows("SELECT COLUMNS(*)::VARCHAR FROM lake.cell_history ORDER BY ALL"),
            "metric_events": rows(f"SELECT COLUMNS(*)::VARCHAR FROM {TABLE} ORDER BY ALL"),
            "metric_rollup": rows(f"SELECT COLUMNS(*)::VARCHAR FROM {ROLLUP} ORDER BY ALL"),
            "rollup_state": rows("SELECT COLUMNS(*)::VARCHAR FROM lake.metric_rollup_state ORDER BY ALL"),
        }
    finally:
        con.close()


def fingerprint() -> dict:
    from accounts.models import User, Workspace
    from sheets.models import Column, Operation, Row, Sheet

    def listed(queryset, *fields):
        return [[str(value) for value in row] for row in queryset.values_list(*fields)]

    return {
        "users": listed(User.objects.order_by("id"), "id", "email", "password"),
        "workspaces": listed(Workspace.objects.order_by("id"), "id", "name"),
        "sheets": listed(Sheet.objects.order_by("id"), "id", "workspace_id", "name", "version"),
        "columns": listed(Column.objects.order_by("sheet_id", "key"), "sheet_id", "key", "name", "type", "position"),
        "rows": listed(Row.objects.order_by("sheet_id", "id"), "sheet_id", "id", "position", "data"),
        "operations": listed(
            Operation.objects.order_by("id"),
            "id",
            "sheet_id",
            "version",
            "kind",
            "payload",
            "previous",
            "actor_id",
            "op_id",
            "created_at",
        ),
        **_lake(),
    }


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.embedded")
    django.setup()
    print(json.dumps(fingerprint()))
