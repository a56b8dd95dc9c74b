"""`manage.py backup` of a PostgreSQL installation (catalog in its `ducklake` schema, Parquet files
under its data path), restored by `manage.py restore` into an empty database and a fresh lake
directory: the same sheets, history, metrics and rollups, read by processes of the restored
installation."""

import json
import sys
import tarfile
import threading
import time

from django.conf import settings
from django.core.management import call_command
from django.db import connections

from accounts.models import Membership, Role
from analytics.backup import installation as backup_installation
from analytics.lake import connections as lake_connections
from analytics.lake.maintenance import maintain
from analytics.metrics import ingest as metrics_ingest
from analytics.metrics import rollup
from analytics.metrics import schema as metric_schema
from sheets import services

from .conftest import empty_database, environment, fingerprint_of, manage, run
from .fingerprint import fingerprint


def test_restored_into_an_empty_database_and_lake(installation, tmp_path):
    archive = tmp_path / "backup.tar.gz"
    call_command("backup", str(archive), verbosity=0)
    before = fingerprint()
    assert before["operations"] and before["cell_history"] and before["metric_rollup"]
    # (the suite's lake is shared by its tests: earlier ones' events may be there too)
    assert len(before["metric_events"]) >= 201 and len(before["sheet_views"]) == 2

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


def test_a_backup_taken_under_load_is_one_consistent_state(installation, writer, tmp_path):
    """Edits, their write-through, metric ingestion and rollups go on while the backup runs: the
    restored lake is never ahead of the restored database, its rollup matches its events, and its
    writer brings every sheet's view to the database's rows."""
    workspace, sheet = installation
    owner = Membership.objects.get(workspace=workspace, role=Role.OWNER).user
    rows = list(sheet.rows.values_list("id", flat=True))
    stop, counts, failures = threading.Event(), {"edits": 0}, []

    def load():
        try:
            rollups = metric_schema.connection()
            i = 0
            while not stop.is_set():
                i += 1
                cells = [{"row": rows[i % len(rows)], "col": "c2", "value": i}]
                services.cells_update(sheet=sheet, actor=owner, cells=cells)
                metrics_ingest.events_ingest(
                    workspace_id=workspace.pk,
                    payload=[{"metric": "load", "value": i, "timestamp": "2026-03-02T10:00:00Z"}] * 20,
                )
                writer.step()
                rollup.refresh(rollups)
                counts["edits"] = i
        except Exception as error:  # noqa: BLE001 - reported by the test
            failures.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=load)
    thread.start()
    try:
        while counts["edits"] < 3 and thread.is_alive():
            time.sleep(0.05)
        archive = tmp_path / "busy.tar.gz"
        call_command("backup", str(archive), verbosity=0)
        at_backup = counts["edits"]
        while counts["edits"] < at_backup + 3 and thread.is_alive():
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(60)
    assert not failures and counts["edits"] > at_backup > 3

    with empty_database("busy") as (url, name):
        env = environment(DATABASE_URL=url, GRIDCAST_INSTALLATION=name, ANALYTICS_DATA_PATH=str(tmp_path / "lake"))
        manage("restore", archive, env=env)
        found = json.loads(run([sys.executable, "-m", "tests.analytics.backup.consistency"], env).stdout)
    assert found["ahead"] == [] and found["mismatched"] == [] and found["sheets"] == 2
    assert found["rollup"]["folded"] == found["rollup"]["events"] >= 201


def test_files_deleted_by_upkeep_before_pinning_come_from_a_newer_snapshot(installation, writer, monkeypatch, tmp_path):
    """Upkeep with no retention merges files and deletes the old ones between the catalog snapshot
    and the pinning of its files: the backup takes a newer snapshot, and restores the same data."""
    real_pin, calls = backup_installation.pin, []

    def pin_after_upkeep(*args):
        calls.append(1)
        if len(calls) == 1:
            con = lake_connections.connect()
            try:
                with lake_connections.write_lock():
                    assert maintain(con, retention=0, merge_from=2)  # merged, expired, deleted
            finally:
                con.close()
        return real_pin(*args)

    monkeypatch.setattr(backup_installation, "pin", pin_after_upkeep)
    before = fingerprint()
    archive = tmp_path / "upkeep.tar"
    call_command("backup", str(archive), verbosity=0)
    assert len(calls) == 2
    writer.close()
    call_command("restore", str(archive), force=True, verbosity=0)
    assert fingerprint() == before
