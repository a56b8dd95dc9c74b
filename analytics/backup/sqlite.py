"""SQLite in a backup (the embedded default's database and lake catalog): a consistent copy of a
live file by SQLite's online backup API, and a restore that puts a verified copy in place of the
file (its old write-ahead log removed first, which would otherwise be replayed onto the new file)."""

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from .lake import has_data

BUSY_TIMEOUT = 30


def copy(source: Path, target: Path) -> None:
    """A consistent copy of the database `source` (it may be written meanwhile) into `target`."""
    src = sqlite3.connect(source, timeout=BUSY_TIMEOUT)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file in the archive
        finally:
            dst.close()
    finally:
        src.close()


@contextlib.contextmanager
def opened(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, timeout=BUSY_TIMEOUT)
    try:
        yield db
    finally:
        db.close()


def applied_migrations(path: Path) -> list[tuple[str, str]]:
    with opened(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'").fetchone():
            return []
        return db.execute("SELECT app, name FROM django_migrations").fetchall()


def run(path: Path, statements: list[str]) -> None:
    with opened(path) as db:
        with db:
            for statement in statements:
                db.execute(statement)


def check(path: Path, what: str) -> str | None:
    """Why the file is not a sound SQLite database, or None."""
    try:
        with opened(path) as db:
            result = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as error:
        return f"{what} is not a SQLite database ({error})"
    return None if result == "ok" else f"{what} fails SQLite's check ({result})"


def put_in_place(files: list[tuple[Path, Path]]) -> None:
    """Replace each (staged, target) database file: all of them, or (on an error) none. A target's
    old file and its -wal, -shm and -journal are moved aside first (a write-ahead log left beside the
    new file would be replayed onto it), and removed once every file is in place."""
    aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for staged, target in files:
            target.parent.mkdir(parents=True, exist_ok=True)
            for suffix in ("", "-wal", "-shm", "-journal"):
                old = Path(f"{target}{suffix}")
                if old.exists():
                    moved = Path(f"{target}{suffix}.before-restore-{os.getpid()}")
                    os.replace(old, moved)
                    aside.append((moved, old))
            try:
                os.replace(staged, target)
            except OSError:  # another file system
                shutil.copyfile(staged, f"{target}.restoring")
                os.replace(f"{target}.restoring", target)
            placed.append(target)
    except BaseException:
        for target in placed:
            target.unlink(missing_ok=True)
        for moved, old in reversed(aside):
            os.replace(moved, old)
        raise
    for moved, _ in aside:
        moved.unlink(missing_ok=True)


def catalog_has_data(path: Path) -> bool:
    if not path.exists():
        return False
    with opened(path) as db:
        if not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'ducklake_data_file'").fetchone():
            return False
        return has_data(db.cursor(), "")
