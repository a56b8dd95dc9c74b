"""The embedded default (SQLite database, SQLite lake catalog, Parquet files under var/), as `make run`
has it: filled and backed up by `manage.py backup` in one installation's var/, restored by
`manage.py restore` into a fresh var/, where processes of the restored installation find the same
sheets, history, metrics and rollups. None of it touches the suite's test database."""

import json
import os
import sqlite3
import sys
import tarfile

from .conftest import fingerprint_of, manage, run


def embedded(var_dir):
    """The environment of an embedded installation under `var_dir` (none of the suite's settings)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "GRIDCAST_INSTALLATION")
        and not k.startswith(("PYTEST_", "ANALYTICS_"))
    }
    env.update(DJANGO_SETTINGS_MODULE="config.settings.embedded", GRIDCAST_VAR_DIR=str(var_dir), GRIDCAST_DEMO="0")
    return env


def test_embedded_default_restored_into_a_fresh_var(tmp_path):
    archive = tmp_path / "embedded.tar"
    source = embedded(tmp_path / "source")
    before = json.loads(run([sys.executable, "-m", "tests.analytics.backup.populate", archive], source).stdout)
    assert before["operations"] and before["cell_history"] and before["metric_rollup"]
    assert len(before["metric_events"]) == 201

    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.load(tar.extractfile("manifest.json"))
    assert names[0] == "manifest.json" and {"database.sqlite3", "lake/catalog.sqlite"} <= set(names)
    assert manifest["engine"] == manifest["lake"]["catalog"] == "sqlite"
    assert any(name.endswith(".parquet") for name in names)

    target = embedded(tmp_path / "target")
    restored = manage("restore", archive, env=target)
    assert "Restored the sqlite database and lake" in restored.stdout
    assert (tmp_path / "target" / "gridcast.sqlite3").exists() and (tmp_path / "target" / "ducklake.sqlite").exists()
    assert fingerprint_of(target) == before

    # Restored again over itself with --force (test_hostile_backups.py: refused without): its SQLite
    # files and lake directory are replaced, none left aside.
    manage("restore", archive, "--force", env=target)
    assert not list((tmp_path / "target").rglob("*before-restore*"))
    assert fingerprint_of(target) == before


# A backup of an older Gridcast: the installation migrated, then its latest sheets migration taken back.
OLDER = """
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
call_command("migrate", interactive=False, verbosity=0)
graph = MigrationLoader(None).graph
leaf = graph.leaf_nodes("sheets")[0]
parent = next(p.key for p in graph.node_map[leaf].parents if p.key[0] == "sheets")
call_command("migrate", "sheets", parent[1], interactive=False, verbosity=0)
call_command("backup", sys.argv[1], verbosity=0)
print(json.dumps([leaf[1], parent[1]]))
"""


def test_a_backup_of_an_older_gridcast_is_migrated_when_restored(tmp_path):
    archive = tmp_path / "older.tar.gz"
    latest, older = json.loads(run([sys.executable, "-c", OLDER, archive], embedded(tmp_path / "older")).stdout)
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))["migrations"]["sheets"] == older

    restored = manage("restore", archive, env=embedded(tmp_path / "target"))
    assert "applied 1 newer migration(s)" in restored.stdout
    with sqlite3.connect(tmp_path / "target" / "gridcast.sqlite3") as db:
        applied = {name for (name,) in db.execute("SELECT name FROM django_migrations WHERE app = 'sheets'")}
    assert {latest, older} <= applied
