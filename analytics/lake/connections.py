"""DuckDB connections to Gridcast's DuckLake, and the reads of it through one connection per
thread: catalog in PostgreSQL (production, tests) or in a SQLite file under var/ (the embedded
default), data as Parquet files under ANALYTICS["DATA_PATH"].

Extensions come from the pinned pip packages (duckdb-extension-ducklake, -postgres-scanner,
-sqlite-scanner) and are laid out where DuckDB looks for them: nothing is downloaded.
"""

import contextlib
import fcntl
import importlib
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
from django.conf import settings

EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
}
_lock = threading.Lock()
_laid_out = False


def _platform():
    return duckdb.sql("PRAGMA platform").fetchone()[0]


def extension_directory() -> Path:
    """<dir>/v<duckdb version>/<platform>/<name>.duckdb_extension, copied from the pip packages."""
    global _laid_out
    root = Path(settings.ANALYTICS["EXTENSION_DIR"])
    if _laid_out:
        return root
    with _lock:
        target = root / f"v{duckdb.__version__}" / _platform()
        target.mkdir(parents=True, exist_ok=True)
        for name, package in EXTENSIONS.items():
            found = list(Path(importlib.import_module(package).__file__).parent.rglob(f"{name}.duckdb_extension"))
            if not found:
                raise RuntimeError(f"{package} has no {name}.duckdb_extension")
            destination = target / f"{name}.duckdb_extension"
            if not destination.exists() or destination.stat().st_size != found[0].stat().st_size:
                shutil.copyfile(found[0], destination.with_suffix(".tmp"))
                destination.with_suffix(".tmp").replace(destination)
        _laid_out = True
    return root


def catalog() -> str:
    """The DuckLake catalog: 'postgres:<libpq conninfo>' or 'sqlite:<path>'."""
    configured = settings.ANALYTICS.get("CATALOG")
    if configured:
        return configured
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        parts = {
            "dbname": db["NAME"],
            "host": db.get("HOST") or "127.0.0.1",
            "port": db.get("PORT") or 5432,
            "user": db.get("USER") or "postgres",
        }
        if db.get("PASSWORD"):
            parts["password"] = db["PASSWORD"]
        return "postgres:" + " ".join(f"{k}={v}" for k, v in parts.items())
    return f"sqlite:{Path(settings.VAR_DIR) / 'ducklake.sqlite'}"


def sqlite_catalog_path() -> str | None:
    """The file of a SQLite catalog, None for a PostgreSQL one."""
    kind, _, rest = catalog().partition(":")
    return rest if kind == "sqlite" else None


_held = threading.local()
_wal_set = set()


