"""DuckDB connections to Gridcast's DuckLake: catalog in PostgreSQL (production, tests) or in a
SQLite file under var/ (the embedded default), data as Parquet files under ANALYTICS["DATA_PATH"].

Extensions come from the pinned pip packages (duckdb-extension-ducklake, -postgres-scanner,
-sqlite-scanner) and are laid out where DuckDB looks for them: nothing is downloaded.
"""
import contextlib
import importlib
import shutil
import threading
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


def extension_directory():
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


def catalog():
    """The DuckLake catalog: 'postgres:<libpq conninfo>' or 'sqlite:<path>'."""
    configured = settings.ANALYTICS.get("CATALOG")
    if configured:
        return configured
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        parts = {"dbname": db["NAME"], "host": db.get("HOST") or "127.0.0.1", "port": db.get("PORT") or 5432,
                 "user": db.get("USER") or "postgres"}
        if db.get("PASSWORD"):
            parts["password"] = db["PASSWORD"]
        return "postgres:" + " ".join(f"{k}={v}" for k, v in parts.items())
    return f"sqlite:{Path(settings.VAR_DIR) / 'ducklake.sqlite'}"


def postgres_conninfo():
    """The libpq conninfo of a PostgreSQL catalog, None for a SQLite one."""
    kind, _, rest = catalog().partition(":")
    return rest if kind == "postgres" else None


def data_path():
    """Parquet files of this catalog: one folder per database, so tests never share files."""
    db = settings.DATABASES["default"]
    name = Path(str(db["NAME"])).stem if db["ENGINE"].endswith("sqlite3") else db["NAME"]
    path = Path(settings.ANALYTICS["DATA_PATH"]) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def connect(read_only=False):
    """A new DuckDB connection with the lake attached as `lake` (and the default schema)."""
    con = duckdb.connect(config={"extension_directory": str(extension_directory()), "autoinstall_known_extensions": False,
                                 "autoload_known_extensions": False})
    con.execute("LOAD ducklake")
    kind = catalog().split(":", 1)[0]
    con.execute("LOAD postgres_scanner" if kind == "postgres" else "LOAD sqlite_scanner")
    options = [f"DATA_PATH '{data_path()}/'", "METADATA_SCHEMA 'ducklake'" if kind == "postgres" else None]
    if read_only:
        options.append("READ_ONLY")
    options = ", ".join(o for o in options if o)
    # A commit that loses the race for the next snapshot id (another writer, the worker's
    # maintenance) is retried: after 100 ms by default, which held sheet batches up by 100-300 ms
    # every maintenance round. The race is decided in a millisecond; retry soon.
    con.execute("SET ducklake_retry_wait_ms = 5")
    con.execute(f"ATTACH 'ducklake:{catalog()}' AS lake ({options})")
    con.execute("USE lake")
    return con


@contextlib.contextmanager
def transaction(con):
    """A lake transaction on `con`: committed when the block ends, rolled back when it raises."""
    con.execute("BEGIN")
    try:
        yield
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextlib.contextmanager
def snapshot(con):
    """Reads on `con` that see one snapshot of the lake (a transaction that writes nothing)."""
    con.execute("BEGIN")
    try:
        yield
    finally:
        con.execute("ROLLBACK")
