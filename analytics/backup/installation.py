"""backup_write() and backup_restore(): this installation's database and lake, into one archive and
back. What is in an archive:

    manifest.json                          (first: archive.py, manifest.py)
    database.dump | database.sqlite3       the Django database (pg_dump custom format | SQLite copy)
    lake/catalog.dump | lake/catalog.sqlite the DuckLake catalog (its `ducklake` schema | SQLite copy)
    lake/data/<path>                       each Parquet file the catalog references

Order: the lake's catalog snapshot is taken first, the database's at the same moment (a PostgreSQL
catalog in the Django database: one exported snapshot serves both) or just after. So the lake is
never ahead of the database: after a restore the analytics writer finds the operations the lake
has not applied yet in the database, and applies them, as after any pause (the reverse would skip
operations whose ids the restored database hands out again).
"""

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from analytics.lake import connections as lake_connections

from . import archive, manifest, postgres, sqlite
from .lake import DATA_PREFIX, LakeFileMissing, pin, referenced_files, relocate_sql
from .manifest import BackupFailed, BackupRefused

Progress = Callable[[str, int, int | None], None]
DATABASE = {"postgresql": "database.dump", "sqlite": "database.sqlite3"}
CATALOG = {"postgresql": "lake/catalog.dump", "sqlite": "lake/catalog.sqlite"}
# Rows every migrated database has (migrate writes them): they do not make an installation "not empty".
CREATED_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission"}
ATTEMPTS = 3


@dataclass(frozen=True)
class Layout:
    """Where this installation keeps its data, from its settings."""

    engine: str  # "postgresql" or "sqlite"
    database: str  # a libpq conninfo or a file
    catalog: str  # "postgresql" or "sqlite"
    catalog_location: str  # a libpq conninfo or a file
    data_path: Path

    @classmethod
    def current(cls) -> "Layout":
        db = settings.DATABASES[DEFAULT_DB_ALIAS]
        if db["ENGINE"] == "django.db.backends.postgresql":
            engine, database = "postgresql", postgres.django_conninfo(db)
        elif db["ENGINE"] == "django.db.backends.sqlite3":
            engine, database = "sqlite", str(db["NAME"])
        else:
            raise BackupFailed(f"backups cover PostgreSQL and SQLite databases, not {db['ENGINE']}")
        conninfo = lake_connections.postgres_conninfo()
        if conninfo:
            catalog, location = "postgresql", conninfo
        else:
            catalog, location = "sqlite", lake_connections.sqlite_catalog_path()
        return cls(engine, database, catalog, location, lake_connections.data_path())

    @property
    def catalog_in_database(self) -> bool:
        return self.engine == self.catalog == "postgresql" and postgres.same_database(
            self.database, self.catalog_location
        )

    def staging(self, prefix: str) -> Path:
        """A scratch directory beside the lake's files (one file system: links and renames work)."""
        root = self.data_path.parent
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))


def default_name() -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"gridcast-backup-{settings.INSTALLATION_NAME}-{stamp}.tar.gz"


def _staged_files(staging: Path) -> dict[str, Path]:
    return {
        f"{DATA_PREFIX}{path.relative_to(staging / 'lake' / 'data').as_posix()}": path
        for path in sorted((staging / "lake" / "data").rglob("*"))
        if path.is_file()
    }


def _postgres_catalog(layout, pinned, pinning):
    """The PostgreSQL catalog's snapshot (left open for the dumps), its data path and files, pinned.
    A file deleted between the snapshot and its link (possible only when SNAPSHOT_RETENTION_SECONDS
    is shorter than that moment) makes it take a newer snapshot."""
    for attempt in range(ATTEMPTS):
        shared = postgres.Snapshot(layout.catalog_location)
        try:
            data_path, files = referenced_files(shared.cursor, "ducklake.")
            pin(layout.data_path, files, pinned, pinning)
            return shared, data_path, files
        except LakeFileMissing:
            shared.close()
            shutil.rmtree(pinned, ignore_errors=True)
            if attempt == ATTEMPTS - 1:
                raise
        except BaseException:
            shared.close()
            raise