@contextlib.contextmanager
def write_lock() -> Iterator[None]:
    """Held around every write to a SQLite catalog (the embedded default); nothing for PostgreSQL.

    SQLite takes one writer at a time, and DuckDB's sqlite scanner waits for no lock: a second
    writer failed at once with "database is locked" (the writer's batches, a metric ingestion,
    the rollup and the upkeep all write). Writers take turns on an flock of a file beside the
    catalog, which threads of one process and other processes (a rebuild, `simulate_orders
    --direct`) share. Reentrant within a thread. Readers need no lock: the catalog is in WAL mode."""
    path = sqlite_catalog_path()
    if path is None:
        yield
        return
    depth = getattr(_held, "depth", 0)
    _held.depth = depth + 1
    try:
        if depth:
            yield
            return
        with open(f"{path}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        _held.depth = depth


def _use_wal(path):
    """WAL mode (kept in the file) lets readers go on while the one writer commits; in the default
    rollback mode a read during a commit failed with "database is locked"."""
    if path in _wal_set:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with write_lock():
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute("PRAGMA journal_mode=WAL")
        finally:
            db.close()
    _wal_set.add(path)


def postgres_conninfo() -> str | None:
    """The libpq conninfo of a PostgreSQL catalog, None for a SQLite one."""
    kind, _, rest = catalog().partition(":")
    return rest if kind == "postgres" else None


def data_path() -> Path:
    """Parquet files of this catalog: one folder per database, so tests never share files."""
    db = settings.DATABASES["default"]
    name = Path(str(db["NAME"])).stem if db["ENGINE"].endswith("sqlite3") else db["NAME"]
    path = Path(settings.ANALYTICS["DATA_PATH"]) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def connect(read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A new DuckDB connection with the lake attached as `lake` (and the default schema)."""
    con = duckdb.connect(
        config={
            "extension_directory": str(extension_directory()),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            # Bounded (DuckDB's default is 80% of the machine's memory, per connection).
            "memory_limit": settings.ANALYTICS["DUCKDB_MEMORY_LIMIT"],
            "threads": settings.ANALYTICS["DUCKDB_THREADS"],
            # DuckDB keeps the Parquet files it read in its own memory, up to memory_limit: the
            # worker grew by ~25 MB a minute under steady load (bench/soak.py). The lake's files
            # are local, in the operating system's page cache already.
            "enable_external_file_cache": False,
        }
    )
    con.execute("LOAD ducklake")
    kind = catalog().split(":", 1)[0]
    con.execute("LOAD postgres_scanner" if kind == "postgres" else "LOAD sqlite_scanner")
    if kind == "sqlite":
        _use_wal(sqlite_catalog_path())
    options = [f"DATA_PATH '{data_path()}/'", "METADATA_SCHEMA 'ducklake'" if kind == "postgres" else None]
    if read_only:
        options.append("READ_ONLY")
    options = ", ".join(o for o in options if o)
    # A commit that loses the race for the next snapshot id (another writer, the worker's
    # maintenance) is retried: after 100 ms by default, which held sheet batches up by 100-300 ms
    # every maintenance round. The race is decided in a millisecond; retry soon.
    con.execute("SET ducklake_retry_wait_ms = 5")
    with write_lock():  # the first ATTACH creates the catalog's tables
        con.execute(f"ATTACH 'ducklake:{catalog()}' AS lake ({options})")
    con.execute("USE lake")
    return con


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """A lake transaction on `con`: committed when the block ends, rolled back when it raises."""
    with write_lock():
        con.execute("BEGIN")
        try:
            yield
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


@contextlib.contextmanager
def snapshot(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Reads on `con` that see one snapshot of the lake (a transaction that writes nothing)."""
    con.execute("BEGIN")
    try:
        yield
    finally:
        con.execute("ROLLBACK")


# --- reads: one connection per thread ----------------------------------------------------------
# Each thread keeps one DuckDB connection with the lake attached as `lake`; every query runs in its
# own transaction, so it sees the latest committed lake snapshot.

_local = threading.local()
_opened = set()  # every thread's connection, for close_all()
_opened_lock = threading.Lock()


def renewal_due(opened: float) -> bool:
    """Whether a long-lived connection opened at `opened` (time.monotonic()) is to be replaced:
    DuckDB keeps a few KB for each commit a connection makes or sees until it is closed, so a
    connection held for hours grows the process (ANALYTICS["DUCKDB_RENEW_SECONDS"])."""
    every = settings.ANALYTICS.get("DUCKDB_RENEW_SECONDS", 300)
    return bool(every) and time.monotonic() - opened >= every


def _connection():
    con = getattr(_local, "con", None)
    if con is not None and con not in _opened:  # closed by close_all()
        con = None
    if con is not None and renewal_due(_local.opened):
        _close(con)
        con = None
    if con is None:
        con = _local.con = connect()
        _local.opened = time.monotonic()
        con.execute("SET TimeZone = 'UTC'")
        with _opened_lock:
            _opened.add(con)
    return con


def _close(con):
    with _opened_lock:
        _opened.discard(con)
    con.close()


def close_quietly(*resources: object) -> None:
    """Close each of these that is not None (connections, locks, writers), ignoring the error of
    one that is broken already: after a failure, before it is opened again."""
    for resource in resources:
        if resource is not None:
            try:
                resource.close()
            except Exception:  # noqa: BLE001 - closing a broken one
                pass


def close() -> None:
    """Close this thread's lake connection (it holds a connection to the catalog database)."""
    con = getattr(_local, "con", None)
    _local.con = None
    if con is not None:
        _close(con)


def close_all() -> None:
    """Close the lake connections of every thread (the dashboards' widgets are computed in a pool
    of threads): before the catalog database goes away, as at the end of tests. A thread opens
    a new one at its next query."""
    with _opened_lock:
        cons = list(_opened)
    for con in cons:
        try:
            _close(con)
        except Exception:  # noqa: BLE001 - closing anyway
            pass


def query(sql: str, params: list | None = None) -> tuple[list[str], list[tuple]]:
    """Run one read query on the lake: (column names, list of row tuples)."""
    con = _connection()
    try:
        cursor = con.execute(sql, params or [])
    except Exception:
        _local.con = None  # a broken connection is not reused
        try:
            _close(con)
        except Exception:
            pass
        raise
    columns = [d[0] for d in cursor.description] if cursor.description else []
    return columns, cursor.fetchall()


def ping() -> int:
    """A cheap read of the lake's catalog (readiness): its latest snapshot id, on this thread's
    connection, so the catalog database must answer."""
    return query("SELECT max(snapshot_id) FROM ducklake_snapshots('lake')")[1][0][0] or 0
