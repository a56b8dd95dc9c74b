"""PostgreSQL in a backup: an exported REPEATABLE READ snapshot that pg_dump (custom format) and
the lake's file list share, and a restore that runs pg_restore's script with psql in ONE
transaction (the old tables are dropped in it too): a restore that fails changes nothing.

The client binaries are the server's major version from /usr/lib/postgresql/<major>/bin when
present (a newer pg_dump writes settings an older server rejects), else those on PATH."""

import contextlib
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .lake import has_data
from .manifest import BackupFailed

LOCK_TIMEOUT = "10s"
# The public schema (Django's tables, sequences, functions and triggers) emptied before the restore:
# dropped and created again with its owner and grants.
DROP_PUBLIC = """DO $$ DECLARE owner text; acl aclitem[]; r record; BEGIN
  SELECT nspowner::regrole::text, nspacl INTO owner, acl FROM pg_namespace WHERE nspname = 'public';
  DROP SCHEMA IF EXISTS public CASCADE;
  CREATE SCHEMA public;
  IF owner IS NOT NULL THEN
    EXECUTE format('ALTER SCHEMA public OWNER TO %s', owner);
    FOR r IN SELECT grantee, privilege_type FROM aclexplode(acl) LOOP
      EXECUTE format('GRANT %s ON SCHEMA public TO %s', r.privilege_type,
                     CASE WHEN r.grantee = 0 THEN 'PUBLIC' ELSE r.grantee::regrole::text END);
    END LOOP;
  END IF;
END $$;"""


def django_conninfo(db: dict) -> str:
    """The libpq conninfo of a Django PostgreSQL database setting."""
    parts = {
        "dbname": db["NAME"],
        "host": db.get("HOST") or None,
        "port": db.get("PORT") or None,
        "user": db.get("USER") or None,
        "password": db.get("PASSWORD") or None,
    }
    options = db.get("OPTIONS") or {}
    for key in ("sslmode", "sslrootcert", "sslcert", "sslkey", "application_name"):
        if isinstance(options.get(key), str):
            parts[key] = options[key]
    return make_conninfo(**{k: str(v) for k, v in parts.items() if v is not None})


def same_database(a: str, b: str) -> bool:
    def key(conninfo):
        parts = conninfo_to_dict(conninfo)
        return (parts.get("dbname"), parts.get("host") or "", str(parts.get("port") or "5432"))

    return key(a) == key(b)


def _server_major(conninfo: str) -> int | None:
    try:
        with psycopg.connect(conninfo, autocommit=True) as pg:
            return pg.info.server_version // 10000
    except psycopg.Error:
        return None


def tool(name: str, conninfo: str) -> str:
    major = _server_major(conninfo)
    candidates = []
    if major:
        candidates.append(Path(f"/usr/lib/postgresql/{major}/bin/{name}"))
    found = shutil.which(name)
    if found:
        candidates.append(Path(found))
    versions = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise BackupFailed(f"{name} was not found (install the PostgreSQL client, e.g. Debian's postgresql-client)")


def _env(conninfo: str) -> tuple[dict, str]:
    # The password (if any) goes by the environment, not the command line others can list.
    env = dict(os.environ)
    parts = conninfo_to_dict(conninfo)
    if parts.get("password"):
        env["PGPASSWORD"] = parts.pop("password")
    return env, make_conninfo(**parts)


def _run(command: list[str], env: dict, what: str) -> None:
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if done.returncode:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        detail = next((line for line in lines if "ERROR" in line or "error" in line), lines[-1] if lines else "")
        raise BackupFailed(f"{what} failed: {detail.strip()}")


class Snapshot:
    """A read-only REPEATABLE READ transaction whose snapshot is exported for pg_dump."""

    def __init__(self, conninfo: str):
        self.conninfo = conninfo
        self.pg = psycopg.connect(conninfo)
        self.pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        self.pg.read_only = True
        self.cursor = self.pg.cursor()
        self.cursor.execute("SELECT pg_export_snapshot()")
        self.id = self.cursor.fetchone()[0]

    def applied_migrations(self) -> list[tuple[str, str]]:
        self.cursor.execute("SELECT to_regclass('public.django_migrations') IS NOT NULL")
        if not self.cursor.fetchone()[0]:
            return []
        self.cursor.execute("SELECT app, name FROM public.django_migrations")
        return self.cursor.fetchall()

    def dump(self, out: Path, *, schema: str | None = None, exclude_schema: str | None = None) -> None:
        env, conninfo = _env(self.conninfo)
        command = [tool("pg_dump", self.conninfo), "--format=custom", f"--snapshot={self.id}", f"--file={out}"]
        if schema:
            command.append(f"--schema={schema}")
        if exclude_schema:
            command.append(f"--exclude-schema={exclude_schema}")
        _run([*command, f"--dbname={conninfo}"], env, "pg_dump")

    def close(self) -> None:
        try:
            self.pg.rollback()
        finally:
            self.pg.close()


@contextlib.contextmanager
def snapshot(conninfo: str) -> Iterator[Snapshot]:
    taken = Snapshot(conninfo)
    try:
        yield taken
    finally:
        taken.close()


def restore_script(dump: Path, out: Path, conninfo: str) -> None:
    """pg_restore's SQL of a custom-format dump (owners and grants left to the target), written to
    `out`: reading the whole dump also proves it is one pg_restore understands, before any change."""
    env, _ = _env(conninfo)
    _run(
        [tool("pg_restore", conninfo), "--no-owner", "--no-privileges", f"--file={out}", str(dump)],
        env,
        "pg_restore",
    )


def run_in_one_transaction(conninfo: str, parts: list[str | Path], scratch: Path) -> None:
    """psql runs the statements (text) and scripts (paths) in order as one transaction; any error
    rolls all of it back. A lock another session holds (a running server) fails it after LOCK_TIMEOUT."""
    script = scratch / "restore.sql"
    with open(script, "w") as out:
        out.write(f"SET lock_timeout = '{LOCK_TIMEOUT}';\n")
        for part in parts:
            if isinstance(part, Path):
                with open(part) as source:
                    shutil.copyfileobj(source, out)
                out.write("\n")
            else:
                out.write(part.rstrip().rstrip(";") + ";\n")
    env, plain = _env(conninfo)
    try:
        _run(
            [
                tool("psql", conninfo),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "--single-transaction",
                f"--dbname={plain}",
                f"--file={script}",
            ],
            env,
            "the restore (nothing was changed)",
        )
    except BackupFailed as error:
        if re.search(r"lock timeout", str(error)):
            raise BackupFailed(
                "the database is in use (a running Gridcast server or worker holds its tables): stop them, "
                "then restore again; nothing was changed"
            ) from None
        raise
    finally:
        script.unlink(missing_ok=True)


def catalog_has_data(conninfo: str) -> bool:
    with psycopg.connect(conninfo, autocommit=True) as pg:
        cursor = pg.cursor()
        cursor.execute("SELECT to_regclass('ducklake.ducklake_data_file') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return False
        return has_data(cursor, "ducklake.")
