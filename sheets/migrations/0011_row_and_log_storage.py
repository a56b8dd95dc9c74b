import django.db.models.deletion
from django.db import migrations, models

# The share of each page of sheets_row that new rows fill (see Row): what is left free lets a
# row rewritten with new data (a formula recompute, an edit) stay on its page without touching an
# index. Rows written before keep their pages until they move.
FILLFACTOR = 70


def fillfactor(value):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE sheets_row SET (fillfactor = {value})")

    return run


def log_compression(method):
    """The operation log's large payloads (a recompute batch carries 15,000 values) compressed with
    lz4, about twice as fast to write as PostgreSQL's default; skipped where the server has none."""

    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
            )
            if cursor.fetchone()[0]:
                for column in ("payload", "previous"):
                    cursor.execute(f"ALTER TABLE sheets_operation ALTER COLUMN {column} SET COMPRESSION {method}")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("sheets", "0010_row_change"),
    ]

    operations = [
        migrations.AlterField(
            model_name="row",
            name="sheet",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="rows", to="sheets.sheet"
            ),
        ),
        migrations.RunPython(fillfactor(FILLFACTOR), fillfactor(100)),
        migrations.RunPython(log_compression("lz4"), log_compression("pglz")),
    ]