def backup_write(*, path: Path, progress: Progress) -> dict:
    """Write this installation's backup to `path`; returns its manifest."""
    layout = Layout.current()
    if path.exists():
        raise BackupFailed(f"{path} exists; choose another name (a backup never overwrites a file)")
    archive.compression(path)  # a name it cannot write is refused before any work
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise BackupFailed(f"{path.parent} is not a directory this process can write the backup into")
    lake_connections.connect().close()  # a lake never attached gets its catalog now
    staging = layout.staging(".gridcast-backup-")
    pinned = staging / "lake" / "data"
    members: dict[str, Path] = {}

    def pinning(done, total):
        progress("lake files", done, total)

    try:
        catalog_file = staging / CATALOG[layout.catalog]
        catalog_file.parent.mkdir(parents=True, exist_ok=True)
        database_file = staging / DATABASE[layout.engine]
        # 1. The lake's catalog at one snapshot, and the files it references pinned.
        progress("lake catalog", 0, 1)
        if layout.catalog == "sqlite":
            with lake_connections.write_lock():  # no lake writer commits meanwhile
                sqlite.copy(Path(layout.catalog_location), catalog_file)
                with sqlite.opened(catalog_file) as db:
                    data_path, files = referenced_files(db.cursor(), "")
                pin(layout.data_path, files, pinned, pinning)
            shared = None
        else:
            shared, data_path, files = _postgres_catalog(layout, pinned, pinning)
        try:
            if shared is not None:
                shared.dump(catalog_file, schema="ducklake")
            progress("lake catalog", 1, 1)
            # 2. The database: at the catalog's snapshot when it holds the catalog, else just after.
            progress("database", 0, 1)
            if layout.engine == "postgresql":
                if shared is not None and layout.catalog_in_database:
                    snap = shared
                else:
                    snap = postgres.Snapshot(layout.database)
                try:
                    applied = snap.applied_migrations()
                    snap.dump(database_file, exclude_schema="ducklake")
                finally:
                    if snap is not shared:
                        snap.close()
            else:
                sqlite.copy(Path(layout.database), database_file)
                applied = sqlite.applied_migrations(database_file)
            progress("database", 1, 1)
        finally:
            if shared is not None:
                shared.close()
        if not applied:
            raise BackupFailed("the database has no migrations applied: there is nothing to back up (run migrate)")
        members[DATABASE[layout.engine]] = database_file
        members[CATALOG[layout.catalog]] = catalog_file
        members.update(_staged_files(staging))
        written = manifest.build(
            engine=layout.engine,
            catalog=layout.catalog,
            installation=settings.INSTALLATION_NAME,
            migrations=manifest.latest_migrations(applied),
            data_path=data_path,
            members={},
            lake_files=len(files),
        )
        archive.write(path, written, members, progress)
        return {**written, "bytes": path.stat().st_size}
    finally:
        archive.remove(staging)


def _has_rows() -> str | None:
    """The first model with rows in the database (besides what migrate writes), or None."""
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor == "sqlite" and not Path(str(connection.settings_dict["NAME"])).exists():
        return None
    tables = set(connection.introspection.table_names())
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.label_lower in CREATED_BY_MIGRATE or not opts.managed or opts.proxy or opts.db_table not in tables:
            continue
        if model._base_manager.using(DEFAULT_DB_ALIAS).exists():
            return opts.db_table
    return None


def installation_contents(layout: Layout) -> str | None:
    """Why this installation is not empty (what it holds), or None when it is."""
    table = _has_rows()
    if table:
        return f"its database has rows in {table}"
    if layout.catalog == "sqlite":
        lake_data = sqlite.catalog_has_data(Path(layout.catalog_location))
    else:
        lake_data = postgres.catalog_has_data(layout.catalog_location)
    if lake_data:
        return "its lake has data"
    if layout.data_path.exists() and any(layout.data_path.iterdir()):
        return f"its lake's directory {layout.data_path} has files"
    return None


