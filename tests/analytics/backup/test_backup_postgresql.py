"""`manage.py backup` of a PostgreSQL installation (catalog in its `ducklake` schema, Parquet files
under its data path), restored by `manage.py restore` into an empty database and a fresh lake
directory: the same sheets, history, metrics and rollups, read by processes of the restored
installation."""

import json
import tarfile

from django.conf import settings
from django.core.management import call_command

from .conftest import empty_database, environment, fingerprint_of, manage
from .fingerprint import fingerprint


def test_restored_into_an_empty_database_and_lake(installation, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), verbosity=0)
    before = fingerprint()
    assert before["operations"] and before["cell_history"] and before["metric_rollup"]
    assert len(before["metric_events"]) == 201 and len(before["sheet_views"]) == 2

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json" and {"database.dump", "lake/catalog.dump"} <= set(names)
    parquet = [n for n in names if n.startswith("lake/data/") and n.endswith(".parquet")]
    assert parquet and manifest["lake"]["files"] == len(parquet)
    assert manifest["engine"] == manifest["lake"]["catalog"] == "postgresql"
    assert manifest["format_version"] == 1 and manifest["migrations"]["sheets"].startswith("00")
    assert set(manifest["members"]) == set(names) - {"manifest.json"}

    with empty_database("restored") as (url, name):
        env = environment(DATABASE_URL=url, GRIDCAST_INSTALLATION=name, ANALYTICS_DATA_PATH=str(tmp_path / "lake"))
        restored = manage("restore", archive, env=env)
        assert "Restored the postgresql database and lake" in restored.stdout
        after = fingerprint_of(env)
        # The restored lake's files are its own, under its own data path.
        assert len(list((tmp_path / "lake" / name).rglob("*.parquet"))) == len(parquet)

    assert after == before
    assert settings.DATABASES["default"]["NAME"] != name
