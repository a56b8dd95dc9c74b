"""The lake in a backup: the Parquet files a catalog snapshot references, pinned at that snapshot,
and the changes a restored catalog needs to find them under this installation's data path.

One consistent snapshot without stopping the writers: the catalog is copied first, at one
point in time (a PostgreSQL REPEATABLE READ snapshot, or SQLite's online backup under the lake's
write lock), and only the files that copy references are archived. DuckLake never changes a
Parquet file once written, and a file leaves the catalog before it is deleted (the worker's
upkeep expires old snapshots, then deletes their files SNAPSHOT_RETENTION_SECONDS later), so
every file the copy references still exists just after the copy. They are pinned at once by
hard links into the backup's staging directory (same file system; a copy where links are not
possible), so that upkeep deleting them later, while the archive is written, takes nothing away.
Files written after the snapshot are not referenced by the copy and are left out. Holding the
PostgreSQL catalog's writer lock for the whole backup was the alternative: it would stop the
sheet write-through for as long as the archive takes, and metric ingestion and upkeep do not
take that lock anyway.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .manifest import BackupFailed

DATA_PREFIX = "lake/data/"


class LakeFileMissing(BackupFailed):
    """A file the catalog snapshot references was deleted before it was pinned."""


def _latest_paths(rows):
    """{id: (path, relative, parent id)} keeping each id's row of the latest begin_snapshot."""
    latest = {}
    for ident, begin, path, relative, parent in rows:
        if ident not in latest or begin > latest[ident][0]:
            latest[ident] = (begin, path, bool(relative), parent)
    return {ident: row[1:] for ident, row in latest.items()}


def referenced_files(cursor: Any, prefix: str) -> tuple[str, list[str]]:
    """(the catalog's data path, [every data and delete file it references, relative to that path]),
    read through a DB-API cursor on the catalog (`prefix`: "ducklake." for PostgreSQL, "" for SQLite)."""

    def rows(sql):
        cursor.execute(sql)
        return cursor.fetchall()

    metadata = dict(rows(f"SELECT key, value FROM {prefix}ducklake_metadata WHERE scope IS NULL"))
    data_path = metadata.get("data_path") or ""
    schemas = _latest_paths(
        rows(f"SELECT schema_id, begin_snapshot, path, path_is_relative, NULL FROM {prefix}ducklake_schema")
    )
    tables = _latest_paths(
        rows(f"SELECT table_id, begin_snapshot, path, path_is_relative, schema_id FROM {prefix}ducklake_table")
    )

    def table_dir(table_id):
        path, relative, schema_id = tables[table_id]
        if not relative:
            return path
        schema_path, schema_relative, _ = schemas[schema_id]
        return (schema_path if not schema_relative else data_path + schema_path) + path

    files = []
    for table in ("ducklake_data_file", "ducklake_delete_file"):
        for path, relative, table_id in rows(f"SELECT path, path_is_relative, table_id FROM {prefix}{table}"):
            files.append(table_dir(table_id) + path if relative else path)
    inside = []
    for path in sorted(set(files)):
        if not path.startswith(data_path):
            raise BackupFailed(f"the lake's file {path} is outside its data path {data_path}; it cannot be archived")
        inside.append(path[len(data_path) :])
    return data_path, inside


def pin(root: Path, files: list[str], staging: Path, progress: Callable[[int, int], None]) -> None:
    """Each of `files` (relative to `root`) hard-linked (or copied) under `staging`, same relative path."""
    for done, relative in enumerate(files, 1):
        source, target = root / relative, staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except FileNotFoundError:
            raise LakeFileMissing(f"the lake's file {relative}, referenced by its catalog, is missing") from None
        except OSError:  # another file system, or links not allowed: a copy
            shutil.copyfile(source, target)
        progress(done, len(files))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def relocate_sql(prefix: str, old: str, new: str) -> list[str]:
    """Statements that make a restored catalog find its files under `new` (its data path was `old`):
    the data path itself, any absolute path under the old one, and no file scheduled for deletion
    (those were not archived)."""
    statements = [
        f"UPDATE {prefix}ducklake_metadata SET value = {_literal(new)} WHERE key = 'data_path' AND scope IS NULL",
        f"DELETE FROM {prefix}ducklake_files_scheduled_for_deletion",
    ]
    if old and old != new:
        for table in ("ducklake_schema", "ducklake_table", "ducklake_data_file", "ducklake_delete_file"):
            statements.append(
                f"UPDATE {prefix}{table} SET path = {_literal(new)} || substr(path, {len(old) + 1}) "
                f"WHERE NOT path_is_relative AND substr(path, 1, {len(old)}) = {_literal(old)}"
            )
    return statements


def has_data(cursor: Any, prefix: str) -> bool:
    """Whether a catalog holds any data: a data file, or a row inlined in the catalog."""
    cursor.execute(f"SELECT count(*) FROM {prefix}ducklake_data_file")
    if cursor.fetchone()[0]:
        return True
    cursor.execute(f"SELECT table_name FROM {prefix}ducklake_inlined_data_tables")
    for (name,) in cursor.fetchall():
        cursor.execute(f'SELECT count(*) FROM {prefix}"{name}"')
        if cursor.fetchone()[0]:
            return True
    return False
