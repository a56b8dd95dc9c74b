"""Bad archives given to `manage.py restore`: each is refused with a one-line error before anything
is changed, even with --force (which would otherwise replace this installation's data): not a tar,
truncated, a member altered (checksum), a member missing (partial), another format version, a newer
Gridcast's migrations, another engine, no manifest, a member the manifest does not list. And an
installation that is not empty is refused without --force. With --force, a good archive replaces it."""

import io
import json
import tarfile

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analytics.lake import connections as lake_connections
from analytics.lake.connections import data_path
from sheets.models import Operation, Sheet

from .fingerprint import fingerprint


def state():
    """What a refused restore must leave as it was: the database's sheets and log, the lake's
    catalog (its latest snapshot) and files, and no scratch directory left behind."""
    with psycopg.connect(lake_connections.postgres_conninfo(), autocommit=True) as pg:
        snapshot = pg.execute("SELECT max(snapshot_id) FROM ducklake.ducklake_snapshot").fetchone()[0]
    return {
        "sheets": sorted(Sheet.objects.values_list("id", "name", "version")),
        "operations": Operation.objects.count(),
        "snapshot": snapshot,
        "files": sorted(str(p.relative_to(data_path())) for p in data_path().rglob("*")),
        "scratch": sorted(p.name for p in data_path().parent.glob(".gridcast-*")),
    }


def read_members(path):
    with tarfile.open(path) as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]


def write_members(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            info = tarfile.TarInfo(info.name) if isinstance(info, tarfile.TarInfo) else tarfile.TarInfo(info)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def with_manifest(members, change):
    manifest = json.loads(members[0][1])
    change(manifest)
    return [(members[0][0], json.dumps(manifest).encode()), *members[1:]]


@pytest.fixture
def good_archive(installation, tmp_path):
    path = tmp_path / "good.tar.gz"
    call_command("backup", str(path), verbosity=0)
    return path


def bad_archives(good, tmp_path):
    members = read_members(good)
    names = [info.name for info, _ in members]
    raw = good.read_bytes()
    database = names.index("database.dump")
    flipped = bytearray(members[database][1])
    flipped[len(flipped) // 2] ^= 0xFF
    altered = list(members)
    altered[database] = (members[database][0], bytes(flipped))
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 40)
    yield "garbage", garbage, "corrupt backup"
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(raw[: len(raw) * 2 // 3])
    yield "truncated", truncated, "corrupt backup"
    yield "altered", write_members(tmp_path / "altered.tar.gz", altered), "checksum mismatch in database.dump"
    partial = [m for m in members if m[0].name != "lake/catalog.dump"]
    yield "partial", write_members(tmp_path / "partial.tar.gz", partial), "partial backup"
    parquet = [m for m in members if not m[0].name.endswith(".parquet") or m is members[-1]]
    yield "partial lake", write_members(tmp_path / "nolake.tar", parquet, "w"), "partial backup"

    def version(m):
        m["format_version"] = 2

    yield "format", write_members(tmp_path / "v2.tar.gz", with_manifest(members, version)), "format version 2"

    def newer(m):
        m["migrations"]["sheets"] = "0999_from_the_future"

    yield "newer", write_members(tmp_path / "newer.tar.gz", with_manifest(members, newer)), "from a newer Gridcast"

    def engine(m):
        m["engine"] = "sqlite"

    yield "engine", write_members(tmp_path / "engine.tar.gz", with_manifest(members, engine)), "sqlite installation"
    yield "no manifest", write_members(tmp_path / "plain.tar.gz", members[1:]), "not a Gridcast backup"
    smuggled = [*members, (tarfile.TarInfo("../../escaped.sh"), b"echo owned")]
    yield "smuggled", write_members(tmp_path / "smuggled.tar.gz", smuggled), "not in its manifest"


def test_bad_archives_are_refused_before_anything_changes(good_archive, tmp_path):
    before, full = state(), fingerprint()
    for case, path, message in bad_archives(good_archive, tmp_path):
        with pytest.raises(CommandError) as refused:
            call_command("restore", str(path), force=True, verbosity=0)
        assert message in str(refused.value), (case, str(refused.value))
        assert "\n" not in str(refused.value), case
        assert state() == before, case
    assert fingerprint() == full
    assert not (tmp_path.parent / "escaped.sh").exists()


def test_an_installation_that_is_not_empty_needs_force(good_archive, writer):
    before = state()
    with pytest.raises(CommandError, match=r"this installation is not empty \(its database has rows in .*--force"):
        call_command("restore", str(good_archive), verbosity=0)
    assert state() == before

    # --force replaces it: a sheet deleted since the backup is back, database and lake as they were.
    full = fingerprint()
    Sheet.objects.filter(name="Stock").delete()
    writer.catch_up()
    writer.close()
    call_command("restore", str(good_archive), force=True, verbosity=0)
    assert fingerprint() == full
    assert state()["scratch"] == [] and not list(data_path().parent.glob(f"{data_path().name}.before-restore-*"))
