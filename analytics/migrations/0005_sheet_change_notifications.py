"""PostgreSQL only: every committed change of sheets_sheet (a new version, a sheet created or
deleted) sends a NOTIFY on the channel the analytics worker LISTENs to (writethrough.Wakeup),
so it starts its next batch at once instead of at its next poll."""
from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION gridcast_sheets_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('gridcast_sheets', '');
    RETURN NULL;
END $$;
CREATE TRIGGER gridcast_sheets_changed AFTER INSERT OR DELETE OR UPDATE OF version ON sheets_sheet
    FOR EACH STATEMENT EXECUTE FUNCTION gridcast_sheets_changed();
"""
DROP = """
DROP TRIGGER IF EXISTS gridcast_sheets_changed ON sheets_sheet;
DROP FUNCTION IF EXISTS gridcast_sheets_changed();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0004_alert_rule_sheet_columns"), ("sheets", "0003_operation_actor_index")]
    operations = [migrations.RunPython(forwards, backwards)]
