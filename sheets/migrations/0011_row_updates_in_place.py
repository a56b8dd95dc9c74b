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
    ]