def check_target(*, force: bool) -> None:
    if force:
        return
    contents = installation_contents(Layout.current())
    if contents:
        raise BackupRefused(
            f"this installation is not empty ({contents}): restore into an empty one, or pass --force to replace it"
        )


def _swap_in(new: Path | None, target: Path) -> Path | None:
    """Put the directory `new` (None: an empty one) at `target`; the old one is moved aside and returned."""
    aside = None
    if target.exists():
        if any(target.iterdir()):
            aside = target.with_name(f"{target.name}.before-restore-{os.getpid()}")
            os.replace(target, aside)
        else:
            target.rmdir()
    if new is not None and new.exists():
        os.replace(new, target)
    else:
        target.mkdir(parents=True)
    return aside


def backup_restore(*, path: Path, force: bool, progress: Progress) -> dict:
    """Restore the archive at `path` into this installation. Everything that can refuse it is checked
    before anything is changed: the archive's manifest, format version, engine and migrations; the
    installation empty (unless `force`); every member present once with its checksum; the dumps
    readable by pg_restore, the SQLite files sound. Returns the archive's manifest."""
    layout = Layout.current()
    with archive.Reader(path) as reader:
        m = reader.manifest
        manifest.check_restorable(m, engine=layout.engine, catalog=layout.catalog)
        check_target(force=force)
        staging = layout.staging(".gridcast-restore-")
        try:
            reader.extract(staging, progress)
            _restore_verified(layout, m, staging, progress)
        finally:
            archive.remove(staging)
    return m


def _restore_verified(layout, m, staging, progress):
    database_file = staging / DATABASE[layout.engine]
    catalog_file = staging / CATALOG[layout.catalog]
    new_data_path = f"{layout.data_path}/"
    prefix = "ducklake." if layout.catalog == "postgresql" else ""
    relocate = relocate_sql(prefix, m["lake"]["data_path"], new_data_path)
    # Prepared (and so checked) before any change.
    if layout.engine == "postgresql":
        database_sql = staging / "database.sql"
        postgres.restore_script(database_file, database_sql, layout.database)
    else:
        problem = sqlite.check(database_file, "its database")
        if problem:
            raise BackupRefused(f"corrupt backup: {problem}")
    if layout.catalog == "postgresql":
        catalog_sql = staging / "catalog.sql"
        postgres.restore_script(catalog_file, catalog_sql, layout.catalog_location)
        catalog_parts = ["DROP SCHEMA IF EXISTS ducklake CASCADE", catalog_sql, *relocate]
    else:
        problem = sqlite.check(catalog_file, "its lake catalog")
        if problem:
            raise BackupRefused(f"corrupt backup: {problem}")
        sqlite.run(catalog_file, relocate)

    # From here on the installation changes. Nothing of ours may hold the database or the lake.
    connections.close_all()
    lake_connections.close_all()
    lake_connections.close()
    progress("lake files", 0, m["lake"]["files"])
    aside = _swap_in(staging / "lake" / "data", layout.data_path)
    progress("lake files", m["lake"]["files"], m["lake"]["files"])
    try:
        progress("database", 0, 1)
        if layout.engine == "postgresql":
            parts = [postgres.DROP_PUBLIC, database_sql]
            if layout.catalog_in_database:
                postgres.run_in_one_transaction(layout.database, [*parts, *catalog_parts], staging)
            else:
                postgres.run_in_one_transaction(layout.database, parts, staging)
        if layout.catalog == "postgresql" and not layout.catalog_in_database:
            postgres.run_in_one_transaction(layout.catalog_location, catalog_parts, staging)
        replaced = []
        if layout.catalog == "sqlite":
            replaced.append((catalog_file, Path(layout.catalog_location)))
        if layout.engine == "sqlite":
            replaced.append((database_file, Path(layout.database)))
        sqlite.put_in_place(replaced)
        progress("database", 1, 1)
    except BaseException:
        # The database was left as it was (one transaction; SQLite files all or none): the lake's files too.
        shutil.rmtree(layout.data_path, ignore_errors=True)
        if aside is not None:
            os.replace(aside, layout.data_path)
        else:
            layout.data_path.mkdir(parents=True, exist_ok=True)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
